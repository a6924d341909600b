import { fileURLToPath } from 'node:url';
import { EmotionClassifier } from '../../emotion/classifier.js';
import { OnnxNodeBackend, type OnnxNodeBackendOptions } from './onnx-backend.js';

/** The shipped emotion model; resolved from the package, never from the working directory. */
export const DEFAULT_EMOTION_MODEL_PATH = fileURLToPath(
  new URL('../../../../models/emotion/emotion.onnx', import.meta.url),
);

export interface LoadEmotionClassifierOptions extends OnnxNodeBackendOptions {
  /** Faces per inference call (default 32). */
  readonly batchSize?: number;
  /** Average each face with its mirror image (test-time augmentation; default false). */
  readonly flipAverage?: boolean;
}

/**
 * Loads an emotion classifier from an ONNX model file (default: the shipped model) with onnxruntime-node.
 * Labels, input size and pixel scaling come from the model's own metadata.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the path and what was wrong.
 */
export async function loadEmotionClassifier(
  modelPath: string = DEFAULT_EMOTION_MODEL_PATH,
  options: LoadEmotionClassifierOptions = {},
): Promise<EmotionClassifier> {
  const { batchSize, flipAverage, ...backendOptions } = options;
  const backend = await OnnxNodeBackend.load(modelPath, backendOptions);
  try {
    return await EmotionClassifier.create({
      backend,
      metadata: backend.model.metadata,
      source: modelPath,
      batchSize,
      flipAverage,
    });
  } catch (error) {
    await backend.dispose();
    throw error;
  }
}
