import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { modelQualityFromCard, type ModelQuality } from '../../report/report.js';
import { DEFAULT_EMOTION_MODEL_PATH, resolveEmotionModelPath } from './emotion-model.js';

/** The machine-readable model card beside a model: `emotion.onnx` -> `emotion.json`. */
export function modelCardPath(modelPath: string = DEFAULT_EMOTION_MODEL_PATH): string {
  return join(dirname(modelPath), `${basename(modelPath, extname(modelPath))}.json`);
}

/**
 * The measured quality of an emotion model, read from its card (models/emotion/emotion.json for the
 * shipped model), or undefined when the model has no readable card (a custom model): reports then say
 * the accuracy is unknown rather than showing another model's figures.
 */
export async function loadModelQuality(
  modelPath: string = DEFAULT_EMOTION_MODEL_PATH,
): Promise<ModelQuality | undefined> {
  const path = resolveEmotionModelPath(modelPath);
  let card: unknown;
  try {
    card = JSON.parse(await readFile(modelCardPath(path), 'utf8'));
  } catch {
    return undefined;
  }
  const arch = (card as { arch?: { arch?: unknown } } | null)?.arch?.arch;
  const name = `${basename(path)}${typeof arch === 'string' ? ` (${arch.replace(/_/g, ' ')})` : ''}`;
  return modelQualityFromCard(card, name);
}
