import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { parseEmotionModelMetadata } from '../emotion/classifier.js';
import type { Emotion } from '../emotion/labels.js';
import { readOnnxMetadata } from '../emotion/onnx-metadata.js';
import { parseEnhanceModelMetadata } from '../enhance/model-info.js';
import { parseCnnDetectorMetadata } from '../detect/cnn/model-info.js';
import { DEFAULT_DETECTOR, type DetectorKind } from '../detect/detector-kind.js';
import { readCascadeFile } from '../io/node/cascade-file.js';
import { DEFAULT_CNN_DETECTOR_PATH } from '../io/node/cnn-detector-model.js';
import { DEFAULT_ENHANCE_MODEL_PATH, shippedSpecialists } from '../io/node/enhance-model.js';
import {
  DEFAULT_LANDMARK_MODEL_PATH,
  hasDefaultLandmarkModel,
  loadAlignmentTemplate,
} from '../io/node/landmark-model.js';
import { readModelFile } from '../io/node/onnx-backend.js';
import { parseLandmarkModelMetadata } from '../landmarks/model-info.js';
import type { AnalyzeWorkerInit, ModelBytes, WorkerDetector } from './protocol.js';

/** One model as `GET /v1/models` describes it. File names only: never a server path. */
export interface ModelDescription {
  readonly name: string;
  readonly task: 'emotion-classification' | 'face-detection' | 'face-landmarks' | 'face-super-resolution';
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
  /** Stages left out because their shipped model is not installed, one line each, for the start log. */
  readonly notes: readonly string[];
}

/**
 * The landmark, alignment and super-resolution stages' files. A path given must load; left out, the
 * shipped file is used when installed, else the stage is off (as with `moodlens analyze`); false: off.
 */
export interface StagePaths {
  /** The face detector (default {@link DEFAULT_DETECTOR}); `cnn` reads `detectorModelPath`, not the cascade. */
  readonly detector?: DetectorKind;
  /** cnn: the learned detector's model (default: the shipped `models/detector/face-detector.onnx`). */
  readonly detectorModelPath?: string;
  /** cnn: the score threshold (default: the model's `moodlens.score_threshold`). */
  readonly minScore?: number;
  readonly landmarkModelPath?: string | false;
  readonly templatePath?: string;
  readonly enhanceModelPath?: string | false;
}

/**
 * Reads the emotion model, the face detector (the cascade, or with `detector: 'cnn'` the learned
 * detector's model) and, as `moodlens analyze` does, the landmark model, alignment
 * template and super-resolution model once, for the workers and for `GET /v1/models`. The models'
 * metadata is checked here, so a wrong model fails the start before any worker is spawned.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` (model), `MOODLENS_ERR_FILE_NOT_FOUND` /
 *   `MOODLENS_ERR_NOT_A_FILE` (cascade).
 */
export async function loadModels(
  modelPath: string,
  cascadePath: string,
  stages: StagePaths = {},
): Promise<LoadedModels> {
  const modelBytes = await readModelFile(modelPath);
  const onnx = readOnnxMetadata(modelBytes, modelPath);
  const info = parseEmotionModelMetadata(onnx.metadata, modelPath);

  const card = await readModelCard(modelPath);
  const accuracy = {
    ...(info.valAccuracy === undefined ? {} : { validation: info.valAccuracy }),
    ...card?.accuracy,
  };
  const emotion: ModelDescription = {
    ...describeOnnx(modelPath, modelBytes, 'emotion-classification', onnx.metadata),
    ...(info.arch === undefined ? {} : { arch: info.arch }),
    labels: info.labels,
    inputSize: info.inputSize,
    ...(onnx.opsetVersion === undefined ? {} : { opset: onnx.opsetVersion }),
    ...onnxCounts(onnx.metadata),
    ...(Object.keys(accuracy).length === 0 ? {} : { accuracy }),
    ...(card === undefined ? {} : { card: card.file }),
  };
  const { detector, detectorInit } = await readDetector(cascadePath, stages);

  const notes: string[] = [];
  const descriptions = [emotion, detector];
  const landmarkPath = stagePath(
    stages.landmarkModelPath,
    DEFAULT_LANDMARK_MODEL_PATH,
    hasDefaultLandmarkModel(),
  );
  let landmarks: AnalyzeWorkerInit['landmarks'];
  if (landmarkPath !== undefined) {
    const model = await readStageModel(landmarkPath, 'face-landmarks', parseLandmarkModelMetadata);
    landmarks = { ...model.bytes, template: await loadAlignmentTemplate(stages.templatePath) };
    descriptions.push(model.description);
  } else if (stages.landmarkModelPath === undefined) {
    notes.push(
      `no landmark model at ${DEFAULT_LANDMARK_MODEL_PATH}: faces are classified from their box crop, unaligned`,
    );
  }
  const enhancePath = stagePath(
    stages.enhanceModelPath,
    DEFAULT_ENHANCE_MODEL_PATH,
    existsSync(DEFAULT_ENHANCE_MODEL_PATH),
  );
  let enhance: AnalyzeWorkerInit['enhance'];
  if (enhancePath !== undefined) {
    const model = await readStageModel(enhancePath, 'face-super-resolution', parseEnhanceModelMetadata);
    // the shipped model brings its installed specialists, as loadFaceEnhancer does; another file runs alone
    const specialists: ModelBytes[] = [];
    for (const path of shippedSpecialists(enhancePath)) {
      specialists.push(
        (await readStageModel(path, 'face-super-resolution', parseEnhanceModelMetadata)).bytes,
      );
    }
    enhance = { ...model.bytes, specialists };
    descriptions.push(model.description);
  } else if (stages.enhanceModelPath === undefined) {
    notes.push(
      `no super-resolution model at ${DEFAULT_ENHANCE_MODEL_PATH}: small faces are classified without FSRNet`,
    );
  }
  return {
    init: {
      modelBytes,
      modelSource: modelPath,
      detector: detectorInit,
      ...(landmarks === undefined ? {} : { landmarks }),
      ...(enhance === undefined ? {} : { enhance }),
    },
    descriptions,
    notes,
  };
}

/** The face detector the workers build, and its description: the cascade, or the learned detector's model. */
async function readDetector(
  cascadePath: string,
  stages: StagePaths,
): Promise<{ detector: ModelDescription; detectorInit: WorkerDetector }> {
  if ((stages.detector ?? DEFAULT_DETECTOR) === 'cnn') {
    const path = stages.detectorModelPath ?? DEFAULT_CNN_DETECTOR_PATH;
    // The metadata is checked here: an emotion model given by mistake fails the start, named as such.
    const model = await readStageModel(path, 'face-detection', parseCnnDetectorMetadata);
    return {
      detector: { ...model.description, arch: model.description.arch ?? 'cnn-face-detector' },
      detectorInit: {
        kind: 'cnn',
        ...model.bytes,
        ...(stages.minScore === undefined ? {} : { minScore: stages.minScore }),
      },
    };
  }
  const cascadeXml = await readCascadeFile(cascadePath);
  const cascadeBytes = Buffer.from(cascadeXml, 'utf8');
  const cascadeHash = sha256(cascadeBytes);
  return {
    detector: {
      name: basename(cascadePath, extname(cascadePath)),
      task: 'face-detection',
      file: basename(cascadePath),
      version: `sha256:${cascadeHash.slice(0, 12)}`,
      sha256: cascadeHash,
      bytes: cascadeBytes.length,
      arch: /<featureType>\s*LBP\s*<\/featureType>/i.test(cascadeXml) ? 'lbp-cascade' : 'haar-cascade',
    },
    detectorInit: { kind: 'haar', cascadeXml, cascadeSource: cascadePath },
  };
}

/** The file a stage loads: the one given, else the shipped one when installed; undefined: the stage is off. */
function stagePath(
  given: string | false | undefined,
  shipped: string,
  installed: boolean,
): string | undefined {
  if (given === false) return undefined;
  return given ?? (installed ? shipped : undefined);
}

/** Reads a landmark or super-resolution model, checks its metadata (a wrong model fails the start) and describes it. */
async function readStageModel(
  path: string,
  task: ModelDescription['task'],
  checkMetadata: (metadata: Readonly<Record<string, string>>, origin: string) => unknown,
): Promise<{ bytes: ModelBytes; description: ModelDescription }> {
  const bytes = await readModelFile(path);
  const onnx = readOnnxMetadata(bytes, path);
  checkMetadata(onnx.metadata, path);
  const inputSize = positiveInteger(onnx.metadata['moodlens.input_size']);
  const arch = onnx.metadata['moodlens.arch'];
  const card = await readModelCard(path);
  return {
    bytes: { bytes, source: path },
    description: {
      ...describeOnnx(path, bytes, task, onnx.metadata),
      ...(arch ? { arch } : {}),
      ...(inputSize === undefined ? {} : { inputSize }),
      ...(onnx.opsetVersion === undefined ? {} : { opset: onnx.opsetVersion }),
      ...onnxCounts(onnx.metadata),
      ...(card === undefined ? {} : { card: card.file }),
    },
  };
}

/** Name, task, file, version, hash and size of a model file. */
function describeOnnx(
  path: string,
  bytes: Uint8Array,
  task: ModelDescription['task'],
  metadata: Readonly<Record<string, string>>,
): Pick<ModelDescription, 'name' | 'task' | 'file' | 'version' | 'sha256' | 'bytes'> {
  const hash = sha256(bytes);
  return {
    name: basename(path, extname(path)),
    task,
    file: basename(path),
    version: metadata['moodlens.version'] || `sha256:${hash.slice(0, 12)}`,
    sha256: hash,
    bytes: bytes.length,
  };
}

/** `params` and `epoch` from a model's MoodLens metadata, when given. */
function onnxCounts(metadata: Readonly<Record<string, string>>): Pick<ModelDescription, 'params' | 'epoch'> {
  const params = positiveInteger(metadata['moodlens.params']);
  const epoch = positiveInteger(metadata['moodlens.epoch']);
  return { ...(params === undefined ? {} : { params }), ...(epoch === undefined ? {} : { epoch }) };
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
