/**
 * The browser adapters (src/io/web) run in Node too, with onnxruntime-web's own wasm: the same model
 * gives the PyTorch logits of its parity file, the whole pipeline loaded from URLs answers as the Node
 * pipeline does on the astronaut photo, and every file that fails to load is named with what arrived.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';
import { isMoodLensError } from '../src/core/errors.js';
import { EMOTION_LABELS } from '../src/emotion/labels.js';
import { DEFAULT_CASCADE_PATH, loadFaceDetector } from '../src/io/node/cascade-file.js';
import { DEFAULT_EMOTION_MODEL_PATH, loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import {
  DEFAULT_ALIGNMENT_TEMPLATE_PATH,
  DEFAULT_LANDMARK_MODEL_PATH,
  loadFaceAligner,
  loadLandmarkDetector,
} from '../src/io/node/landmark-model.js';
import {
  CameraError,
  classifyCameraError,
  configureOrtWasm,
  diagnoseOrtWasmFiles,
  fetchAsset,
  loadWebFaceEnhancer,
  loadWebPipeline,
  OnnxWebBackend,
  type FetchLike,
} from '../src/io/web/index.js';
import { EmotionPipeline } from '../src/pipeline/pipeline.js';
import { degrade } from '../src/enhance/degrade.js';
import {
  DEFAULT_ENHANCE_MODEL_PATH,
  hasDefaultEnhanceModel,
  loadFaceEnhancer,
} from '../src/io/node/enhance-model.js';
import { ensureFer2013, listFerFaces, loadAstronaut, readGrayFile } from './support/fer-scenes.js';
import { REPO_ROOT } from './support/opencv.js';

const ORT_DIR = dirname(
  createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'),
);
const WASM_PATHS = `${pathToFileURL(ORT_DIR).href}/`;
const ORIGIN = 'https://moodlens.test';
const HTML_404 = '<!doctype html><html><body><h1>404 Not Found</h1></body></html>';

/** A `fetch` that serves files from disk by URL, and an HTML 404 page for anything else. */
function diskFetch(files: Record<string, string>): FetchLike {
  return async (url) => {
    const path = Object.hasOwn(files, url) ? files[url] : undefined;
    if (path === undefined) {
      return new Response(HTML_404, {
        status: 404,
        statusText: 'Not Found',
        headers: { 'content-type': 'text/html' },
      });
    }
    return new Response(await readFile(path));
  };
}

const SHIPPED = {
  [`${ORIGIN}/models/emotion.onnx`]: DEFAULT_EMOTION_MODEL_PATH,
  [`${ORIGIN}/models/cascade.xml`]: DEFAULT_CASCADE_PATH,
  [`${ORIGIN}/models/landmarks.onnx`]: DEFAULT_LANDMARK_MODEL_PATH,
  [`${ORIGIN}/models/template48.json`]: DEFAULT_ALIGNMENT_TEMPLATE_PATH,
  [`${ORIGIN}/ort/ort-wasm-simd-threaded.wasm`]: join(ORT_DIR, 'ort-wasm-simd-threaded.wasm'),
  [`${ORIGIN}/ort/ort-wasm-simd-threaded.mjs`]: join(ORT_DIR, 'ort-wasm-simd-threaded.mjs'),
};

async function assertModelLoad(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isMoodLensError(error), String(error));
    assert.equal(error.code, 'MOODLENS_ERR_MODEL_LOAD');
    assert.match(error.message, pattern);
    return true;
  });
}

void test('OnnxWebBackend (onnxruntime-web) reproduces the shipped model’s PyTorch logits', async () => {
  configureOrtWasm(ort, { wasmPaths: WASM_PATHS });
  const parity = JSON.parse(
    await readFile(join(REPO_ROOT, 'models/emotion/emotion.parity.json'), 'utf8'),
  ) as {
    tolerance: number;
    faces: { input: number[]; logits: number[] }[];
  };
  const backend = await OnnxWebBackend.fromBytes(
    ort,
    new Uint8Array(await readFile(DEFAULT_EMOTION_MODEL_PATH)),
    'emotion.onnx',
  );
  try {
    assert.deepEqual(backend.sampleShape, [1, 48, 48]);
    assert.equal(
      (JSON.parse(backend.model.metadata['moodlens.labels']) as string[]).length,
      EMOTION_LABELS.length,
    );
    const input = Float32Array.from(parity.faces.flatMap((f) => f.input));
    const logits = await backend.run(input, parity.faces.length);
    const expected = parity.faces.flatMap((f) => f.logits);
    assert.equal(logits.length, expected.length);
    const worst = Math.max(...expected.map((v, i) => Math.abs(v - logits[i])));
    assert.ok(worst <= parity.tolerance, `largest difference ${worst} > ${parity.tolerance}`);
  } finally {
    await backend.dispose();
  }
  await assert.rejects(backend.run(new Float32Array(48 * 48), 1), /disposed/);
});

void test('loadWebPipeline answers as the Node pipeline does on the astronaut photo', async () => {
  const detect = { minNeighbors: 5, minSize: 64 };
  const web = await loadWebPipeline({
    ort,
    modelUrl: `${ORIGIN}/models/emotion.onnx`,
    cascadeUrl: `${ORIGIN}/models/cascade.xml`,
    wasm: { wasmPaths: WASM_PATHS },
    pipeline: { detect },
    fetch: diskFetch(SHIPPED),
  });
  const node = new EmotionPipeline(await loadFaceDetector(), await loadEmotionClassifier(), { detect });
  try {
    const { rgb } = await loadAstronaut();
    const [fromWeb, fromNode] = [await web.analyze(rgb), await node.analyze(rgb)];
    assert.equal(fromWeb.length, 1);
    assert.deepEqual(
      fromWeb.map((f) => f.box),
      fromNode.map((f) => f.box),
    );
    assert.equal(fromWeb[0].emotion.label, fromNode[0].emotion.label);
    for (const label of EMOTION_LABELS) {
      assert.ok(Math.abs(fromWeb[0].emotion.scores[label] - fromNode[0].emotion.scores[label]) < 1e-4, label);
    }
  } finally {
    await web.classifier.dispose();
    await node.classifier.dispose();
  }
});

const LANDMARK_URLS = {
  modelUrl: `${ORIGIN}/models/landmarks.onnx`,
  templateUrl: `${ORIGIN}/models/template48.json`,
};

void test('with the landmark stage, loadWebPipeline answers as the Node pipeline with landmarks', async () => {
  const detect = { minNeighbors: 5, minSize: 64 };
  const web = await loadWebPipeline({
    ort,
    modelUrl: `${ORIGIN}/models/emotion.onnx`,
    cascadeUrl: `${ORIGIN}/models/cascade.xml`,
    landmarks: LANDMARK_URLS,
    wasm: { wasmPaths: WASM_PATHS },
    pipeline: { detect },
    fetch: diskFetch(SHIPPED),
  });
  const node = new EmotionPipeline(await loadFaceDetector(), await loadEmotionClassifier(), {
    detect,
    landmarks: await loadLandmarkDetector(),
    aligner: await loadFaceAligner(),
  });
  try {
    assert.ok(web.options.landmarks !== undefined && web.options.aligner !== undefined);
    const { rgb } = await loadAstronaut();
    const [fromWeb, fromNode] = [await web.analyze(rgb), await node.analyze(rgb)];
    assert.equal(fromWeb.length, 1);
    assert.deepEqual(
      fromWeb.map((f) => f.box),
      fromNode.map((f) => f.box),
    );
    const [w, n] = [fromWeb[0], fromNode[0]];
    const [wp, np] = [w.landmarks?.points ?? [], n.landmarks?.points ?? []];
    assert.equal(wp.length, 68);
    assert.equal(np.length, 68);
    const worst = Math.max(
      ...wp.flatMap(([x, y], i) => {
        const [nx, ny] = np[i];
        return [Math.abs(x - nx), Math.abs(y - ny)];
      }),
    );
    assert.ok(worst < 1e-4, `largest landmark difference ${worst}`);
    assert.equal(w.alignment?.method, n.alignment?.method);
    assert.ok(
      w.alignment !== undefined && w.alignment.method !== 'box',
      'the astronaut is aligned, not box-cropped',
    );
    assert.equal(w.emotion.label, n.emotion.label);
    for (const label of EMOTION_LABELS) {
      assert.ok(Math.abs(w.emotion.scores[label] - n.emotion.scores[label]) < 1e-4, label);
    }
  } finally {
    await web.classifier.dispose();
    await web.options.landmarks?.dispose();
    await node.classifier.dispose();
    await node.options.landmarks?.dispose();
  }
});

void test('a landmark model that does not arrive is named: fatal, or box crops with the reason', async () => {
  const options = {
    ort,
    modelUrl: `${ORIGIN}/models/emotion.onnx`,
    cascadeUrl: `${ORIGIN}/models/cascade.xml`,
    landmarks: LANDMARK_URLS,
    wasm: { wasmPaths: WASM_PATHS },
  };
  const missingModel = diskFetch({ ...SHIPPED, [LANDMARK_URLS.modelUrl]: undefined as unknown as string });
  await assertModelLoad(
    loadWebPipeline({ ...options, fetch: missingModel }),
    /^Cannot load the landmark model https:\/\/moodlens\.test\/models\/landmarks\.onnx: the server answered HTTP 404 Not Found with an HTML page \(\d+ bytes\) instead of the file$/,
  );
  // The emotion model where the landmark model should be: named as what it is.
  await assertModelLoad(
    loadWebPipeline({
      ...options,
      fetch: diskFetch({ ...SHIPPED, [LANDMARK_URLS.modelUrl]: DEFAULT_EMOTION_MODEL_PATH }),
    }),
    /landmarks\.onnx[^]*it is an emotion model/,
  );
  await assertModelLoad(
    loadWebPipeline({
      ...options,
      fetch: async (url) =>
        url === LANDMARK_URLS.templateUrl ? new Response(HTML_404) : diskFetch(SHIPPED)(url),
    }),
    /^Cannot load the alignment template https:\/\/moodlens\.test\/models\/template48\.json: the server sent an HTML page/,
  );
  // Degraded: the page is told why, and faces are classified from box crops, as without landmarks.
  const problems: unknown[] = [];
  const degraded = await loadWebPipeline({
    ...options,
    fetch: missingModel,
    onLandmarksUnavailable: (error) => problems.push(error),
  });
  try {
    assert.equal(problems.length, 1);
    assert.ok(isMoodLensError(problems[0]));
    assert.match(problems[0].message, /landmark model .*landmarks\.onnx.*HTTP 404/);
    assert.equal(degraded.options.landmarks, undefined);
    assert.equal(degraded.options.aligner, undefined);
    const faces = await degraded.analyze((await loadAstronaut()).rgb);
    assert.equal(faces.length, 1);
    assert.equal(faces[0].landmarks, undefined);
  } finally {
    await degraded.classifier.dispose();
  }
});

void test('a model, cascade or wasm file that does not arrive is named, with what came instead', async () => {
  const options = {
    ort,
    modelUrl: `${ORIGIN}/models/emotion.onnx`,
    cascadeUrl: `${ORIGIN}/models/cascade.xml`,
    wasm: { wasmPaths: WASM_PATHS },
  };
  const without = (url: string): FetchLike =>
    diskFetch({ ...SHIPPED, [url]: undefined as unknown as string });
  // The model: a 404 HTML page.
  await assertModelLoad(
    loadWebPipeline({ ...options, fetch: diskFetch({ [options.cascadeUrl]: DEFAULT_CASCADE_PATH }) }),
    /^Cannot load the emotion model https:\/\/moodlens\.test\/models\/emotion\.onnx: the server answered HTTP 404 Not Found with an HTML page \(\d+ bytes\) instead of the file$/,
  );
  // The model: an app shell's HTML answered with 200.
  await assertModelLoad(
    loadWebPipeline({
      ...options,
      fetch: async (url) => (url === options.modelUrl ? new Response(HTML_404) : diskFetch(SHIPPED)(url)),
    }),
    /^Not an ONNX model: https:\/\/moodlens\.test\/models\/emotion\.onnx is an HTML page/,
  );
  // The cascade: an HTML page with 200.
  await assertModelLoad(
    loadWebPipeline({
      ...options,
      fetch: async (url) => (url === options.cascadeUrl ? new Response(HTML_404) : diskFetch(SHIPPED)(url)),
    }),
    /^Cannot load the face cascade https:\/\/moodlens\.test\/models\/cascade\.xml: the server sent an HTML page/,
  );
  // No answer at all.
  await assertModelLoad(
    fetchAsset(`${ORIGIN}/x.onnx`, 'emotion model', () => Promise.reject(new TypeError('Failed to fetch'))),
    /^Cannot download the emotion model https:\/\/moodlens\.test\/x\.onnx: Failed to fetch/,
  );
  // ONNX Runtime's files: each checked for status and kind.
  assert.equal(await diagnoseOrtWasmFiles(`${ORIGIN}/ort/`, diskFetch(SHIPPED)), undefined);
  assert.match(
    (await diagnoseOrtWasmFiles(`${ORIGIN}/ort/`, without(`${ORIGIN}/ort/ort-wasm-simd-threaded.wasm`))) ??
      '',
    /^its WebAssembly module https:\/\/moodlens\.test\/ort\/ort-wasm-simd-threaded\.wasm answered HTTP 404 with an HTML page \(\d+ bytes\)$/,
  );
  assert.match(
    (await diagnoseOrtWasmFiles(`${ORIGIN}/ort/`, async (url) =>
      url.endsWith('.mjs') ? new Response(HTML_404) : diskFetch(SHIPPED)(url),
    )) ?? '',
    /its JavaScript module .*ort-wasm-simd-threaded\.mjs is an HTML page/,
  );
});

void test('configureOrtWasm checks its settings and points ONNX Runtime at them', () => {
  const fake = { env: { wasm: {} as Record<string, unknown> } } as unknown as typeof ort;
  configureOrtWasm(fake, { wasmPaths: 'http://127.0.0.1:8080/ort/', numThreads: 2 });
  assert.deepEqual(fake.env.wasm, { wasmPaths: 'http://127.0.0.1:8080/ort/', numThreads: 2, proxy: false });
  assert.throws(() => configureOrtWasm(fake, { wasmPaths: 'http://127.0.0.1:8080/ort' }), {
    name: 'TypeError',
    message: "Expected a folder URL ending in '/' for wasmPaths but received http://127.0.0.1:8080/ort",
  });
  assert.throws(() => configureOrtWasm(fake, { wasmPaths: '/ort/', numThreads: 0 }), {
    name: 'RangeError',
    message: 'Expected a positive integer for numThreads but received 0',
  });
});

void test('camera failures become the states the page explains', () => {
  const cases: [string, string, RegExp][] = [
    ['NotAllowedError', 'camera-denied', /^Camera access was denied\. Allow the camera/],
    ['SecurityError', 'camera-denied', /denied/],
    ['NotFoundError', 'no-camera', /^No camera was found\. .*\(NotFoundError: x\)/],
    ['OverconstrainedError', 'no-camera', /No camera/],
    ['NotReadableError', 'camera-busy', /another application may be using it/],
    ['AbortError', 'camera-busy', /could not be started/],
    ['TypeError', 'camera-error', /^The camera could not be opened \(TypeError: x\)\.$/],
  ];
  for (const [name, problem, message] of cases) {
    const error = classifyCameraError(new DOMException('x', name));
    assert.ok(error instanceof CameraError);
    assert.equal(error.problem, problem, name);
    assert.match(error.message, message, name);
    assert.equal((error.cause as DOMException).name, name);
  }
  assert.equal(classifyCameraError('weird').problem, 'camera-error');
});

void test('loadWebFaceEnhancer restores faces as the Node enhancer does; other files are named', async (t) => {
  if (!hasDefaultEnhanceModel()) {
    t.skip(`needs the super-resolution model at ${DEFAULT_ENHANCE_MODEL_PATH}`);
    return;
  }
  configureOrtWasm(ort, { wasmPaths: WASM_PATHS });
  const url = `${ORIGIN}/models/fsrnet.onnx`;
  const fetch = diskFetch({ ...SHIPPED, [url]: DEFAULT_ENHANCE_MODEL_PATH });
  const root = await ensureFer2013();
  const files = (await listFerFaces()).filter((_, i) => i % 300 === 0);
  const faces = await Promise.all(files.map(async (f) => degrade(await readGrayFile(join(root, f)), 4)));
  const web = await loadWebFaceEnhancer(ort, url, fetch);
  // The same file alone (the Node loader would send these 12x12 faces to the shipped x4 specialist).
  const node = await loadFaceEnhancer(DEFAULT_ENHANCE_MODEL_PATH, { specialists: [] });
  try {
    const [a, b] = [await web.enhance(faces), await node.enhance(faces)];
    let worst = 0;
    a.forEach((face, i) =>
      face.data.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - b[i].data[k])))),
    );
    // Outputs agree to ~1e-6: a pixel can round the other way, by one level.
    assert.ok(worst <= 1, `largest pixel difference ${worst}`);
  } finally {
    await web.dispose();
    await node.dispose();
  }
  await assertModelLoad(
    loadWebFaceEnhancer(ort, `${ORIGIN}/models/emotion.onnx`, fetch),
    /emotion\.onnx: expected a face super-resolution model .*it is an emotion model/,
  );
  await assertModelLoad(loadWebFaceEnhancer(ort, `${ORIGIN}/models/missing.onnx`, fetch), /HTTP 404/);
});
