import { MoodLensError } from '../core/errors.js';
import { PIXEL_SCALINGS, type PixelScaling } from './preprocess.js';

/**
 * Reads the `moodlens.*` entries of a model's ONNX metadata for one kind of model (landmarks,
 * super-resolution), failing with `MOODLENS_ERR_MODEL_LOAD` messages that name the model, the key and
 * what arrived. Each model kind's parser keeps its own rules; this holds the checks they share.
 */
export class MetadataFields {
  constructor(
    private readonly metadata: Readonly<Record<string, string>>,
    /** Starts every message, e.g. `Landmark model m.onnx`. */
    private readonly prefix: string,
    /** The training script that writes this metadata, named when an entry is missing. */
    private readonly exporter: string,
  ) {}

  fail(message: string): MoodLensError {
    return new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `${this.prefix}: ${message}`);
  }

  /** The entry's value, or undefined when absent. */
  get(key: string): string | undefined {
    return Object.hasOwn(this.metadata, key) ? this.metadata[key] : undefined;
  }

  /** The entry's value; absent or empty is an error listing the keys found. */
  required(key: string): string {
    const value = this.get(key);
    if (value === undefined || value === '') {
      const keys = Object.keys(this.metadata);
      throw this.fail(
        `its ONNX metadata has no '${key}' entry (found: ${keys.length > 0 ? keys.join(', ') : 'no metadata'}); ` +
          `export it with ${this.exporter}`,
      );
    }
    return value;
  }

  /**
   * Checks `moodlens.task`; another task, or none, is an error that says what the model is instead
   * (emotion models carry labels and no task).
   */
  expectTask(task: string, kind: string): void {
    const found = this.get('moodlens.task');
    if (found === task) return;
    const what =
      found !== undefined
        ? `'moodlens.task' is '${found}'`
        : this.get('moodlens.labels') !== undefined
          ? "it has no 'moodlens.task' entry but emotion labels: it is an emotion model"
          : "it has no 'moodlens.task' entry";
    throw this.fail(`expected ${kind} ('moodlens.task' = '${task}') but ${what}`);
  }

  /** `moodlens.input_size`: an integer from 8 to 1024. */
  inputSize(): number {
    const text = this.required('moodlens.input_size');
    const size = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(size >= 8 && size <= 1024)) {
      throw this.fail(`expected an integer from 8 to 1024 for 'moodlens.input_size' but received '${text}'`);
    }
    return size;
  }

  /** A required decimal number from `min` to `max`. */
  numberIn(key: string, min: number, max: number): number {
    const text = this.required(key);
    const value = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
    if (!(value >= min && value <= max)) {
      throw this.fail(`expected a number from ${min} to ${max} for '${key}' but received '${text}'`);
    }
    return value;
  }

  /** `moodlens.scaling` (default v1): one of {@link PIXEL_SCALINGS}. */
  scaling(): PixelScaling {
    const scaling = this.get('moodlens.scaling') ?? 'v1';
    if (!(PIXEL_SCALINGS as readonly string[]).includes(scaling)) {
      throw this.fail(
        `expected ${PIXEL_SCALINGS.join(' or ')} for 'moodlens.scaling' but received '${scaling}'`,
      );
    }
    return scaling as PixelScaling;
  }

  /** `moodlens.preprocessing`, when given, must be the one chain MoodLens implements for this kind. */
  expectPreprocessing(supported: string): void {
    const preprocessing = this.get('moodlens.preprocessing');
    if (preprocessing !== undefined && preprocessing !== supported) {
      throw this.fail(
        `MoodLens implements the preprocessing '${supported}' but the model asks for '${preprocessing}'`,
      );
    }
  }
}

/**
 * Checks that a model's input (its shape after the batch dimension, as the backend reports it) is one gray
 * `size` x `size` image, as its metadata's `moodlens.input_size` says.
 * @param prefix starts the message, e.g. `Landmark model m.onnx`.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the shape found and the one expected.
 */
export function expectSquareGrayInput(shape: readonly number[], size: number, prefix: string): void {
  if (shape.length !== 3 || shape[0] !== 1 || shape[1] !== size || shape[2] !== size) {
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `${prefix}: its input is [N, ${shape.join(', ')}] but its metadata says ` +
        `'moodlens.input_size' ${size}: expected [N, 1, ${size}, ${size}]`,
    );
  }
}
