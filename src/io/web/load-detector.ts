import { OrtDetectorBackend } from '../../detect/cnn/backend.js';
import { CnnBoxDetector } from '../../detect/cnn/box-detector.js';
import { CnnFaceDetector } from '../../detect/cnn/detector.js';
import { parseCnnDetectorMetadata } from '../../detect/cnn/model-info.js';
import { readOnnxMetadata } from '../../emotion/onnx-metadata.js';
import type { OrtModule } from '../../emotion/onnx-runtime-backend.js';
import { fetchAsset, type FetchLike } from './fetch-asset.js';

/** Where the learned face detector is served, and its score threshold. */
export interface WebCnnDetectorOptions {
  /** Absolute URL of the detector model (`models/detector/face-detector.onnx`, MoodLens metadata). */
  readonly modelUrl: string;
  /** Keep faces scoring at least this, 0-1. Default: the model's `moodlens.score_threshold`. */
  readonly minScore?: number;
  /**
   * Run the model's pass for faces filling the frame (`moodlens.coarse_long_side`). Default false: the page
   * runs the detector on every camera frame, and with this pass it fell below Haar's frame rate (`npm run
   * bench:web`: 14.6 fps against 18.4 without it and Haar's 17.9; the detector's model card).
   */
  readonly coarsePass?: boolean;
}

/**
 * Loads the learned face detector (issue 21) in a browser: the twin of Node's `loadCnnFaceDetector`, its
 * model run by onnxruntime-web, behind the pipeline's detector interface ({@link CnnBoxDetector}: boxes in
 * the Haar cascade's framing, each with its score). The metadata is checked before ONNX Runtime sees the
 * bytes, so an HTML page or an emotion or landmark model given by mistake is named as such. ONNX Runtime
 * must already be configured (`configureOrtWasm`).
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the URL and what arrived instead (an HTTP error,
 *   an HTML page, not ONNX, not a MoodLens face detector, a graph without the detector's outputs).
 * @throws RangeError for a `minScore` outside 0-1.
 */
export async function loadWebCnnDetector(
  ort: OrtModule,
  options: WebCnnDetectorOptions,
  fetchImpl?: FetchLike,
): Promise<CnnBoxDetector> {
  const { modelUrl, minScore } = options;
  if (minScore !== undefined && !(minScore >= 0 && minScore <= 1)) {
    throw new RangeError(`Expected a number from 0 to 1 for minScore but received ${String(minScore)}`);
  }
  const bytes = await fetchAsset(modelUrl, 'face detector model', fetchImpl);
  const { metadata } = readOnnxMetadata(bytes, modelUrl); // an HTML page or non-ONNX bytes, named
  parseCnnDetectorMetadata(metadata, modelUrl); // another MoodLens model, named
  const backend = await OrtDetectorBackend.open(() => Promise.resolve(ort), bytes, modelUrl, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  try {
    const detector = CnnFaceDetector.create({
      backend,
      metadata,
      source: modelUrl,
      ...(minScore === undefined ? {} : { scoreThreshold: minScore }),
      coarsePass: options.coarsePass ?? false,
      // The mirror view doubles the model's time on every camera frame; the page runs without it.
      mirror: false,
    });
    return new CnnBoxDetector(detector);
  } catch (error) {
    await backend.dispose();
    throw error;
  }
}
