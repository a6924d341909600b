import { MetadataFields } from '../emotion/metadata-fields.js';
import type { PixelScaling } from '../emotion/preprocess.js';

/** The one input chain MoodLens implements for super-resolution models (`FaceEnhancer.modelInput`). */
export const SUPPORTED_ENHANCE_PREPROCESSING = 'gray,bicubic_a-0.75_half_pixel,round,equalize_hist';

/** What a face super-resolution model says about itself in its ONNX `metadata_props` (`moodlens.*`). */
export interface EnhanceModelInfo {
  /** Side of the square gray input and output (`moodlens.input_size`). */
  readonly inputSize: number;
  /** Pixel scaling of the input (`moodlens.scaling`; default v1 = x / 255). The output is always 0-1. */
  readonly scaling: PixelScaling;
  /** The facial priors the network estimates (`moodlens.priors`), e.g. `landmark_heatmaps_68,parsing_6`. */
  readonly priors: string | undefined;
  /** The integer degradation factors it was trained on (`moodlens.trained_factors`), when given. */
  readonly trainedFactors: readonly number[] | undefined;
  /**
   * The face crops, by their longer side in pixels, that this model was measured to restore best among
   * the models shipped with it (`moodlens.crop_sides`, `LO-HI` inclusive or `LO-` open-ended; written at
   * export from `npm run study:enhance`): routing sends such crops here before the nearest-factor rule.
   */
  readonly cropSides: CropSideRange | undefined;
}

/** An inclusive range of crop sides in pixels; `max` is Infinity when open-ended. */
export interface CropSideRange {
  readonly min: number;
  readonly max: number;
}

/** Whether a crop of this side (its longer side, px) falls in the range. */
export function inCropSides(side: number, range: CropSideRange): boolean {
  return side >= range.min && side <= range.max;
}

/**
 * Reads and checks the `moodlens.*` metadata of a face super-resolution model (written by
 * training/moodlens_train/sr_export.py).
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the model, the key and what arrived: another task
 *   (an emotion or landmark model given as the super-resolution model), a missing or impossible size,
 *   another preprocessing.
 */
export function parseEnhanceModelMetadata(
  metadata: Readonly<Record<string, string>>,
  source = 'super-resolution model',
): EnhanceModelInfo {
  const fields = new MetadataFields(
    metadata,
    `Super-resolution model ${source}`,
    'training/moodlens_train/sr_export.py',
  );
  fields.expectTask('super_resolution', 'a face super-resolution model');
  const inputSize = fields.inputSize();
  const scaling = fields.scaling();
  fields.expectPreprocessing(SUPPORTED_ENHANCE_PREPROCESSING);
  const factorsText = fields.get('moodlens.trained_factors');
  let trainedFactors: number[] | undefined;
  if (factorsText !== undefined) {
    trainedFactors = factorsText.split(',').map((part) => (/^\d+$/.test(part.trim()) ? Number(part) : NaN));
    if (!trainedFactors.every((f) => f >= 2)) {
      throw fields.fail(
        `expected integers >= 2 separated by commas for 'moodlens.trained_factors' but received '${factorsText}'`,
      );
    }
  }
  const sidesText = fields.get('moodlens.crop_sides');
  let cropSides: CropSideRange | undefined;
  if (sidesText !== undefined) {
    const match = /^\s*(\d+)\s*-\s*(\d*)\s*$/.exec(sidesText);
    const min = match ? Number(match[1]) : NaN;
    const max = match ? (match[2] === '' ? Infinity : Number(match[2])) : NaN;
    if (!(min >= 1 && max >= min)) {
      throw fields.fail(
        `expected 'LO-HI' or 'LO-' (pixels, 1 <= LO <= HI) for 'moodlens.crop_sides' but received '${sidesText}'`,
      );
    }
    cropSides = { min, max };
  }
  return { inputSize, scaling, priors: fields.get('moodlens.priors'), trainedFactors, cropSides };
}
