import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EmotionClassifier } from '../../emotion/classifier.js';
import { OnnxNodeBackend, type OnnxNodeBackendOptions } from './onnx-backend.js';

/** The shipped emotion model; resolved from the package, never from the working directory. */
export const DEFAULT_EMOTION_MODEL_PATH = fileURLToPath(
  new URL('../../../../models/emotion/emotion.onnx', import.meta.url),
);

/** The shipped accurate model: an ensemble with test-time views in one graph, ~35x slower than the default. */
export const ACCURATE_EMOTION_MODEL_PATH = fileURLToPath(
  new URL('../../../../models/emotion/emotion-ensemble.onnx', import.meta.url),
);

/** The names `--model` accepts for the shipped models, besides a file path. */
export const SHIPPED_EMOTION_MODELS: Readonly<Record<'default' | 'accurate', string>> = {
  default: DEFAULT_EMOTION_MODEL_PATH,
  accurate: ACCURATE_EMOTION_MODEL_PATH,
};

/**
 * A model path from `--model`: nothing means the default model, `default` or `accurate` a shipped model
 * (a file of that very name in the working directory wins), anything else is a path.
 */
export function resolveEmotionModelPath(value: string | undefined): string {
  if (value === undefined) return DEFAULT_EMOTION_MODEL_PATH;
  if ((value === 'default' || value === 'accurate') && !existsSync(value))
    return SHIPPED_EMOTION_MODELS[value];
  return value;
}

export interface LoadEmotionClassifierOptions extends OnnxNodeBackendOptions {
  /** Faces per inference call (default 32). */
  readonly batchSize?: number;
  /** Average each face with its mirror image (test-time augmentation; default false). */
  readonly flipAverage?: boolean;
}

/**
 * Loads an emotion classifier from an ONNX model file (default: the shipped model; `default` and `accurate`
 * name the shipped ones, see `resolveEmotionModelPath`) with onnxruntime-node.
 * Labels, input size and pixel scaling come from the model's own metadata.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the path and what was wrong.
 */
export async function loadEmotionClassifier(
  modelPath: string = DEFAULT_EMOTION_MODEL_PATH,
  options: LoadEmotionClassifierOptions = {},
): Promise<EmotionClassifier> {
  const { batchSize, flipAverage, ...backendOptions } = options;
  const path = resolveEmotionModelPath(modelPath);
  const backend = await OnnxNodeBackend.load(path, backendOptions);
  try {
    return await EmotionClassifier.create({
      backend,
      metadata: backend.model.metadata,
      source: path,
      batchSize,
      flipAverage,
    });
  } catch (error) {
    await backend.dispose();
    throw error;
  }
}
