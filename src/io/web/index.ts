/**
 * MoodLens's browser adapters (`moodlens/web`): onnxruntime-web as the core's InferenceBackend, the
 * whole pipeline loaded from URLs, and the camera with its failures sorted into states a page can explain. Browser-safe: no Node module; onnxruntime-web is passed in by the page.
 */
export { CAMERA_CONSTRAINTS, CameraError, classifyCameraError, closeCamera, openCamera } from './camera.js';
export type { CameraProblem } from './camera.js';
export { describeBody, fetchAsset, looksLikeHtml } from './fetch-asset.js';
export type { FetchLike } from './fetch-asset.js';
export { configureOrtWasm, DEFAULT_ORT_WASM_THREADS, OnnxWebBackend } from './onnx-web-backend.js';
export type { OrtWasmSettings, OrtWebModule } from './onnx-web-backend.js';
export { loadWebCnnDetector } from './load-detector.js';
export type { WebCnnDetectorOptions } from './load-detector.js';
export { loadWebLandmarkStages } from './load-landmarks.js';
export type { WebLandmarkStages, WebLandmarkUrls } from './load-landmarks.js';
export { loadWebEnhancerModels, loadWebFaceEnhancer } from './load-enhancer.js';
export type { WebEnhancerUrls } from './load-enhancer.js';
export { diagnoseOrtWasmFiles, loadWebPipeline, ORT_WASM_FILES } from './load-pipeline.js';
export type { WebEnhanceOptions, WebPipelineOptions } from './load-pipeline.js';
