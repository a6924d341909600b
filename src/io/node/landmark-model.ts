import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FaceAligner, type FaceAlignerOptions } from '../../align/aligner.js';
import { parseAlignmentTemplate, type AlignmentTemplate } from '../../align/template.js';
import { MoodLensError } from '../../core/errors.js';
import { expectSquareGrayInput } from '../../emotion/metadata-fields.js';
import { readOnnxMetadata } from '../../emotion/onnx-metadata.js';
import { LandmarkDetector } from '../../landmarks/detector.js';
import { parseLandmarkModelMetadata } from '../../landmarks/model-info.js';
import type { ReliabilityThresholds } from '../../landmarks/reliability.js';
import { OnnxNodeBackend, readModelFile, type OnnxNodeBackendOptions } from './onnx-backend.js';

/** The shipped landmark model; resolved from the package, never from the working directory. */
export const DEFAULT_LANDMARK_MODEL_PATH = fileURLToPath(
  new URL('../../../../models/landmarks/landmarks.onnx', import.meta.url),
);

/** The shipped alignment template (FER-2013's mean face in its 48x48 frame). */
export const DEFAULT_ALIGNMENT_TEMPLATE_PATH = fileURLToPath(
  new URL('../../../../models/landmarks/template48.json', import.meta.url),
);

/** Whether the shipped landmark model is installed (commands align by default only then). */
export function hasDefaultLandmarkModel(): boolean {
  return existsSync(DEFAULT_LANDMARK_MODEL_PATH);
}

export interface LoadLandmarkDetectorOptions extends Omit<OnnxNodeBackendOptions, 'outputName'> {
  /** Faces per inference call (default 32). */
  readonly batchSize?: number;
  /** Thresholds of the reliability checks (default: `DEFAULT_RELIABILITY_THRESHOLDS`). */
  readonly thresholds?: ReliabilityThresholds;
  /** Also run each crop mirrored and average (default true; see `LandmarkDetectorOptions.flipTta`). */
  readonly flipTta?: boolean;
  /** Crop scales averaged (default `DEFAULT_LANDMARK_SCALES`; see `LandmarkDetectorOptions.scales`). */
  readonly scales?: readonly number[];
}

/**
 * Loads the 68-point landmark detector from an ONNX model file (default: the shipped model) with
 * onnxruntime-node. The crop geometry comes from the model's metadata; the model's input must be
 * `[N, 1, size, size]` with the metadata's size and its output `points`.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the path and what was wrong.
 */
export async function loadLandmarkDetector(
  modelPath: string = DEFAULT_LANDMARK_MODEL_PATH,
  options: LoadLandmarkDetectorOptions = {},
): Promise<LandmarkDetector> {
  return landmarkDetectorFromBytes(await readModelFile(modelPath), modelPath, options);
}

/**
 * {@link loadLandmarkDetector} from the model's bytes, already read (the HTTP service's workers get them
 * from the main thread); `modelPath` names the model in messages.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the path and what was wrong.
 */
export async function landmarkDetectorFromBytes(
  bytes: Uint8Array,
  modelPath: string,
  options: LoadLandmarkDetectorOptions = {},
): Promise<LandmarkDetector> {
  const { batchSize, thresholds, flipTta, scales, ...backendOptions } = options;
  // The metadata first: an emotion model given by mistake is named as such, not as a missing output.
  parseLandmarkModelMetadata(readOnnxMetadata(bytes, modelPath).metadata, modelPath);
  const backend = await OnnxNodeBackend.fromBytes(bytes, modelPath, {
    ...backendOptions,
    outputName: 'points',
  });
  try {
    const detector = await LandmarkDetector.create({
      backend,
      metadata: backend.model.metadata,
      source: modelPath,
      batchSize,
      thresholds,
      flipTta,
      scales,
    });
    expectSquareGrayInput(backend.sampleShape, detector.info.inputSize, `Landmark model ${modelPath}`);
    return detector;
  } catch (error) {
    await backend.dispose();
    throw error;
  }
}

/**
 * Reads an alignment template file (default: the shipped one).
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the path and what was wrong.
 */
export async function loadAlignmentTemplate(
  path: string = DEFAULT_ALIGNMENT_TEMPLATE_PATH,
): Promise<AlignmentTemplate> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `Alignment template ${path} cannot be read: ${code === 'ENOENT' ? 'no such file' : String(code)}`,
      { cause },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `Alignment template ${path} is not JSON`, { cause });
  }
  return parseAlignmentTemplate(parsed, path);
}

/** A {@link FaceAligner} over a template file (default: the shipped template). */
export async function loadFaceAligner(
  templatePath: string = DEFAULT_ALIGNMENT_TEMPLATE_PATH,
  options: FaceAlignerOptions = {},
): Promise<FaceAligner> {
  return new FaceAligner(await loadAlignmentTemplate(templatePath), options);
}
