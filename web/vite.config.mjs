// @ts-check
/**
 * Vite build of the MoodLens web app (`npm run build:web`): web/ -> dist/web/, served by `moodlens serve`
 * (or any static server that sends the COOP/COEP headers). The app runs the library's own TypeScript
 * core (imported from src/, never a Node-only module) and ships every file it loads beside it: the ONNX
 * Runtime wasm files of the installed onnxruntime-web, the emotion model with its card, the cascade and the
 * learned face detector, the landmark model with its alignment template, and the three FSRNet files (super-resolution of small faces).
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

const WEB_ROOT = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(WEB_ROOT, '..');
const ORT_DIST = dirname(
  createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'),
);

/**
 * Files copied into the build as they are, by their path in the build. The page and worker find them
 * relative to the page (see web/src/assets.ts); ONNX Runtime loads the .mjs and .wasm from `ort/`.
 */
export const LOCAL_ASSETS = {
  'ort/ort-wasm-simd-threaded.mjs': join(ORT_DIST, 'ort-wasm-simd-threaded.mjs'),
  'ort/ort-wasm-simd-threaded.wasm': join(ORT_DIST, 'ort-wasm-simd-threaded.wasm'),
  'models/emotion.onnx': join(REPO_ROOT, 'models/emotion/emotion.onnx'),
  'models/emotion.json': join(REPO_ROOT, 'models/emotion/emotion.json'),
  'models/landmarks.onnx': join(REPO_ROOT, 'models/landmarks/landmarks.onnx'),
  'models/template48.json': join(REPO_ROOT, 'models/landmarks/template48.json'),
  // FSRNet as the CLI loads it: the model trained on x2-x4 and its x2 and x4 specialists.
  'models/fsrnet.onnx': join(REPO_ROOT, 'models/enhance/fsrnet.onnx'),
  'models/fsrnet-x2.onnx': join(REPO_ROOT, 'models/enhance/fsrnet-x2.onnx'),
  'models/fsrnet-x4.onnx': join(REPO_ROOT, 'models/enhance/fsrnet-x4.onnx'),
  'models/haarcascade_frontalface_default.xml': join(
    REPO_ROOT,
    'models/haar/haarcascade_frontalface_default.xml',
  ),
  // The learned face detector (`?detector=cnn`), the file the CLI's `--detector cnn` loads.
  'models/face-detector.onnx': join(REPO_ROOT, 'models/detector/face-detector.onnx'),
};

const CROSS_ORIGIN_ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * Emits LOCAL_ASSETS into the build, and serves them from the dev server.
 * @returns {import('vite').Plugin}
 */
function localAssets() {
  return {
    name: 'moodlens-local-assets',
    generateBundle() {
      for (const [fileName, from] of Object.entries(LOCAL_ASSETS)) {
        this.emitFile({ type: 'asset', fileName, source: readFileSync(from) });
      }
    },
    configureServer(server) {
      server.middlewares.use((request, response, next) => {
        const path = (request.url ?? '').split('?')[0].replace(/^\//, '');
        const from = Object.hasOwn(LOCAL_ASSETS, path) ? LOCAL_ASSETS[path] : undefined;
        if (from === undefined) {
          next();
          return;
        }
        const type = path.endsWith('.wasm')
          ? 'application/wasm'
          : path.endsWith('.mjs')
            ? 'text/javascript'
            : 'application/octet-stream';
        response.setHeader('Content-Type', type);
        for (const [name, value] of Object.entries(CROSS_ORIGIN_ISOLATION)) response.setHeader(name, value);
        createReadStream(from).pipe(response);
      });
    },
  };
}

export default defineConfig({
  root: WEB_ROOT,
  base: './',
  publicDir: false,
  plugins: [localAssets()],
  resolve: {
    // onnxruntime-web without its wasm glue inlined: the glue (.mjs) and .wasm load from ort/, which
    // also lets ONNX Runtime start its threads from a real file.
    conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions],
  },
  worker: { format: 'es' },
  build: {
    outDir: resolve(REPO_ROOT, 'dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    // The ONNX Runtime glue is large and loaded lazily in the worker; no need to warn about it.
    chunkSizeWarningLimit: 1024,
    reportCompressedSize: false,
  },
  server: { headers: CROSS_ORIGIN_ISOLATION },
  preview: { headers: CROSS_ORIGIN_ISOLATION },
});
