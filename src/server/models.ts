import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { parseEmotionModelMetadata } from '../emotion/classifier.js';
import type { Emotion } from '../emotion/labels.js';
import { readOnnxMetadata } from '../emotion/onnx-metadata.js';
import { readCascadeFile } from '../io/node/cascade-file.js';
import { readModelFile } from '../io/node/onnx-backend.js';
import type { AnalyzeWorkerInit } from './protocol.js';

/** One model as `GET /v1/models` describes it. File names only: never a server path. */
export interface ModelDescription {
  readonly name: string;
  readonly task: 'emotion-classification' | 'face-detection';
  readonly file: string;
  /** `moodlens.version` from the model's metadata when given, else `sha256:` and 12 hex digits of its bytes. */
  readonly version: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly arch?: string;
  readonly labels?: readonly Emotion[];
  readonly inputSize?: number;
  readonly opset?: number;
  readonly params?: number;
  readonly epoch?: number;
  /**
   * Measured accuracy, 0-1: `validation` from the model's ONNX metadata (`moodlens.val_accuracy`),
   * `publicTest`/`privateTest`/`publicTestFlipTta` from the model card beside the model file, each only
   * when known.
   */
  readonly accuracy?: Readonly<CardAccuracy> & { readonly validation?: number };
  /** The model card's file name, when one lies beside the model. */
  readonly card?: string;
}

export interface LoadedModels {
  readonly init: Omit<AnalyzeWorkerInit, 'recycleAboveBytes'>;
  readonly descriptions: readonly ModelDescription[];
}

/**
 * Reads the emotion model and the cascade once, for the workers and for `GET /v1/models`. The model's
 * metadata is checked here, so a wrong model fails the start before any worker is spawned.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` (model), `MOODLENS_ERR_FILE_NOT_FOUND` /
 *   `MOODLENS_ERR_NOT_A_FILE` (cascade).
 */
export async function loadModels(modelPath: string, cascadePath: string): Promise<LoadedModels> {
  const modelBytes = await readModelFile(modelPath);
  const onnx = readOnnxMetadata(modelBytes, modelPath);
  const info = parseEmotionModelMetadata(onnx.metadata, modelPath);
  const cascadeXml = await readCascadeFile(cascadePath);

  const modelHash = sha256(modelBytes);
  const card = await readModelCard(modelPath);
  const accuracy = {
    ...(info.valAccuracy === undefined ? {} : { validation: info.valAccuracy }),
    ...card?.accuracy,
  };
  const params = positiveInteger(onnx.metadata['moodlens.params']);
  const epoch = positiveInteger(onnx.metadata['moodlens.epoch']);
  const emotion: ModelDescription = {
    name: basename(modelPath, extname(modelPath)),
    task: 'emotion-classification',
    file: basename(modelPath),
    version: onnx.metadata['moodlens.version'] || `sha256:${modelHash.slice(0, 12)}`,
    sha256: modelHash,
    bytes: modelBytes.length,
    ...(info.arch === undefined ? {} : { arch: info.arch }),
    labels: info.labels,
    inputSize: info.inputSize,
    ...(onnx.opsetVersion === undefined ? {} : { opset: onnx.opsetVersion }),
    ...(params === undefined ? {} : { params }),
    ...(epoch === undefined ? {} : { epoch }),
    ...(Object.keys(accuracy).length === 0 ? {} : { accuracy }),
    ...(card === undefined ? {} : { card: card.file }),
  };
  const cascadeBytes = Buffer.from(cascadeXml, 'utf8');
  const cascadeHash = sha256(cascadeBytes);
  const detector: ModelDescription = {
    name: basename(cascadePath, extname(cascadePath)),
    task: 'face-detection',
    file: basename(cascadePath),
    version: `sha256:${cascadeHash.slice(0, 12)}`,
    sha256: cascadeHash,
    bytes: cascadeBytes.length,
    arch: /<featureType>\s*LBP\s*<\/featureType>/i.test(cascadeXml) ? 'lbp-cascade' : 'haar-cascade',
  };
  return {
    init: { modelBytes, modelSource: modelPath, cascadeXml, cascadeSource: cascadePath },
    descriptions: [emotion, detector],
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function positiveInteger(text: string | undefined): number | undefined {
  return text !== undefined && /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : undefined;
}

/** What a model card states, 0-1: FER-2013 PublicTest/PrivateTest top-1, and PublicTest with flip TTA. */
export interface CardAccuracy {
  publicTest?: number;
  privateTest?: number;
  publicTestFlipTta?: number;
}

/** Model card names looked for beside `<stem>.onnx`, first found wins. */
export function modelCardCandidates(modelPath: string): string[] {
  const dir = dirname(modelPath);
  const stem = basename(modelPath, extname(modelPath));
  return [
    `${stem}.card.json`,
    `${stem}.card.md`,
    `${stem}.md`,
    'MODEL_CARD.md',
    'MODEL-CARD.md',
    'README.md',
  ].map((name) => join(dir, name));
}

const MAX_CARD_BYTES = 1024 * 1024;

/**
 * The model card beside the model, and the accuracies it states. A JSON card gives them as
 * `accuracy: {publicTest, privateTest, publicTestFlipTta}` (0-1, or percentages); a Markdown card as the
 * first percentage on the first line naming the split and accuracy (`| **PublicTest accuracy** | **71.23%** |`
 * as training/moodlens_train/card.py writes it, or a `| PublicTest | 71.3% |` row under an accuracy
 * heading), and the flip-TTA figure from the `--flip-tta` line after it.
 */
export async function readModelCard(
  modelPath: string,
): Promise<{ file: string; accuracy: CardAccuracy } | undefined> {
  for (const path of modelCardCandidates(modelPath)) {
    const info = await stat(path).catch(() => undefined);
    if (info === undefined || !info.isFile() || info.size > MAX_CARD_BYTES) continue;
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const accuracy = path.endsWith('.json') ? jsonCardAccuracy(text) : markdownCardAccuracy(text);
    return { file: basename(path), accuracy };
  }
  return undefined;
}

function jsonCardAccuracy(text: string): CardAccuracy {
  let card: unknown;
  try {
    card = JSON.parse(text);
  } catch {
    return {};
  }
  const accuracy = (card as { accuracy?: Record<string, unknown> } | null)?.accuracy;
  if (typeof accuracy !== 'object' || accuracy === null) return {};
  const out: CardAccuracy = {};
  for (const key of ['publicTest', 'privateTest', 'publicTestFlipTta'] as const) {
    const value = fraction(accuracy[key]);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function markdownCardAccuracy(text: string): CardAccuracy {
  const out: CardAccuracy = {};
  const lines = text.split('\n');
  let accuracySection = false;
  for (const line of lines) {
    if (/^#+\s/.test(line)) accuracySection = /accura/i.test(line);
    for (const [key, pattern] of [
      ['publicTest', /public\s*test/i],
      ['privateTest', /private\s*test/i],
    ] as const) {
      if (out[key] !== undefined || !pattern.test(line)) continue;
      if (!accuracySection && !/accura|top-1/i.test(line)) continue;
      const percent = /(\d{1,3}(?:\.\d+)?)\s*%/.exec(line);
      if (percent !== null) out[key] = fraction(Number(percent[1]));
    }
    // The generated card (training/moodlens_train/card.py) adds a `| with `--flip-tta` | 72.10% |` row.
    if (out.publicTestFlipTta === undefined && /flip-tta/i.test(line) && out.publicTest !== undefined) {
      const percent = /(\d{1,3}(?:\.\d+)?)\s*%/.exec(line);
      if (percent !== null) out.publicTestFlipTta = fraction(Number(percent[1]));
    }
  }
  return out;
}

/** 0-1 kept, 1-100 read as a percentage; anything else dropped. */
function fraction(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) return undefined;
  return value > 1 ? Number((value / 100).toFixed(6)) : value;
}
