/**
 * A person's picture for the report: of all their detections, the clearest one (large, sharp, facing the
 * camera), cut with a little room around the box and shrunk to a small square. Pure pixel maths,
 * browser-safe.
 */
import { createImage, type Box, type GrayImage, type Image, type RgbImage } from '../core/image.js';
import type { FaceLandmarks } from '../landmarks/detector.js';
import { innerFacePatch } from './appearance.js';

/** Side of the thumbnail in pixels. */
export const THUMBNAIL_SIZE = 72;
/** Room around the box, as a share of its side on each side (the whole head, not just eyes to mouth). */
const THUMBNAIL_MARGIN = 0.15;
/** Box sides beyond this gain no more score: the thumbnail is small anyway. */
const FULL_SIZE = 160;

/**
 * How good a picture of the face this detection makes, 0 and up: box size (up to FULL_SIZE px), times
 * sharpness (mean absolute Laplacian of the 64x64 inner face, saturating), times how frontal the
 * landmarks say it is (roll and sideways shift of nose and mouth; unreliable or missing landmarks halve
 * the score).
 */
export function thumbnailScore(gray: GrayImage, box: Box, landmarks?: FaceLandmarks): number {
  const side = 64;
  const patch = innerFacePatch(gray, box, side);
  let laplacian = 0;
  for (let y = 1; y < side - 1; y++) {
    for (let x = 1; x < side - 1; x++) {
      const i = y * side + x;
      laplacian += Math.abs(4 * patch[i] - patch[i - 1] - patch[i + 1] - patch[i - side] - patch[i + side]);
    }
  }
  laplacian /= (side - 2) * (side - 2);
  const sharpness = laplacian / (laplacian + 4);
  let frontal = 0.5;
  if (landmarks?.reliability.reliable === true) {
    const { roll, shift } = landmarks.reliability.measures;
    frontal = Math.max(0.1, 1 - Math.abs(roll) / 60 - shift / 1.3);
  }
  return Math.min(box.width, FULL_SIZE) * sharpness * frontal;
}

/** The face with THUMBNAIL_MARGIN around its box, area-averaged to `size` x `size` RGB (edges repeated). */
export function cropThumbnail(image: Image, box: Box, size: number = THUMBNAIL_SIZE): RgbImage {
  const side = Math.max(box.width, box.height) * (1 + 2 * THUMBNAIL_MARGIN);
  const x0 = box.x + box.width / 2 - side / 2;
  const y0 = box.y + box.height / 2 - side / 2;
  const out = new Uint8Array(size * size * 3);
  const channels = image.channels;
  for (let oy = 0; oy < size; oy++) {
    const sy0 = Math.floor(y0 + (oy * side) / size);
    const sy1 = Math.max(sy0 + 1, Math.floor(y0 + ((oy + 1) * side) / size));
    for (let ox = 0; ox < size; ox++) {
      const sx0 = Math.floor(x0 + (ox * side) / size);
      const sx1 = Math.max(sx0 + 1, Math.floor(x0 + ((ox + 1) * side) / size));
      const sum = [0, 0, 0];
      for (let y = sy0; y < sy1; y++) {
        const row = Math.min(image.height - 1, Math.max(0, y)) * image.width;
        for (let x = sx0; x < sx1; x++) {
          const p = (row + Math.min(image.width - 1, Math.max(0, x))) * channels;
          for (let c = 0; c < 3; c++) sum[c] += image.data[p + (channels === 1 ? 0 : c)];
        }
      }
      const n = (sy1 - sy0) * (sx1 - sx0);
      for (let c = 0; c < 3; c++) out[(oy * size + ox) * 3 + c] = Math.round(sum[c] / n);
    }
  }
  return createImage(size, size, 3, out);
}
