import { MoodLensError } from '../core/errors.js';
import type { GrayImage } from '../core/image.js';
import type { InferenceBackend } from './backend.js';
import { EMOTION_LABELS, isEmotion, type Emotion } from './labels.js';
import { mirrorHorizontal, PIXEL_SCALINGS, toInputTensor, type PixelScaling } from './preprocess.js';

/** The one preprocessing chain MoodLens implements (`src/emotion/preprocess.ts`). */
export const SUPPORTED_PREPROCESSING = 'gray,equalize_hist,resize48';

/** What an emotion model says about itself in its ONNX `metadata_props` (`moodlens.*`). */
export interface EmotionModelInfo {
  /** Class of each logit, in the model's output order (`moodlens.labels`). */
  readonly labels: readonly Emotion[];
  /** Side of the square gray input (`moodlens.input_size`). */
  readonly inputSize: number;
  /** Pixel scaling of the input (`moodlens.scaling`). */
  readonly scaling: PixelScaling;
  /** `moodlens.preprocessing`, checked equal to {@link SUPPORTED_PREPROCESSING}. */
  readonly preprocessing: string;
  /** `moodlens.arch`, when given. */
  readonly arch: string | undefined;
  /** `moodlens.val_accuracy` (0-1) when given and a number. */
  readonly valAccuracy: number | undefined;
}

/** The emotion of one face: the most likely label, its probability, and every label's probability. */
export interface EmotionResult {
  readonly label: Emotion;
  /** Softmax probability of `label`, 0-1. */
  readonly confidence: number;
  /** Softmax probability of each emotion (they sum to 1). */
  readonly scores: Readonly<Record<Emotion, number>>;
}

export interface EmotionClassifierOptions {
  /** Runs the model; the classifier owns it from now on and disposes it. */
  readonly backend: InferenceBackend;
  /** The model's `metadata_props` (from `readOnnxMetadata`): labels, input size, scaling come from here. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Names the model in error messages (a path). Default `'emotion model'`. */
  readonly source?: string;
  /** Faces per inference call, integer >= 1. Default 32. */
  readonly batchSize?: number;
  /**
   * Test-time augmentation: also classify each face mirrored left-right and average the two softmax
   * outputs (emotions are left-right symmetric; costs a second inference). Default false.
   */
  readonly flipAverage?: boolean;
}

export const DEFAULT_EMOTION_BATCH_SIZE = 32;

/**
 * The emotion stage: classifies preprocessed faces (see `cropFace`) with a model whose labels, input size
 * and pixel scaling come from its own metadata, never guessed. Owns its backend: call `dispose()`.
 */
export class EmotionClassifier {
  private disposed = false;

  private constructor(
    private readonly backend: InferenceBackend,
    /** What the model says about itself. */
    readonly info: EmotionModelInfo,
    /** Faces per inference call. */
    readonly batchSize: number,
    private readonly source: string,
    /** Whether `classify` averages each face with its mirror image. */
    readonly flipAverage: boolean,
  ) {}

  /**
   * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` when the metadata lacks a required `moodlens.*` entry or
   *   holds a value MoodLens cannot honour (naming the model, the key and what arrived).
   */
  static async create(options: EmotionClassifierOptions): Promise<EmotionClassifier> {
    const {
      backend,
      metadata,
      source = 'emotion model',
      batchSize = DEFAULT_EMOTION_BATCH_SIZE,
      flipAverage = false,
    } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`Expected a positive integer for batchSize but received ${String(batchSize)}`);
    }
    const info = parseEmotionModelMetadata(metadata, source);
    return Promise.resolve(new EmotionClassifier(backend, info, batchSize, source, flipAverage));
  }

  /** The labels of the logits, in the model's order. */
  get labels(): readonly Emotion[] {
    return this.info.labels;
  }

  /**
   * The raw logits of the faces: `faces.length * labels.length` float32 values, row-major, in the model's
   * label order. Faces must be `inputSize` x `inputSize` gray images, preprocessed by `cropFace`.
   */
  async logits(faces: readonly GrayImage[]): Promise<Float32Array> {
    if (this.disposed) throw new Error(`The emotion classifier for ${this.source} has been disposed`);
    const classes = this.info.labels.length;
    const out = new Float32Array(faces.length * classes);
    for (let start = 0; start < faces.length; start += this.batchSize) {
      const batch = faces.slice(start, start + this.batchSize);
      const input = toInputTensor(batch, this.info.scaling, this.info.inputSize);
      const logits = await this.backend.run(input, batch.length);
      if (logits.length !== batch.length * classes) {
        throw new MoodLensError(
          'MOODLENS_ERR_MODEL_LOAD',
          `The model ${this.source} returned ${logits.length} values for ${batch.length} faces; ` +
            `expected ${batch.length * classes} (${classes} labels each)`,
        );
      }
      out.set(logits, start * classes);
    }
    return out;
  }

  /**
   * The emotion of each face (same order), by softmax of the model's logits (averaged with the mirrored
   * face's when `flipAverage` is on).
   */
  async classify(faces: readonly GrayImage[]): Promise<EmotionResult[]> {
    const { labels } = this.info;
    const n = labels.length;
    const logits = await this.logits(faces);
    const mirrored = this.flipAverage ? await this.logits(faces.map(mirrorHorizontal)) : undefined;
    const results: EmotionResult[] = [];
    for (let i = 0; i < faces.length; i++) {
      const probabilities = softmax(logits.subarray(i * n, (i + 1) * n));
      if (mirrored) {
        const other = softmax(mirrored.subarray(i * n, (i + 1) * n));
        for (let k = 0; k < n; k++) probabilities[k] = (probabilities[k] + other[k]) / 2;
      }
      let best = 0;
      for (let k = 1; k < probabilities.length; k++) if (probabilities[k] > probabilities[best]) best = k;
      const scores = {} as Record<Emotion, number>;
      // Always in FER order, whatever the model's order.
      for (const emotion of EMOTION_LABELS) scores[emotion] = probabilities[labels.indexOf(emotion)];
      results.push({ label: labels[best], confidence: probabilities[best], scores });
    }
    return results;
  }

  /** Frees the model. Further calls fail. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.backend.dispose();
  }
}

/** Numerically stable softmax (float64): probabilities that sum to 1. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  const out = new Float64Array(logits.length);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/**
 * Reads and checks the `moodlens.*` metadata of an emotion model.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the model, the key and what arrived.
 */
export function parseEmotionModelMetadata(
  metadata: Readonly<Record<string, string>>,
  source = 'emotion model',
): EmotionModelInfo {
  const fail = (message: string): MoodLensError =>
    new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `Emotion model ${source}: ${message}`);
  const required = (key: string): string => {
    const value = Object.hasOwn(metadata, key) ? metadata[key] : undefined;
    if (value === undefined || value === '') {
      const keys = Object.keys(metadata);
      throw fail(
        `its ONNX metadata has no '${key}' entry (found: ${keys.length > 0 ? keys.join(', ') : 'no metadata'}); ` +
          'export it with training/moodlens_train/export.py',
      );
    }
    return value;
  };

  const labelsText = required('moodlens.labels');
  let parsed: unknown;
  try {
    parsed = JSON.parse(labelsText);
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== EMOTION_LABELS.length ||
    !parsed.every(isEmotion) ||
    new Set(parsed).size !== parsed.length
  ) {
    throw fail(
      `expected 'moodlens.labels' to be a JSON array of the ${EMOTION_LABELS.length} emotions ` +
        `${JSON.stringify(EMOTION_LABELS)} in any order but received ${labelsText}`,
    );
  }
  const labels = parsed;

  const sizeText = required('moodlens.input_size');
  const inputSize = /^\d+$/.test(sizeText) ? Number(sizeText) : Number.NaN;
  if (!(inputSize >= 1)) {
    throw fail(`expected a positive integer for 'moodlens.input_size' but received '${sizeText}'`);
  }

  const scaling = required('moodlens.scaling');
  if (!(PIXEL_SCALINGS as readonly string[]).includes(scaling)) {
    throw fail(`expected ${PIXEL_SCALINGS.join(' or ')} for 'moodlens.scaling' but received '${scaling}'`);
  }

  const preprocessing = required('moodlens.preprocessing');
  if (preprocessing !== SUPPORTED_PREPROCESSING || inputSize !== 48) {
    throw fail(
      `MoodLens implements the preprocessing '${SUPPORTED_PREPROCESSING}' (48x48 input) but the model asks for ` +
        `'${preprocessing}' with input size ${inputSize}`,
    );
  }

  const outputs = metadata['moodlens.outputs'];
  if (outputs !== undefined && outputs !== 'logits') {
    throw fail(
      `expected 'logits' for 'moodlens.outputs' (softmax is applied here) but received '${outputs}'`,
    );
  }

  const accuracy = Number(metadata['moodlens.val_accuracy']);
  return {
    labels,
    inputSize,
    scaling: scaling as PixelScaling,
    preprocessing,
    arch: metadata['moodlens.arch'],
    valAccuracy: Number.isFinite(accuracy) && metadata['moodlens.val_accuracy'] !== '' ? accuracy : undefined,
  };
}
