import type { Box, GrayImage } from '../core/image.js';
import { cropFace, faceCropSquare } from '../emotion/preprocess.js';
import type { LandmarkModelInfo } from './model-info.js';
import type { Point } from './points.js';

/**
 * The landmark model's input crop, made exactly as training makes it
 * (training/moodlens_train/landmark_data.py `run_time_crop`): the Haar box moved down by `cropShift` of
 * its height (the cascade's box sits high: it cuts the chin and holds the brows), squared with
 * `cropMargin` on every side as `faceCropSquare` does, cut with edge replication, area-resized to the
 * input size and histogram-equalized. Pure and browser-safe.
 */

/** The crop geometry of a model: the fields of {@link LandmarkModelInfo} the crop needs. */
export type LandmarkCropGeometry = Pick<LandmarkModelInfo, 'inputSize' | 'cropMargin' | 'cropShift'>;

/** The box moved down by `cropShift` of its height. */
export function shiftedBox(box: Box, geometry: LandmarkCropGeometry): Box {
  return { ...box, y: box.y + geometry.cropShift * box.height };
}

/** The square, in source pixels (whole numbers; may extend past the image), the model sees for `box`. */
export function landmarkCropSquare(box: Box, geometry: LandmarkCropGeometry): Box {
  return faceCropSquare(shiftedBox(box, geometry), geometry.cropMargin);
}

/** The model's input crop for `box`: `inputSize` x `inputSize`, equalized. */
export function landmarkCrop(gray: GrayImage, box: Box, geometry: LandmarkCropGeometry): GrayImage {
  return cropFace(gray, shiftedBox(box, geometry), {
    margin: geometry.cropMargin,
    size: geometry.inputSize,
    resample: 'area',
    equalize: true,
  });
}

/**
 * Points from the model's crop units (u = 0 at the square's left edge, 1 at its right edge) to image
 * pixels, 0-based pixel centres: `x = x0 + u * side - 0.5`.
 * @param units `2 * n` values `[u0, v0, u1, v1, ...]`.
 */
export function fromCropUnits(units: ArrayLike<number>, square: Box): Point[] {
  const points: Point[] = [];
  for (let i = 0; i + 1 < units.length; i += 2) {
    points.push([square.x + units[i] * square.width - 0.5, square.y + units[i + 1] * square.height - 0.5]);
  }
  return points;
}
