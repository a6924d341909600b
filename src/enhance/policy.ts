import type { Box } from '../core/image.js';

/**
 * Which faces the enhance stage restores before classification. `auto`: faces whose box side is below
 * a threshold (default {@link DEFAULT_ENHANCE_BELOW}); `always`: every face; `never`: none (no stage).
 */
export type EnhanceMode = 'auto' | 'always' | 'never';

export const ENHANCE_MODES: readonly EnhanceMode[] = ['auto', 'always', 'never'];

/**
 * Faces whose box side (pixels) is below this are restored by FSRNet under `auto`. Measured with
 * `npm run study:enhance` (PublicTest faces shrunk to each size, classified through the plain path and
 * through FSRNet): the smallest size from which on FSRNet no longer beats the plain path.
 */
export const DEFAULT_ENHANCE_BELOW = 32;

/** The side of a face box: its longer side (Haar boxes are square). */
export function faceSide(box: Box): number {
  return Math.max(box.width, box.height);
}

/** Whether a face with this box is restored under a threshold `below` (Infinity: every face). */
export function shouldEnhance(box: Box, below: number): boolean {
  return faceSide(box) < below;
}
