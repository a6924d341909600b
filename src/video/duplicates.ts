/**
 * Duplicate face boxes on one face, removed before tracking. The Haar cascade's grouping merges windows
 * of similar size and place only, so a face can come back as two boxes: the whole face and a smaller box
 * on part of it (an eye and the brow, the head turned), or two boxes of different scale. Left in, the
 * second box starts a second track and so a second "person" on the same face. Pure and browser-safe.
 */
import type { Box } from '../core/image.js';

/**
 * Above this share of the smaller box covered by the larger one, two boxes are one face. Two real faces
 * overlap this much only when one hides most of the other's eyes, nose and mouth, and then the frontal
 * cascade cannot see the hidden one at all; the duplicates seen on real frames cover 0.6-1.0 of the smaller
 * box (docs/people-tracking.md).
 */
export const DEFAULT_DUPLICATE_OVERLAP = 0.5;

/** Intersection area divided by the smaller box's area, 0-1 (0 for disjoint or empty boxes). */
export function intersectionOverSmaller(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const smaller = Math.min(a.width * a.height, b.width * b.height);
  return smaller > 0 ? (w * h) / smaller : 0;
}

/**
 * The boxes without duplicates: of every pair whose intersection covers more than `maxOverlap` of the
 * smaller box, only the larger box stays (the whole face rather than a part of it; equal areas keep the
 * earlier box). Largest first, greedily, so a chain of overlaps resolves to the largest boxes. The kept
 * boxes come back in their input order.
 */
export function suppressDuplicateBoxes(
  boxes: readonly Box[],
  maxOverlap: number = DEFAULT_DUPLICATE_OVERLAP,
): Box[] {
  if (!(maxOverlap >= 0 && maxOverlap <= 1)) {
    throw new RangeError(`Expected maxOverlap in 0-1 but received ${String(maxOverlap)}`);
  }
  const order = boxes
    .map((box, index) => ({ box, index, area: box.width * box.height }))
    .sort((a, b) => b.area - a.area || a.index - b.index);
  const kept: typeof order = [];
  for (const candidate of order) {
    if (kept.every((k) => intersectionOverSmaller(k.box, candidate.box) <= maxOverlap)) kept.push(candidate);
  }
  return kept.sort((a, b) => a.index - b.index).map((k) => k.box);
}
