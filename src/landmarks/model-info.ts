import { MetadataFields } from '../emotion/metadata-fields.js';
import type { PixelScaling } from '../emotion/preprocess.js';
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
  const fields = new MetadataFields(
    metadata,
    `Landmark model ${source}`,
    'training/moodlens_train/landmark_export.py',
  );
  fields.expectTask('landmarks', 'a landmark model');

  const pointsText = fields.required('moodlens.points');
  if (pointsText !== String(LANDMARK_COUNT)) {
    throw fields.fail(
      `MoodLens uses the ${LANDMARK_COUNT}-point iBUG convention but 'moodlens.points' is '${pointsText}'`,
    );
  }
  const inputSize = fields.inputSize();
  const cropMargin = fields.numberIn('moodlens.crop_margin', 0, 2);
  const cropShift = fields.numberIn('moodlens.crop_shift', -1, 1);
  const scaling = fields.scaling();
  fields.expectPreprocessing(SUPPORTED_LANDMARK_PREPROCESSING);
  return { points: LANDMARK_COUNT, inputSize, cropMargin, cropShift, scaling };
}
