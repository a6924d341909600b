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
 * classified through the plain path (the classifier's own enlargement), a bicubic enlargement and FSRNet.
 * With the shipped models (the distilled classifier; FSRNet fine-tuned with it, and its x2 and x4
 * specialists) FSRNet beat bicubic by 20.4, 17.1, 16.4, 12.9 and 6.2 points at 12, 14, 16, 20 and 24 px,
 * then 3.5 and 0.6 at 28 and 30 px, and lost from 32 px on (-1.5 at 32, -1.0 at 34, -1.9 at 36, -4.9 at
 * 48 px, where it can only damage a clean face). The Haar cascade finds faces from
 * 24 px, so in practice faces of 24 to 31 px are restored. Re-run the study when a model changes.
 */
export const DEFAULT_ENHANCE_BELOW = 32;

/**
 * Faces whose box side (pixels) is below this, and not restored by FSRNet, are enlarged bicubically under
 * `auto` instead of by the classifier's own (bilinear) resize. Measured with `npm run study:enhance` (as
 * above): bicubic beat the plain path at every size under 48 px, by 6.0, 4.9, 4.6, 4.4, 2.6, 2.1, 1.4 and
 * 1.8 points at 24, 28, 30, 32, 34, 36, 40 and 44 px (at 48 px, the classifier's input, both are the face
 * itself). `npm run study:enhance-align` measures the same on turned faces pasted into photos.
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

/** The pipeline's `upscaleBelow` for a mode: only `auto` mixes the ways (`always`: FSRNet for every face; `never`: the plain path). */
export function upscaleThreshold(mode: EnhanceMode, below: number): number {
  return mode === 'auto' ? below : 0;
}

/** The pipeline's `enhanceBelow` for a mode: Infinity under `always` (every face), else `below`. */
export function enhanceThreshold(mode: EnhanceMode, below: number): number {
  return mode === 'always' ? Infinity : below;
}
