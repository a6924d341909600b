import { expectSquareGrayInput } from '../../emotion/metadata-fields.js';
import { readOnnxMetadata } from '../../emotion/onnx-metadata.js';
import type { OrtModule } from '../../emotion/onnx-runtime-backend.js';
import { FaceEnhancer, loadWithSpecialists } from '../../enhance/face-enhancer.js';
import { parseEnhanceModelMetadata } from '../../enhance/model-info.js';
import { fetchAsset, type FetchLike } from './fetch-asset.js';
import { OnnxWebBackend } from './onnx-web-backend.js';

/**
 * Loads the face super-resolution stage (onnxruntime-web) from a URL: the browser twin of
 * `loadFaceEnhancer`, with the same checks (metadata first, then the input shape). ONNX Runtime must
 * already be configured (`configureOrtWasm`). Give the result to `EmotionPipeline` as `enhancer`. To route
 * faces as the Node loader does for the shipped model, load `fsrnet-x2.onnx` and `fsrnet-x4.onnx` first and
 * pass them as `specialists`.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the URL and what arrived instead (an HTML page,
 *   an emotion or landmark model...).
 */
export async function loadWebFaceEnhancer(
  ort: OrtModule,
  modelUrl: string,
  fetchImpl?: FetchLike,
  specialists: readonly FaceEnhancer[] = [],
): Promise<FaceEnhancer> {
  const bytes = await fetchAsset(modelUrl, 'super-resolution model', fetchImpl);
  // The metadata first: an emotion model (or an HTML page) is named as such, not as a missing output.
  parseEnhanceModelMetadata(readOnnxMetadata(bytes, modelUrl).metadata, modelUrl);
  const backend = await OnnxWebBackend.fromBytes(ort, bytes, modelUrl, { outputName: 'output' });
  try {
    const enhancer = await FaceEnhancer.create({
      backend,
      metadata: backend.model.metadata,
      source: modelUrl,
      specialists,
    });
    expectSquareGrayInput(backend.sampleShape, enhancer.size, `Super-resolution model ${modelUrl}`);
    return enhancer;
  } catch (error) {
    await backend.dispose();
    throw error;
  }
}

/** Where the super-resolution stage's files are served: one model, and the specialists it routes to. */
export interface WebEnhancerUrls {
  /** Absolute URL of the model trained on every factor (the shipped `fsrnet.onnx`). */
  readonly modelUrl: string;
  /**
   * Absolute URLs of models trained for fewer factors (the shipped `fsrnet-x2.onnx` and `fsrnet-x4.onnx`):
   * each face then goes to the model measured best for its size (`modelForCrop`), as the Node loader
   * routes the shipped files. Default: none, the model runs alone.
   */
  readonly specialistUrls?: readonly string[];
}

/**
 * Loads the super-resolution model with its specialists, the browser twin of `loadFaceEnhancer` on the
 * shipped files: the specialists first, then the model that owns them. Whatever loaded before a file
 * failed is disposed, so a failure leaves no ONNX Runtime session behind.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the first file that failed and what arrived.
 */
export async function loadWebEnhancerModels(
  ort: OrtModule,
  urls: WebEnhancerUrls,
  fetchImpl?: FetchLike,
): Promise<FaceEnhancer> {
  return loadWithSpecialists(
    urls.specialistUrls ?? [],
    (url) => loadWebFaceEnhancer(ort, url, fetchImpl),
    (specialists) => loadWebFaceEnhancer(ort, urls.modelUrl, fetchImpl, specialists),
  );
}
