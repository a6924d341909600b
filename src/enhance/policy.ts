import type { Box } from '../core/image.js';
import type { RestoreMethod } from './restore.js';

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
 * shipped model (epoch 13 of the run trained with the emotion loss), FSRNet gained 21.5, 20.7, 15.3 and 9.7
 * points at 12, 16, 20 and 24 px, then 8.8, 5.4, 2.8, 1.3 and 0.4 at 26, 28, 30, 32 and 34 px, and lost
 * from 36 px on (-0.6 at 36, -1.4 at 40, -5.2 at 48 px, where it can only damage a clean face); earlier
 * checkpoints crossed over one step sooner (at 34 px), so the boundary is within noise. The Haar
 * cascade finds faces from 24 px, so in practice faces of 24 to 35 px are restored. Re-run the study when
 * the model changes.
 */
export const DEFAULT_ENHANCE_BELOW = 36;

/**
 * Faces whose box side (pixels) is below this, and not restored by FSRNet, are enlarged bicubically under
 * `auto` instead of by the classifier's own (bilinear) resize. Measured with `npm run study:enhance`:
 * bicubic beat the plain path at every size under 48 px (the classifier's input, where the two are the
 * same face); see the model card (models/enhance/fsrnet.md) for the figures.
 */
export const DEFAULT_UPSCALE_BELOW = 48;

/**
 * The restoration a face with this box gets: FSRNet below `enhanceBelow` when there is an enhancer, else
 * bicubic below `upscaleBelow`, else none.
 */
export function restorationFor(
  box: Box,
  enhanceBelow: number,
  upscaleBelow: number,
  hasEnhancer: boolean,
): RestoreMethod {
  const side = faceSide(box);
  if (hasEnhancer && side < enhanceBelow) return 'fsrnet';
  return side < upscaleBelow ? 'bicubic' : 'none';
}

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
