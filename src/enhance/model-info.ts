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
  return { inputSize, scaling, priors: fields.get('moodlens.priors'), trainedFactors };
}
