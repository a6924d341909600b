/**
 * MoodLens for Node: the browser-safe core plus the Node adapters (image decoding with sharp, cascade
 * files, the worker-thread detector, the onnxruntime-node model loaders, FER-2013 data sets). Browser
 * code imports `moodlens/core` instead.
 */
export * from './core.js';
export { DEFAULT_CASCADE_PATH, loadFaceDetector, readCascadeFile } from './io/node/cascade-file.js';
export { ParallelFaceDetector } from './io/node/parallel-detector.js';
export {
  cnnFaceDetectorFromBytes,
  DEFAULT_CNN_DETECTOR_PATH,
  loadCnnFaceDetector,
} from './io/node/cnn-detector-model.js';
export type { LoadCnnFaceDetectorOptions } from './io/node/cnn-detector-model.js';
export type { ParallelDetectorOptions } from './io/node/parallel-detector.js';
export { decodeImage, DEFAULT_MAX_PIXELS, readImage } from './io/node/read-image.js';
export type { DecodeOptions } from './io/node/read-image.js';
export { DEFAULT_ONNX_NODE_BACKEND_OPTIONS, OnnxNodeBackend, readModelFile } from './io/node/onnx-backend.js';
export type { OnnxNodeBackendOptions } from './io/node/onnx-backend.js';
export {
  ACCURATE_EMOTION_MODEL_PATH,
  DEFAULT_EMOTION_MODEL_PATH,
  loadEmotionClassifier,
  resolveEmotionModelPath,
} from './io/node/emotion-model.js';
export type { LoadEmotionClassifierOptions } from './io/node/emotion-model.js';
export {
  DEFAULT_ALIGNMENT_TEMPLATE_PATH,
  DEFAULT_LANDMARK_MODEL_PATH,
  hasDefaultLandmarkModel,
  loadAlignmentTemplate,
  loadFaceAligner,
  loadLandmarkDetector,
} from './io/node/landmark-model.js';
export type { LoadLandmarkDetectorOptions } from './io/node/landmark-model.js';
export {
  DEFAULT_ENHANCE_MODEL_PATH,
  hasDefaultEnhanceModel,
  loadFaceEnhancer,
} from './io/node/enhance-model.js';
export type { LoadFaceEnhancerOptions } from './io/node/enhance-model.js';
export { FER_USAGES, openFerDataset } from './io/node/fer-dataset.js';
export type { FerDataset, FerDatasetOptions, FerUsage, LabelledFace } from './io/node/fer-dataset.js';
export { writeImage } from './io/node/write-image.js';
export {
  buildServer,
  DEFAULT_BODY_LIMIT,
  DEFAULT_HOST,
  DEFAULT_JOB_TIMEOUT_MS,
  DEFAULT_MAX_BATCH_FILES,
  DEFAULT_PORT,
  DEFAULT_RECYCLE_ABOVE_BYTES,
  ServerError,
} from './server/index.js';
export type { ModelDescription, MoodLensServer, ServerErrorCode, ServerOptions } from './server/index.js';
export * from './io/node/ffmpeg/index.js';
export { loadModelQuality, modelCardPath } from './io/node/model-card.js';
export { analyzeVideo } from './io/node/video-analysis.js';
export type {
  AnalyzeVideoOptions,
  StillsChoice,
  VideoAnalysisResult,
  VideoOutputs,
  VideoStageTimings,
} from './io/node/video-analysis.js';
