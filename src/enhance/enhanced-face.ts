import type { Alignment, FaceAligner } from '../align/aligner.js';
import { composeSimilarity, type Similarity } from '../align/similarity.js';
import type { Box, GrayImage } from '../core/image.js';
import {
  cropFace,
  DEFAULT_CROP_FACE_OPTIONS,
  equalizeHist,
  faceCropSquare,
  type CropFaceOptions,
} from '../emotion/preprocess.js';
import type { FaceLandmarks } from '../landmarks/detector.js';

/**
 * How an enhanced face meets the rest of the pipeline. Pure and browser-safe.
 *
 * The enhancer restores the classifier's own box crop (the square `faceCropSquare` takes for the box) at
 * the resolution the image has, so the restored face frames the face exactly as the classifier's input
 * would. Landmarks are found on the original image as for any face (their points stay in image pixels);
 * the alignment the aligner plans from them is then carried out on the restored face instead of the image:
 * the plan's transform (image to output frame) is composed with the map from the restored face's pixels
 * to image pixels. Where the turned square reaches past the crop, the restored face's edge pixels are
 * repeated. Faces whose landmarks are unreliable are classified as restored, as the box crop would be.
 */

/** The classifier's square crop for `box` at the image's own resolution, not equalized. */
export function nativeFaceCrop(
  gray: GrayImage,
  box: Box,
  margin: number = DEFAULT_CROP_FACE_OPTIONS.margin,
): GrayImage {
  const side = faceCropSquare(box, margin).width;
  return cropFace(gray, box, { margin, size: side, equalize: false });
}

/**
 * The map from a restored face's pixels (`size` x `size`, covering the crop square of `box`) to image
 * pixels, both with integer coordinates at pixel centres.
 */
export function restoredToImage(box: Box, margin: number, size: number): Similarity {
  const square = faceCropSquare(box, margin);
  const k = square.width / size;
  return { a: k, b: 0, tx: square.x + 0.5 * k - 0.5, ty: square.y + 0.5 * k - 0.5 };
}

/** The classifier's input from a restored face, and what the alignment did with it. */
export interface EnhancedClassifierInput {
  /** Equalized, the restored face's size. */
  readonly face: GrayImage;
  /** When an aligner is given. */
  readonly alignment?: Alignment;
}

/**
 * The classifier's input for a restored face: equalized as it is, or, with an aligner and landmarks it
 * accepts, warped by the aligner's plan for the box (see the module comment).
 */
export function enhancedClassifierInput(
  restored: GrayImage,
  box: Box,
  landmarks: FaceLandmarks | undefined,
  aligner: FaceAligner | undefined,
  crop: Omit<CropFaceOptions, 'size'> = {},
): EnhancedClassifierInput {
  if (aligner === undefined) return { face: equalizeHist(restored) };
  const { alignment, transform } = aligner.plan(box, landmarks, crop);
  if (transform === undefined) return { face: equalizeHist(restored), alignment };
  const margin = crop.margin ?? DEFAULT_CROP_FACE_OPTIONS.margin;
  const toFrame = composeSimilarity(transform, restoredToImage(box, margin, restored.width));
  return { face: aligner.warp(restored, toFrame), alignment };
}
