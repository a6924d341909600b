/**
 * One inference worker of the HTTP service: holds its own face detector, emotion classifier and, when
 * installed, landmark detector, aligner and super-resolution model (loaded once from the bytes the main
 * thread read), and for each job decodes the uploaded images (sharp is thread-safe) and runs the stages of
 * `moodlens analyze`: detect, landmarks, alignment, enhancement, classification. Jobs come one at a time; the pool never sends a second
 * before the first is answered.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FaceAligner } from '../align/aligner.js';
import { jsonFace, jsonRejected } from '../cli/landmark-output.js';
import { isMoodLensError } from '../core/errors.js';
import { CnnBoxDetector } from '../detect/cnn/box-detector.js';
import { HaarFaceDetector } from '../detect/detector.js';
import { EmotionClassifier } from '../emotion/classifier.js';
import type { FaceEnhancer } from '../enhance/face-enhancer.js';
import { enhanceThreshold, upscaleThreshold } from '../enhance/policy.js';
import { cnnFaceDetectorFromBytes } from '../io/node/cnn-detector-model.js';
import { faceEnhancerFromBytes } from '../io/node/enhance-model.js';
import { landmarkDetectorFromBytes } from '../io/node/landmark-model.js';
import { OnnxNodeBackend } from '../io/node/onnx-backend.js';
import type { LandmarkDetector } from '../landmarks/detector.js';
import { decodeImage } from '../io/node/read-image.js';
import { EmotionPipeline } from '../pipeline/pipeline.js';
import type {
  AnalyzeJobMessage,
  AnalyzeWorkerInit,
  ImageOutcome,
  WorkerDetector,
  WorkerMessage,
} from './protocol.js';

const port = parentPort;
if (port === null) throw new Error('analyze-worker.js runs as a worker thread of the MoodLens server');

function post(message: WorkerMessage): void {
  port?.postMessage(message);
}

interface Stages {
  /** The Haar cascade (scanned in this thread) or the learned detector (one ONNX Runtime thread). */
  readonly detector: HaarFaceDetector | CnnBoxDetector;
  /** Plain and flip-averaged classifiers over one ONNX session (`dispose` is idempotent on it). */
  readonly plain: EmotionClassifier;
  readonly flipped: EmotionClassifier;
  /** Landmarks and alignment, when the landmark model is installed. */
  readonly align?: { readonly landmarks: LandmarkDetector; readonly aligner: FaceAligner };
  readonly enhancer?: FaceEnhancer;
}

async function load(init: AnalyzeWorkerInit): Promise<Stages> {
  const backend = await OnnxNodeBackend.fromBytes(init.modelBytes, init.modelSource);
  const metadata = backend.model.metadata;
  const source = init.modelSource;
  const plain = await EmotionClassifier.create({ backend, metadata, source, flipAverage: false });
  const flipped = await EmotionClassifier.create({ backend, metadata, source, flipAverage: true });
  const detector = await loadDetector(init.detector);
  const { landmarks, enhance } = init;
  return {
    detector,
    plain,
    flipped,
    ...(landmarks === undefined
      ? {}
      : {
          align: {
            landmarks: await landmarkDetectorFromBytes(landmarks.bytes, landmarks.source),
            aligner: new FaceAligner(landmarks.template),
          },
        }),
    ...(enhance === undefined ? {} : { enhancer: await enhancerFromInit(enhance) }),
  };
}

async function loadDetector(init: WorkerDetector): Promise<HaarFaceDetector | CnnBoxDetector> {
  if (init.kind === 'haar') return HaarFaceDetector.fromXml(init.cascadeXml, init.cascadeSource);
  // One inference thread per worker: the pool's workers are the server's parallelism.
  const model = await cnnFaceDetectorFromBytes(init.bytes, init.source, { intraOpNumThreads: 1 });
  return new CnnBoxDetector(model, init.minScore === undefined ? {} : { scoreThreshold: init.minScore });
}

async function enhancerFromInit(enhance: NonNullable<AnalyzeWorkerInit['enhance']>): Promise<FaceEnhancer> {
  const specialists: FaceEnhancer[] = [];
  try {
    for (const s of enhance.specialists) specialists.push(await faceEnhancerFromBytes(s.bytes, s.source));
    return await faceEnhancerFromBytes(enhance.bytes, enhance.source, { specialists });
  } catch (error) {
    for (const specialist of specialists) await specialist.dispose();
    throw error;
  }
}

async function analyzeOne(
  stages: Stages,
  job: AnalyzeJobMessage,
  image: AnalyzeJobMessage['images'][number],
): Promise<ImageOutcome> {
  const { options } = job;
  try {
    const decoded = await decodeImage(image.bytes, { maxPixels: options.maxPixels }, image.name);
    // The stages `moodlens analyze` builds from the same flags (see its runAnalyze); the landmark model
    // also serves the false-face check when alignment is off.
    const { align, enhancer } = stages;
    const pipeline = new EmotionPipeline(stages.detector, options.flipTta ? stages.flipped : stages.plain, {
      detect: options.detect,
      crop: { margin: options.margin },
      ...(align === undefined ? {} : options.align ? align : { landmarks: align.landmarks }),
      ...(options.enhance === 'never' || enhancer === undefined ? {} : { enhancer }),
      enhanceBelow: enhanceThreshold(options.enhance, options.enhanceBelow),
      upscaleBelow: upscaleThreshold(options.enhance, options.upscaleBelow),
      faceCheck: options.keepAllFaces === true ? 'mark' : 'drop',
    });
    const { faces, rejected, checked } = await pipeline.analyzeImage(decoded);
    return {
      file: image.name,
      width: decoded.width,
      height: decoded.height,
      faces: faces.map(jsonFace),
      ...(checked && options.keepAllFaces !== true ? { rejected: rejected.map(jsonRejected) } : {}),
    };
  } catch (error) {
    if (isMoodLensError(error)) {
      return { file: image.name, error: { code: error.code, message: error.message } };
    }
    // Option ranges are checked by the route schema; should one still be refused, it is the client's.
    if (error instanceof RangeError) {
      return { file: image.name, error: { code: 'MOODLENS_ERR_INVALID_ARGUMENT', message: error.message } };
    }
    throw error;
  }
}

async function runJob(stages: Stages, job: AnalyzeJobMessage, recycleAboveBytes: number): Promise<void> {
  try {
    const outcomes: ImageOutcome[] = [];
    for (const image of job.images) outcomes.push(await analyzeOne(stages, job, image));
    // The scan kernel's WebAssembly memory grows to the largest image scanned and never shrinks.
    const { detector } = stages;
    const scanBytes =
      detector instanceof HaarFaceDetector ? (detector.kernel?.sum.buffer.byteLength ?? 0) : 0;
    post({ type: 'done', id: job.id, outcomes, recycle: scanBytes > recycleAboveBytes });
  } catch (error) {
    post({
      type: 'failed',
      id: job.id,
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  }
}

try {
  const init = workerData as AnalyzeWorkerInit;
  const stages = await load(init);
  port.on('message', (job: AnalyzeJobMessage) => void runJob(stages, job, init.recycleAboveBytes));
  post({ type: 'ready' });
} catch (error) {
  // The pool refuses to start and terminates this worker.
  post({
    type: 'init-error',
    code: isMoodLensError(error) ? error.code : 'MOODLENS_ERR_MODEL_LOAD',
    message: error instanceof Error ? error.message : String(error),
  });
}
