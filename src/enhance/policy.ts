import type { Box } from '../core/image.js';

/**
 * Which faces the enhance stage restores before classification. `auto`: faces whose box side is below
 * a threshold (default {@link DEFAULT_ENHANCE_BELOW}); `always`: every face; `never`: none (no stage).
 */
export type EnhanceMode = 'auto' | 'always' | 'never';

export const ENHANCE_MODES: readonly EnhanceMode[] = ['auto', 'always', 'never'];

/**
 * Faces whose box side (pixels) is below this are restored by FSRNet under `auto`. Measured with
 * `npm run study:enhance`: all 3,589 PublicTest faces shrunk to each size (blur + area average), then
 * classified through the plain path (the classifier's own enlargement) and through FSRNet. With the
 * shipped model (trained with the emotion loss), FSRNet gained 20.9, 19.9, 14.7 and 9.6 points at 12, 16,
 * 20 and 24 px, then 8.3, 5.3, 2.7 and 1.1 at 26, 28, 30 and 32 px, and lost from 34 px on (-0.5 at 34,
 * -2.5 at 40, -5.0 at 48 px, where it can only damage a clean face); the checkpoint trained on pixels and
 * priors alone crossed over at the same place (+0.7 at 32, -0.5 at 34 px). The Haar
 * cascade finds faces from 24 px, so in practice faces of 24 to 33 px are restored. Re-run the study when
 * the model changes.
 */
export const DEFAULT_ENHANCE_BELOW = 34;

/** The side of a face box: its longer side (Haar boxes are square). */
export function faceSide(box: Box): number {
  return Math.max(box.width, box.height);
}

/** Whether a face with this box is restored under a threshold `below` (Infinity: every face). */
export function shouldEnhance(box: Box, below: number): boolean {
  return faceSide(box) < below;
}

/** The pipeline's `enhanceBelow` for a mode: Infinity under `always` (every face), else `below`. */
export function enhanceThreshold(mode: EnhanceMode, below: number): number {
  return mode === 'always' ? Infinity : below;
}
