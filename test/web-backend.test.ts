/**
 * The browser adapters (src/io/web) run in Node too, with onnxruntime-web's own wasm: the same model
 * gives the PyTorch logits of its parity file, the whole pipeline loaded from URLs answers as the Node
 * pipeline does on the astronaut photo and on small real faces restored by FSRNet, and every file that
 * fails to load is named with what arrived (and leaves no ONNX Runtime session open).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';
import { isMoodLensError } from '../src/core/errors.js';
import { createImage, type Box, type Image } from '../src/core/image.js';
import { CnnBoxDetector } from '../src/detect/cnn/box-detector.js';
import { EMOTION_LABELS } from '../src/emotion/labels.js';
import { DEFAULT_CASCADE_PATH, loadFaceDetector } from '../src/io/node/cascade-file.js';
import { loadCnnFaceDetector } from '../src/io/node/cnn-detector-model.js';
import {
  ACCURATE_EMOTION_MODEL_PATH,
  DEFAULT_EMOTION_MODEL_PATH,
  loadEmotionClassifier,
} from '../src/io/node/emotion-model.js';
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
  type OrtWebModule,
  type WebPipelineOptions,
} from '../src/io/web/index.js';
import { EmotionPipeline, type AnalyzedFace } from '../src/pipeline/pipeline.js';
import { degrade } from '../src/enhance/degrade.js';
import { DEFAULT_ENHANCE_BELOW, DEFAULT_UPSCALE_BELOW } from '../src/enhance/policy.js';
import {
  DEFAULT_ENHANCE_MODEL_PATH,
  DEFAULT_ENHANCE_SPECIALIST_PATHS,
  hasDefaultEnhanceModel,
  loadFaceEnhancer,
} from '../src/io/node/enhance-model.js';
import { readImage } from '../src/io/node/read-image.js';
import {
  ensureFer2013,
  FER2013_CACHE,
  listFerFaces,
  loadAstronaut,
  loadBackground,
  pasteFace,
  readGrayFile,
} from './support/fer-scenes.js';
import { REPO_ROOT } from './support/opencv.js';
import { SMALL_ASTRONAUT_BOX, writeSmallAstronaut } from './support/small-astronaut.js';

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

void test('OnnxWebBackend (onnxruntime-web) reproduces both shipped models’ PyTorch logits', async () => {
  configureOrtWasm(ort, { wasmPaths: WASM_PATHS });
  // the accurate one also exercises the ops the default lacks: MatMul (zoomed views), Cast (float16 weights)
  for (const [name, modelPath] of [
    ['emotion', DEFAULT_EMOTION_MODEL_PATH],
    ['emotion-ensemble', ACCURATE_EMOTION_MODEL_PATH],
  ] as const) {
    const parity = JSON.parse(
      await readFile(join(REPO_ROOT, `models/emotion/${name}.parity.json`), 'utf8'),
    ) as {
      tolerance: number;
      faces: { input: number[]; logits: number[] }[];
    };
    const backend = await OnnxWebBackend.fromBytes(
      ort,
      new Uint8Array(await readFile(modelPath)),
      `${name}.onnx`,
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
      assert.ok(worst <= parity.tolerance, `${name}: largest difference ${worst} > ${parity.tolerance}`);
    } finally {
      await backend.dispose();
    }
    await assert.rejects(backend.run(new Float32Array(48 * 48), 1), /disposed/);
  }
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

void test('with detector cnn, loadWebPipeline finds the faces Node finds, scores and all; its failures are named', async () => {
  const detectorUrl = `${ORIGIN}/models/face-detector.onnx`;
  const detectorPath = join(REPO_ROOT, 'models/detector/face-detector.onnx');
  const files = { ...SHIPPED, [detectorUrl]: detectorPath };
  const options: WebPipelineOptions = {
    ort,
    modelUrl: `${ORIGIN}/models/emotion.onnx`,
    detector: 'cnn',
    detectorModelUrl: detectorUrl,
    wasm: { wasmPaths: WASM_PATHS },
    fetch: diskFetch(files),
  };
  const web = await loadWebPipeline(options);
  const node = new CnnBoxDetector(await loadCnnFaceDetector(detectorPath));
  try {
    assert.ok(web.detector instanceof CnnBoxDetector);
    const cnn = web.detector;
    const { rgb, gray } = await loadAstronaut();
    for (const image of [rgb, gray]) {
      const [fromWeb, fromNode] = [await cnn.detect(image), await node.detect(image)];
      assert.equal(fromWeb.length, 1);
      assert.equal(fromNode.length, 1);
      for (const key of ['x', 'y', 'width', 'height'] as const) {
        assert.ok(
          Math.abs(fromWeb[0][key] - fromNode[0][key]) <= 1,
          `${key}: ${fromWeb[0][key]}, ${fromNode[0][key]}`,
        );
      }
      assert.ok(Math.abs(fromWeb[0].score - fromNode[0].score) < 1e-3);
    }
    const faces = await web.analyze(rgb);
    assert.equal(faces.length, 1);
    assert.equal(faces[0].emotion.label, 'happy');
  } finally {
    await web.classifier.dispose();
    await (web.detector as CnnBoxDetector).close();
    await node.close();
  }
  // minScore applies: above the astronaut's score (about 0.85), no face.
  const strict = await loadWebPipeline({ ...options, minScore: 0.99 });
  try {
    assert.deepEqual(await strict.detector.detect((await loadAstronaut()).rgb), []);
  } finally {
    await strict.classifier.dispose();
    await (strict.detector as CnnBoxDetector).close();
  }
  // The detector model missing, an HTML page, or another MoodLens model: named, with what came instead.
  await assertModelLoad(
    loadWebPipeline({ ...options, fetch: diskFetch(SHIPPED) }),
    /^Cannot load the face detector model https:\/\/moodlens\.test\/models\/face-detector\.onnx: the server answered HTTP 404 Not Found with an HTML page/,
  );
  await assertModelLoad(
    loadWebPipeline({
      ...options,
      fetch: async (url) => (url === detectorUrl ? new Response(HTML_404) : diskFetch(files)(url)),
    }),
    /^Not an ONNX model: https:\/\/moodlens\.test\/models\/face-detector\.onnx is an HTML page/,
  );
  await assertModelLoad(
    loadWebPipeline({
      ...options,
      fetch: diskFetch({ ...files, [detectorUrl]: DEFAULT_EMOTION_MODEL_PATH }),
    }),
    /face-detector\.onnx is not a MoodLens face detector \(moodlens\.format moodlens-detector\/1\): it is /,
  );
  // Options that cannot work are refused before anything is downloaded.
  const refuse = (extra: Partial<WebPipelineOptions>, error: RegExp): Promise<void> =>
    assert.rejects(loadWebPipeline({ ...options, ...extra, fetch: () => assert.fail('fetched') }), error);
  await refuse({ detectorModelUrl: undefined }, /Expected a URL for detectorModelUrl \(detector: cnn\)/);
  await refuse(
    { detector: 'haar', minScore: 0.5, cascadeUrl: `${ORIGIN}/models/cascade.xml` },
    /minScore applies to the cnn detector only/,
  );
  await refuse(
    { minScore: 1.5 },
    /^RangeError: Expected a number from 0 to 1 for minScore but received 1\.5$/,
  );
  await refuse({ detector: 'yolo' as never }, /Expected 'haar' or 'cnn' for detector but received yolo/);
  await refuse({ detector: 'haar' }, /Expected a URL for cascadeUrl \(detector: haar\)/);
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

const ENHANCER_URLS = {
  modelUrl: `${ORIGIN}/models/fsrnet.onnx`,
  specialistUrls: [`${ORIGIN}/models/fsrnet-x2.onnx`, `${ORIGIN}/models/fsrnet-x4.onnx`],
};

/** The shipped files plus the three FSRNet models, where the web app serves them. */
const SHIPPED_WITH_FSRNET = {
  ...SHIPPED,
  [ENHANCER_URLS.modelUrl]: DEFAULT_ENHANCE_MODEL_PATH,
  [ENHANCER_URLS.specialistUrls[0]]: DEFAULT_ENHANCE_SPECIALIST_PATHS[0],
  [ENHANCER_URLS.specialistUrls[1]]: DEFAULT_ENHANCE_SPECIALIST_PATHS[1],
};

/** Why the FSRNet tests cannot run, or false when the three shipped files are installed. */
function fsrnetMissing(): string | false {
  const files = [DEFAULT_ENHANCE_MODEL_PATH, ...DEFAULT_ENHANCE_SPECIALIST_PATHS];
  const absent = files.filter((file) => !existsSync(file));
  return absent.length === 0 ? false : `needs the super-resolution models ${absent.join(', ')}`;
}

/**
 * onnxruntime-web with a count of the sessions it holds open (created, not yet released): what a loader
 * that disposes everything on failure must bring back to where it was.
 */
function countingOrt(): { ort: OrtWebModule; open: () => number } {
  let open = 0;
  const counted: OrtWebModule = {
    env: ort.env,
    Tensor: ort.Tensor,
    InferenceSession: {
      async create(bytes, options) {
        const session = await ort.InferenceSession.create(
          bytes,
          options as ort.InferenceSession.SessionOptions,
        );
        open++;
        const release = session.release.bind(session);
        return Object.assign(session, {
          release: async () => {
            open--;
            await release();
          },
        });
      },
    },
  };
  return { ort: counted, open: () => open };
}

/**
 * Real FER-2013 faces pasted into a real photo at the sizes each way of the enhance policy takes: 12, 16
 * and 24 px (FSRNet: the x4 specialist, the general model, the x2 specialist), 40 px (bicubic) and 64 px
 * (none). Their boxes are given to the pipeline: the cascade finds no face under 24 px.
 */
async function smallFerScene(): Promise<{ image: Image; boxes: Box[] }> {
  const sides = [12, 16, 24, 40, 64];
  const files = (await listFerFaces()).filter((_, i) => i % 600 === 0).slice(0, sides.length);
  const image = await loadBackground('coffee.png', 240, 100);
  const boxes: Box[] = [];
  let x = 8;
  for (const [i, side] of sides.entries()) {
    pasteFace(image, await readGrayFile(join(FER2013_CACHE, files[i])), x, 20, side, 0);
    boxes.push({ x, y: 20, width: side, height: side });
    x += side + 8;
  }
  return { image: createImage(image.width, image.height, 1, image.data), boxes };
}

/** Largest difference between two results' scores. */
function scoreGap(a: AnalyzedFace, b: AnalyzedFace): number {
  return Math.max(
    ...EMOTION_LABELS.map((label) => Math.abs(a.emotion.scores[label] - b.emotion.scores[label])),
  );
}

void test('with the enhance stage, loadWebPipeline restores small real faces as the Node pipeline does', async (t) => {
  const missing = fsrnetMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  await ensureFer2013();
  const web = await loadWebPipeline({
    ort,
    modelUrl: `${ORIGIN}/models/emotion.onnx`,
    cascadeUrl: `${ORIGIN}/models/cascade.xml`,
    landmarks: LANDMARK_URLS,
    enhance: ENHANCER_URLS,
    wasm: { wasmPaths: WASM_PATHS },
    fetch: diskFetch(SHIPPED_WITH_FSRNET),
  });
  // What `moodlens analyze` builds: landmarks, alignment, the shipped FSRNet with its specialists, 32/48.
  const node = new EmotionPipeline(await loadFaceDetector(), await loadEmotionClassifier(), {
    landmarks: await loadLandmarkDetector(),
    aligner: await loadFaceAligner(),
    enhancer: await loadFaceEnhancer(),
    enhanceBelow: DEFAULT_ENHANCE_BELOW,
    upscaleBelow: DEFAULT_UPSCALE_BELOW,
  });
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-web-enhance-'));
  try {
    // The CLI's thresholds by default, and the three files routed as the Node loader routes them.
    assert.equal(web.options.enhanceBelow, DEFAULT_ENHANCE_BELOW);
    assert.equal(web.options.upscaleBelow, DEFAULT_UPSCALE_BELOW);
    const enhancer = web.options.enhancer;
    assert.ok(enhancer !== undefined, 'the pipeline has the enhancer');
    assert.deepEqual(
      [enhancer, ...enhancer.specialists].map((m) => m.info.trainedFactors),
      [[2, 3, 4], [2], [4]],
    );
    // The measured crop-side ranges travel in the files' metadata, so the page routes as Node does.
    assert.deepEqual(
      [enhancer, ...enhancer.specialists].map((m) => m.info.cropSides),
      [undefined, { min: 18, max: Infinity }, { min: 1, max: 17 }],
    );

    // A real small face the cascade finds (the astronaut at 26 px): restored by FSRNet, as in Node.
    const small = await readImage(await writeSmallAstronaut(dir));
    const [fromWeb, fromNode] = [await web.analyze(small), await node.analyze(small)];
    assert.equal(fromWeb.length, 1);
    assert.deepEqual(fromWeb[0].box, SMALL_ASTRONAUT_BOX);
    assert.equal(fromWeb[0].restoration, 'fsrnet');
    assert.equal(fromWeb[0].enhanced, true);
    assert.equal(fromNode[0].restoration, 'fsrnet');
    assert.equal(fromWeb[0].emotion.label, fromNode[0].emotion.label);
    // onnxruntime-web and -node agree to ~1e-6 per output (scores here within 3e-7); should a restored
    // pixel round the other way by one level, a score moves by less than this, far below what the
    // restoration itself changes (below).
    const TOLERANCE = 1e-3;
    assert.ok(
      scoreGap(fromWeb[0], fromNode[0]) < TOLERANCE,
      `score gap ${scoreGap(fromWeb[0], fromNode[0])}`,
    );

    // Every way of the policy on FER faces at known sizes, each as in Node.
    const scene = await smallFerScene();
    const faces = scene.boxes.map((box) => ({ box }));
    const [webFaces, nodeFaces] = [
      await web.classifyFaces(scene.image, faces),
      await node.classifyFaces(scene.image, faces),
    ];
    assert.deepEqual(
      webFaces.map((f) => f.restoration),
      ['fsrnet', 'fsrnet', 'fsrnet', 'bicubic', 'none'],
    );
    assert.deepEqual(
      webFaces.map((f) => f.restoration),
      nodeFaces.map((f) => f.restoration),
    );
    for (const [i, face] of webFaces.entries()) {
      const gap = scoreGap(face, nodeFaces[i]);
      assert.ok(gap < TOLERANCE, `${scene.boxes[i].width} px: score gap ${gap}`);
      assert.equal(face.emotion.label, nodeFaces[i].emotion.label, `${scene.boxes[i].width} px`);
    }
    // The restoration is what was classified: without the stage the small faces score otherwise.
    const plain = new EmotionPipeline(web.detector, web.classifier, {
      landmarks: web.options.landmarks,
      aligner: web.options.aligner,
    });
    const plainFaces = await plain.classifyFaces(scene.image, faces);
    assert.equal(plainFaces[0].restoration, undefined);
    // (measured: 0.22, 0.09 and 0.03 for FSRNet at 12, 16 and 24 px, 0.004 for bicubic at 40 px)
    for (const i of [0, 1, 2]) {
      assert.ok(scoreGap(webFaces[i], plainFaces[i]) > 0.01, `${scene.boxes[i].width} px is restored`);
    }
    assert.ok(scoreGap(webFaces[3], plainFaces[3]) > 1e-3, '40 px is enlarged bicubically');
    assert.ok(scoreGap(webFaces[4], plainFaces[4]) < 1e-6, 'a 64 px face takes the plain path');
  } finally {
    await web.classifier.dispose();
    await web.options.landmarks?.dispose();
    await web.options.enhancer?.dispose();
    await node.classifier.dispose();
    await node.options.landmarks?.dispose();
    await node.options.enhancer?.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

void test('an FSRNet file that does not arrive is named: fatal with nothing left open, or no FSRNet with the reason', async (t) => {
  const missing = fsrnetMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const counting = countingOrt();
  const options: WebPipelineOptions = {
    ort: counting.ort,
    modelUrl: `${ORIGIN}/models/emotion.onnx`,
    cascadeUrl: `${ORIGIN}/models/cascade.xml`,
    landmarks: LANDMARK_URLS,
    enhance: ENHANCER_URLS,
    wasm: { wasmPaths: WASM_PATHS },
  };
  const without = (url: string): FetchLike =>
    diskFetch({ ...SHIPPED_WITH_FSRNET, [url]: undefined as unknown as string });
  // The x4 specialist (loaded after the x2 one) and the general model (loaded last) missing: each named,
  // and the emotion, landmark and already loaded FSRNet sessions released.
  for (const [url, name] of [
    [ENHANCER_URLS.specialistUrls[1], 'fsrnet-x4\\.onnx'],
    [ENHANCER_URLS.modelUrl, 'fsrnet\\.onnx'],
  ] as const) {
    await assertModelLoad(
      loadWebPipeline({ ...options, fetch: without(url) }),
      new RegExp(
        `^Cannot load the super-resolution model https://moodlens\\.test/models/${name}: the server ` +
          'answered HTTP 404 Not Found with an HTML page \\(\\d+ bytes\\) instead of the file$',
      ),
    );
    assert.equal(counting.open(), 0, `sessions left open after ${url} failed`);
  }
  // An emotion model where FSRNet should be: named as what it is.
  await assertModelLoad(
    loadWebPipeline({
      ...options,
      fetch: diskFetch({ ...SHIPPED_WITH_FSRNET, [ENHANCER_URLS.modelUrl]: DEFAULT_EMOTION_MODEL_PATH }),
    }),
    /fsrnet\.onnx: expected a face super-resolution model .*it is an emotion model/,
  );
  assert.equal(counting.open(), 0);

  // With the callback: told why, and the pipeline runs without FSRNet, small faces enlarged bicubically
  // (as the CLI does without the model); the x2 specialist that did load is not kept open.
  const problems: unknown[] = [];
  const degraded = await loadWebPipeline({
    ...options,
    fetch: without(ENHANCER_URLS.specialistUrls[1]),
    onEnhancerUnavailable: (error) => problems.push(error),
  });
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-web-enhance-'));
  try {
    assert.equal(problems.length, 1);
    assert.ok(isMoodLensError(problems[0]));
    assert.match(problems[0].message, /super-resolution model .*fsrnet-x4\.onnx.*HTTP 404/);
    assert.equal(degraded.options.enhancer, undefined);
    assert.equal(degraded.options.upscaleBelow, DEFAULT_UPSCALE_BELOW);
    assert.equal(counting.open(), 2, 'the emotion and landmark sessions only');
    const [face] = await degraded.analyze(await readImage(await writeSmallAstronaut(dir)));
    assert.deepEqual(face.box, SMALL_ASTRONAUT_BOX);
    assert.equal(face.restoration, 'bicubic');
    assert.ok(face.landmarks !== undefined, 'the other stages still run');
  } finally {
    await degraded.classifier.dispose();
    await degraded.options.landmarks?.dispose();
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(counting.open(), 0);
});
