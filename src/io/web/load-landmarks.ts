import { FaceAligner } from '../../align/aligner.js';
import { parseAlignmentTemplate } from '../../align/template.js';
import { MoodLensError } from '../../core/errors.js';
import { expectSquareGrayInput } from '../../emotion/metadata-fields.js';
import { readOnnxMetadata } from '../../emotion/onnx-metadata.js';
import type { OrtModule } from '../../emotion/onnx-runtime-backend.js';
import { LandmarkDetector } from '../../landmarks/detector.js';
import { parseLandmarkModelMetadata } from '../../landmarks/model-info.js';
import { fetchAsset, looksLikeHtml, type FetchLike } from './fetch-asset.js';
import { OnnxWebBackend } from './onnx-web-backend.js';

/** Where the landmark stage's two files are served. */
export interface WebLandmarkUrls {
  /** Absolute URL of the 68-point landmark model (.onnx with MoodLens metadata). */
  readonly modelUrl: string;
  /** Absolute URL of the alignment template (template48.json). */
  readonly templateUrl: string;
  /**
   * Crop scales the detector averages (default `DEFAULT_LANDMARK_SCALES`, as in Node). A live camera page
   * may pass `[1]`: the model's own crop with its mirror image, a third of the inference.
   */
  readonly scales?: readonly number[];
}

/** The landmark and alignment stages, as `EmotionPipeline` takes them. */
export interface WebLandmarkStages {
  readonly landmarks: LandmarkDetector;
  readonly aligner: FaceAligner;
}

/**
 * Loads the landmark detector (onnxruntime-web) and the face aligner from URLs: the browser twin of
 * `loadLandmarkDetector` + `loadFaceAligner`, with the same checks (metadata first, then the input shape).
 * ONNX Runtime must already be configured (`configureOrtWasm`).
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the file and what arrived instead (an HTML page,
 *   an emotion model, a template that is not JSON...).
 */
export async function loadWebLandmarkStages(
  ort: OrtModule,
  urls: WebLandmarkUrls,
  fetchImpl?: FetchLike,
): Promise<WebLandmarkStages> {
  const { modelUrl, templateUrl, scales } = urls;
  const [modelBytes, templateBytes] = await Promise.all([
    fetchAsset(modelUrl, 'landmark model', fetchImpl),
    fetchAsset(templateUrl, 'alignment template', fetchImpl),
  ]);
  const template = parseTemplateBytes(templateBytes, templateUrl);
  // The metadata first: an emotion model (or an HTML page) is named as such, not as a missing output.
  parseLandmarkModelMetadata(readOnnxMetadata(modelBytes, modelUrl).metadata, modelUrl);
  const backend = await OnnxWebBackend.fromBytes(ort, modelBytes, modelUrl, { outputName: 'points' });
  try {
    const landmarks = await LandmarkDetector.create({
      backend,
      metadata: backend.model.metadata,
      source: modelUrl,
      ...(scales === undefined ? {} : { scales }),
    });
    expectSquareGrayInput(backend.sampleShape, landmarks.info.inputSize, `Landmark model ${modelUrl}`);
    return { landmarks, aligner: new FaceAligner(template) };
  } catch (error) {
    await backend.dispose();
    throw error;
  }
}

function parseTemplateBytes(bytes: Uint8Array, url: string): ReturnType<typeof parseAlignmentTemplate> {
  if (looksLikeHtml(bytes)) {
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `Cannot load the alignment template ${url}: the server sent an HTML page (${bytes.length} bytes) ` +
        'instead of the template JSON',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `Alignment template ${url} is not JSON`, { cause });
  }
  return parseAlignmentTemplate(parsed, url);
}
