import { MoodLensError } from '../core/errors.js';
import { PIXEL_SCALINGS, type PixelScaling } from '../emotion/preprocess.js';
import { LANDMARK_COUNT } from './points.js';

/** The one landmark preprocessing chain MoodLens implements (`src/landmarks/crop.ts`). */
export const SUPPORTED_LANDMARK_PREPROCESSING =
  'gray,box_shift,square_crop_replicate,area_resize,equalize_hist';

/** What a landmark model says about itself in its ONNX `metadata_props` (`moodlens.*`). */
export interface LandmarkModelInfo {
  /** Points per face (`moodlens.points`): 68. */
  readonly points: number;
  /** Side of the square gray input crop (`moodlens.input_size`). */
  readonly inputSize: number;
  /** Room around the (shifted) box on each side, as a fraction of its longer side (`moodlens.crop_margin`). */
  readonly cropMargin: number;
  /** How far the box is moved down before cropping, as a fraction of its height (`moodlens.crop_shift`). */
  readonly cropShift: number;
  /** Pixel scaling of the input (`moodlens.scaling`; default v1 = x / 255). */
  readonly scaling: PixelScaling;
}

/**
 * Reads and checks the `moodlens.*` metadata of a landmark model (written by
 * training/moodlens_train/landmark_export.py).
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the model, the key and what arrived: another task
 *   (an emotion model given as a landmark model), another point count, a missing or impossible size.
 */
export function parseLandmarkModelMetadata(
  metadata: Readonly<Record<string, string>>,
  source = 'landmark model',
): LandmarkModelInfo {
  const fail = (message: string): MoodLensError =>
    new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `Landmark model ${source}: ${message}`);
  const get = (key: string): string | undefined => (Object.hasOwn(metadata, key) ? metadata[key] : undefined);
  const required = (key: string): string => {
    const value = get(key);
    if (value === undefined || value === '') {
      const keys = Object.keys(metadata);
      throw fail(
        `its ONNX metadata has no '${key}' entry (found: ${keys.length > 0 ? keys.join(', ') : 'no metadata'}); ` +
          'export it with training/moodlens_train/landmark_export.py',
      );
    }
    return value;
  };

  const task = get('moodlens.task');
  if (task !== 'landmarks') {
    const what =
      task !== undefined
        ? `'moodlens.task' is '${task}'`
        : get('moodlens.labels') !== undefined
          ? "it has no 'moodlens.task' entry but emotion labels: it is an emotion model"
          : "it has no 'moodlens.task' entry";
    throw fail(`expected a landmark model ('moodlens.task' = 'landmarks') but ${what}`);
  }

  const pointsText = required('moodlens.points');
  if (pointsText !== String(LANDMARK_COUNT)) {
    throw fail(
      `MoodLens uses the ${LANDMARK_COUNT}-point iBUG convention but 'moodlens.points' is '${pointsText}'`,
    );
  }

  const sizeText = required('moodlens.input_size');
  const inputSize = /^\d+$/.test(sizeText) ? Number(sizeText) : Number.NaN;
  if (!(inputSize >= 8 && inputSize <= 1024)) {
    throw fail(`expected an integer from 8 to 1024 for 'moodlens.input_size' but received '${sizeText}'`);
  }

  const cropMargin = fraction(required('moodlens.crop_margin'), 'moodlens.crop_margin', 0, 2, fail);
  const cropShift = fraction(required('moodlens.crop_shift'), 'moodlens.crop_shift', -1, 1, fail);

  const scaling = get('moodlens.scaling') ?? 'v1';
  if (!(PIXEL_SCALINGS as readonly string[]).includes(scaling)) {
    throw fail(`expected ${PIXEL_SCALINGS.join(' or ')} for 'moodlens.scaling' but received '${scaling}'`);
  }

  const preprocessing = get('moodlens.preprocessing');
  if (preprocessing !== undefined && preprocessing !== SUPPORTED_LANDMARK_PREPROCESSING) {
    throw fail(
      `MoodLens implements the preprocessing '${SUPPORTED_LANDMARK_PREPROCESSING}' but the model asks for ` +
        `'${preprocessing}'`,
    );
  }
  return { points: LANDMARK_COUNT, inputSize, cropMargin, cropShift, scaling: scaling as PixelScaling };
}

function fraction(
  text: string,
  key: string,
  min: number,
  max: number,
  fail: (message: string) => MoodLensError,
): number {
  const value = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw fail(`expected a number from ${min} to ${max} for '${key}' but received '${text}'`);
  }
  return value;
}
