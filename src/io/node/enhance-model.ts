import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectSquareGrayInput } from '../../emotion/metadata-fields.js';
import { readOnnxMetadata } from '../../emotion/onnx-metadata.js';
import { FaceEnhancer, loadWithSpecialists } from '../../enhance/face-enhancer.js';
import { parseEnhanceModelMetadata } from '../../enhance/model-info.js';
import { OnnxNodeBackend, readModelFile, type OnnxNodeBackendOptions } from './onnx-backend.js';

/** The shipped face super-resolution model (FSRNet); resolved from the package, never the working directory. */
export const DEFAULT_ENHANCE_MODEL_PATH = fileURLToPath(
  new URL('../../../../models/enhance/fsrnet.onnx', import.meta.url),
);

/**
 * Shipped models for fewer degradation factors, loaded beside the shipped FSRNet as its specialists when
 * installed: `fsrnet-x2.onnx` and `fsrnet-x4.onnx`, fine-tuned on x2 (24x24) and x4 (12x12) faces only
 * (see models/enhance/fsrnet.md).
 */
export const DEFAULT_ENHANCE_SPECIALIST_PATHS: readonly string[] = [
  fileURLToPath(new URL('../../../../models/enhance/fsrnet-x2.onnx', import.meta.url)),
  fileURLToPath(new URL('../../../../models/enhance/fsrnet-x4.onnx', import.meta.url)),
];

/** Whether the shipped super-resolution model is installed (`--enhance auto` restores faces only then). */
export function hasDefaultEnhanceModel(): boolean {
  return existsSync(DEFAULT_ENHANCE_MODEL_PATH);
}

export interface LoadFaceEnhancerOptions extends Omit<OnnxNodeBackendOptions, 'outputName'> {
  /** Faces per inference call (default 32). */
  readonly batchSize?: number;
  /**
   * Model files for fewer degradation factors, each restoring the faces it fits better (see
   * `modelForCrop`). Default: for the shipped model, the shipped specialists that are installed; for
   * any other file, none.
   */
  readonly specialists?: readonly string[];
}

/**
 * Loads the face super-resolution stage from an ONNX model file (default: the shipped FSRNet) with
 * onnxruntime-node. The model's input must be `input` [N, 1, size, size] and its output `output` of the
 * same shape, `size` being its metadata's `moodlens.input_size`.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the path and what was wrong: no file, not an ONNX
 *   model, or another kind of model (an emotion or landmark model given by mistake).
 */
export async function loadFaceEnhancer(
  modelPath: string = DEFAULT_ENHANCE_MODEL_PATH,
  options: LoadFaceEnhancerOptions = {},
): Promise<FaceEnhancer> {
  const { specialists: paths = shippedSpecialists(modelPath), ...rest } = options;
  return loadWithSpecialists(
    paths,
    (path) => loadFaceEnhancer(path, { ...rest, specialists: [] }),
    async (specialists) =>
      faceEnhancerFromBytes(await readModelFile(modelPath), modelPath, { ...rest, specialists }),
  );
}

/** The installed shipped specialists when `modelPath` is the shipped model; none for any other file. */
export function shippedSpecialists(modelPath: string): readonly string[] {
  return resolve(modelPath) === DEFAULT_ENHANCE_MODEL_PATH
    ? DEFAULT_ENHANCE_SPECIALIST_PATHS.filter(existsSync)
    : [];
}

/**
 * {@link loadFaceEnhancer} from the model's bytes, already read (the HTTP service's workers get them from
 * the main thread); `modelPath` names the model in messages.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the path and what was wrong.
 */
export async function faceEnhancerFromBytes(
  bytes: Uint8Array,
  modelPath: string,
  options: Omit<LoadFaceEnhancerOptions, 'specialists'> & {
    readonly specialists?: readonly FaceEnhancer[];
  } = {},
): Promise<FaceEnhancer> {
  const { batchSize, specialists, ...backendOptions } = options;
  // The metadata first: an emotion model given by mistake is named as such, not as a missing output.
  parseEnhanceModelMetadata(readOnnxMetadata(bytes, modelPath).metadata, modelPath);
  const backend = await OnnxNodeBackend.fromBytes(bytes, modelPath, {
    ...backendOptions,
    outputName: 'output',
  });
  try {
    const enhancer = await FaceEnhancer.create({
      backend,
      metadata: backend.model.metadata,
      source: modelPath,
      batchSize,
      specialists,
    });
    expectSquareGrayInput(backend.sampleShape, enhancer.size, `Super-resolution model ${modelPath}`);
    return enhancer;
  } catch (error) {
    await backend.dispose();
    throw error;
  }
}
