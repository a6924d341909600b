import { fileURLToPath } from 'node:url';
import { readOnnxMetadata } from '../../emotion/onnx-metadata.js';
import { OrtDetectorBackend } from '../../detect/cnn/backend.js';
import { CnnFaceDetector, type CnnDetectOptions } from '../../detect/cnn/detector.js';
import { parseCnnDetectorMetadata } from '../../detect/cnn/model-info.js';
import { readModelFile } from './onnx-backend.js';

/**
 * The shipped learned face detector (`--detector cnn`); resolved from the package, never from the working
 * directory. A draft (see training/checkpoints/detector/MODEL_CARD.md), to be replaced by a better model of
 * the same format.
 */
export const DEFAULT_CNN_DETECTOR_PATH = fileURLToPath(
  new URL('../../../../models/detector/face-detector.onnx', import.meta.url),
);

/** Options of {@link loadCnnFaceDetector}; each documented with its default. */
export interface LoadCnnFaceDetectorOptions extends CnnDetectOptions {
  /** The long side photos are resized to (default: the model's `moodlens.long_side`). */
  readonly longSide?: number;
  /** The second pass's long side, 0 for none (default: the model's `moodlens.fine_long_side`). */
  readonly fineLongSide?: number;
  /** Threads ONNX Runtime uses inside one inference (default 1, as the other Node model loaders). */
  readonly intraOpNumThreads?: number;
}

/**
 * Loads the learned face detector (issue 21) from an ONNX file (default: the shipped
 * `models/detector/face-detector.onnx`, {@link DEFAULT_CNN_DETECTOR_PATH}) with onnxruntime-node. The
 * metadata is checked first: an emotion or landmark model given by mistake is named as such.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the path and what was wrong (no file, not ONNX,
 *   not a MoodLens face detector, a graph without the detector's input and outputs).
 */
export async function loadCnnFaceDetector(
  modelPath: string = DEFAULT_CNN_DETECTOR_PATH,
  options: LoadCnnFaceDetectorOptions = {},
): Promise<CnnFaceDetector> {
  return cnnFaceDetectorFromBytes(await readModelFile(modelPath), modelPath, options);
}

/** {@link loadCnnFaceDetector} from the model's bytes, already read; `modelPath` names it in messages. */
export async function cnnFaceDetectorFromBytes(
  bytes: Uint8Array,
  modelPath: string,
  options: LoadCnnFaceDetectorOptions = {},
): Promise<CnnFaceDetector> {
  const { intraOpNumThreads = 1, ...detectOptions } = options;
  if (!Number.isInteger(intraOpNumThreads) || intraOpNumThreads < 1) {
    throw new RangeError(
      `Expected a positive integer for intraOpNumThreads but received ${String(intraOpNumThreads)}`,
    );
  }
  const { metadata } = readOnnxMetadata(bytes, modelPath); // coded error for bytes that are not ONNX
  parseCnnDetectorMetadata(metadata, modelPath);
  const backend = await OrtDetectorBackend.open(() => import('onnxruntime-node'), bytes, modelPath, {
    intraOpNumThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  try {
    return CnnFaceDetector.create({ backend, metadata, source: modelPath, ...detectOptions });
  } catch (error) {
    await backend.dispose();
    throw error;
  }
}
