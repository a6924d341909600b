/**
 * The analysis worker: loads the pipeline (the Haar cascade or the learned face detector; emotion, landmark
 * and FSRNet models on onnxruntime-web)
 * once, then turns each frame the page sends into tracked, classified faces and frames.csv records.
 * Running here keeps the page's main thread free for the video and the drawing.
 */
import * as ort from 'onnxruntime-web/wasm';
import { FrameAnalyzer, type FrameRecord, type GrayImage } from '../../src/core.js';
import { CnnBoxDetector } from '../../src/detect/cnn/box-detector.js';
import { loadWebPipeline } from '../../src/io/web/index.js';
import type { AnalyzeRequest, InitRequest, WorkerMessage, WorkerRequest } from './protocol.js';

/** The worker's global scope, as much of it as is used (the DOM lib types `self` as a window). */
const scope = self as unknown as {
  postMessage(message: WorkerMessage): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
};

let analyzer: FrameAnalyzer | undefined;
let canvas: OffscreenCanvas | undefined;
let context: OffscreenCanvasRenderingContext2D | undefined;
/** Requests are handled one at a time, in order (frames must reach the tracker in order). */
let queue: Promise<void> = Promise.resolve();

scope.onmessage = (event) => {
  const request = event.data;
  queue = queue.then(() => handle(request));
};

async function handle(request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case 'init':
      await init(request);
      return;
    case 'analyze':
      await analyze(request);
      return;
    case 'reset':
      analyzer?.reset();
      return;
  }
}

async function init(request: InitRequest): Promise<void> {
  const started = performance.now();
  let landmarksProblem: string | undefined;
  let enhancerProblem: string | undefined;
  try {
    const pipeline = await loadWebPipeline({
      ort,
      modelUrl: request.modelUrl,
      detector: request.detector,
      ...(request.detector === 'cnn'
        ? {
            detectorModelUrl: request.detectorModelUrl,
            ...(request.minScore === undefined ? {} : { minScore: request.minScore }),
            coarsePass: request.coarsePass,
          }
        : { cascadeUrl: request.cascadeUrl }),
      // The model's own crop and its mirror only: a third of the default TTA's inference, for the frame rate
      // (NME 4.53% against 4.47% on the held-out faces, models/landmarks/landmarks.md).
      landmarks: { modelUrl: request.landmarkModelUrl, templateUrl: request.templateUrl, scales: [1] },
      // A landmark model that does not load is not fatal: faces are classified from their box crops and
      // the page says so (the emotion model alone still answers, as `moodlens analyze --no-align` does).
      onLandmarksUnavailable: (error) => {
        landmarksProblem = error instanceof Error ? error.message : String(error);
      },
      // Nor is FSRNet: small faces are then enlarged bicubically, as the CLI does without the model.
      ...(request.enhance === undefined ? {} : { enhance: request.enhance }),
      onEnhancerUnavailable: (error) => {
        enhancerProblem = error instanceof Error ? error.message : String(error);
      },
      wasm: { wasmPaths: request.wasmPaths, numThreads: request.numThreads },
      pipeline: { detect: request.detect },
    });
    // One inference now, so that the first camera frame does not pay for ONNX Runtime's warm-up.
    const size = pipeline.classifier.info.inputSize;
    const blank: GrayImage = { width: size, height: size, channels: 1, data: new Uint8Array(size * size) };
    await pipeline.classifier.classify([blank]);
    await pipeline.options.landmarks?.detect(blank, [{ x: 0, y: 0, width: size, height: size }]);
    const { enhancer } = pipeline.options;
    const enhancers = enhancer === undefined ? [] : [enhancer, ...enhancer.specialists];
    // Each FSRNet model once, directly: routing by size would have to know which model takes which face.
    for (const model of enhancers) await model.predict([blank]);
    // The learned detector too, on a camera-sized frame (its input shape is the frame's, resized).
    const cnn = pipeline.detector instanceof CnnBoxDetector ? pipeline.detector : undefined;
    if (cnn !== undefined) {
      const [w, h] = [640, 480];
      await cnn.detect({ width: w, height: h, channels: 1, data: new Uint8Array(w * h) });
    }
    analyzer = new FrameAnalyzer(pipeline, {
      detectEvery: request.detectEvery,
      smoothingAlpha: request.smoothingAlpha,
    });
    const haar = pipeline.detector as { engine?: 'wasm' | 'js' };
    scope.postMessage({
      type: 'ready',
      model: {
        arch: pipeline.classifier.info.arch,
        valAccuracy: pipeline.classifier.info.valAccuracy,
        labels: pipeline.classifier.labels,
        detector: cnn === undefined ? 'haar' : 'cnn',
        detectorEngine: cnn === undefined ? (haar.engine ?? 'js') : 'wasm',
        minScore: cnn?.detector.defaults.scoreThreshold,
        coarsePass:
          cnn !== undefined && cnn.detector.defaults.coarsePass && cnn.detector.info.coarsePass !== undefined,
        crossOriginIsolated: self.crossOriginIsolated,
        numThreads: request.numThreads,
        loadMs: performance.now() - started,
        landmarks: pipeline.options.landmarks !== undefined,
        landmarksProblem,
        enhancer: enhancer !== undefined,
        enhancerModels: enhancers.length,
        enhancerProblem,
        ...pipeline.restorationThresholds,
      },
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    scope.postMessage({
      type: 'init-error',
      code: typeof code === 'string' ? code : undefined,
      message: error instanceof Error ? error.message : String(error),
    });
  }
}

async function analyze(request: AnalyzeRequest): Promise<void> {
  const { bitmap, session, frame, time, scale } = request;
  try {
    if (analyzer === undefined) throw new Error('The models are not loaded');
    const t0 = performance.now();
    const image = readPixels(bitmap);
    const t1 = performance.now();
    const before = analyzer.stats;
    const { faces, records } = await analyzer.analyzeFrame(image, frame, time);
    const after = analyzer.stats;
    const t2 = performance.now();
    scope.postMessage({
      type: 'result',
      session,
      frame,
      time,
      width: image.width,
      height: image.height,
      // Persons only: a candidate face not yet confirmed gets no box and no number (it may be a false face).
      faces: faces.flatMap((face) =>
        face.person === null
          ? []
          : [
              {
                track: face.person,
                box: face.box,
                label: face.emotion.label,
                confidence: face.emotion.confidence,
                detected: face.detected,
                ...(face.landmarks === undefined ? {} : { points: face.landmarks.points }),
                ...(face.restoration === undefined ? {} : { restoration: face.restoration }),
              },
            ],
      ),
      records: scale === 1 ? records : records.map((record) => toVideoPixels(record, scale)),
      timings: {
        readMs: t1 - t0,
        analyzeMs: t2 - t1,
        detectMs: after.detectMs - before.detectMs,
        classifyMs: after.classifyMs - before.classifyMs,
      },
    });
  } catch (error) {
    scope.postMessage({
      type: 'analyze-error',
      session,
      frame,
      message: error instanceof Error ? error.message : String(error),
    });
  } finally {
    bitmap.close();
  }
}

/** The bitmap's RGBA pixels, through one reused canvas. */
function readPixels(bitmap: ImageBitmap): { width: number; height: number; channels: 4; data: Uint8Array } {
  const { width, height } = bitmap;
  if (canvas === undefined || context === undefined || canvas.width !== width || canvas.height !== height) {
    canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (ctx === null) throw new Error('This browser gives workers no 2D canvas');
    context = ctx;
  }
  context.drawImage(bitmap, 0, 0);
  const pixels = context.getImageData(0, 0, width, height).data;
  return {
    width,
    height,
    channels: 4,
    data: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length),
  };
}

/** A record's box in video pixels (analysis pixels times `scale`, rounded as frames.csv holds integers). */
function toVideoPixels(record: FrameRecord, scale: number): FrameRecord {
  if (record.track === null) return record;
  const px = (value: number | null): number | null => (value === null ? null : Math.round(value * scale));
  return {
    ...record,
    x: px(record.x),
    y: px(record.y),
    width: Math.max(1, px(record.width) ?? 1),
    height: Math.max(1, px(record.height) ?? 1),
  };
}
