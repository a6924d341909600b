import type { Box, GrayImage, Image } from '../core/image.js';
import { toGray } from '../image/gray.js';
import { applyAffine, warpAffineGray, type Affine } from '../image/warp.js';
import { boxScore } from './cnn/box-detector.js';
import type { DetectOptions } from './options.js';

/**
 * Anything that finds upright faces (the Haar detector, sync, or its worker-thread version, async; the
 * learned detector, whose boxes' `score` the search keeps).
 */
export interface UprightFaceDetector {
  detect(image: Image, options?: DetectOptions): Box[] | Promise<Box[]>;
}

/** A face found by the rotated search: its box in the original image and the copy it was found in. */
export interface RotatedHit {
  readonly box: Box;
  /** The rotation of the image copy (degrees, counter-clockwise on screen) it was found in; 0 upright. */
  readonly searchAngle: number;
}

/** The angles searched besides the upright image, by default. */
export const DEFAULT_SEARCH_ANGLES: readonly number[] = [-30, -15, 15, 30];

/**
 * Rotated search: the frontal Haar cascade finds faces tilted by up to about 15 degrees; this also scans
 * copies of the image turned by each of `angles` (so a face tilted by 30 degrees is upright in one of
 * them), maps each box found back to the original image (its centre through the inverse rotation; the
 * side kept) and merges duplicates: a box whose centre lies within half a side of an already accepted
 * box's centre is the same face, and the upright image's boxes, then the smaller angles', win.
 * Costs one detection per angle on a larger canvas. Works over any detector; the copies are gray (the
 * learned detector then sees gray pixels). Browser-safe.
 */
export class RotatedSearchDetector {
  constructor(
    readonly detector: UprightFaceDetector,
    readonly angles: readonly number[] = DEFAULT_SEARCH_ANGLES,
  ) {
    for (const angle of angles) {
      if (!Number.isFinite(angle) || angle === 0 || Math.abs(angle) > 90) {
        throw new RangeError(`Expected angles from -90 to 90, not 0, but received ${String(angle)}`);
      }
    }
  }

  /** Faces found upright or in a turned copy, as boxes in the original image. */
  async detect(image: Image, options?: DetectOptions): Promise<Box[]> {
    return (await this.detectWithAngles(image, options)).map((hit) => hit.box);
  }

  /** As {@link detect}, also saying in which copy each face was found. */
  async detectWithAngles(image: Image, options?: DetectOptions): Promise<RotatedHit[]> {
    // The upright pass sees the image as given (the learned detector scores colour better); the turned
    // copies are gray, as rotateImage works on one channel.
    const gray = toGray(image);
    const hits: RotatedHit[] = (await this.detector.detect(image, options)).map((box) => ({
      box,
      searchAngle: 0,
    }));
    const order = [...this.angles].sort((a, b) => Math.abs(a) - Math.abs(b) || a - b);
    for (const angle of order) {
      const { image: turned, toOriginal } = rotateImage(gray, angle);
      for (const found of await this.detector.detect(turned, options)) {
        const box = mapBoxBack(found, toOriginal, gray);
        if (!hits.some((hit) => sameFace(hit.box, box))) hits.push({ box, searchAngle: angle });
      }
    }
    return hits;
  }
}

/**
 * The image turned by `angle` degrees counter-clockwise on screen about its centre, on a canvas just large
 * enough to hold all of it (edge pixels replicated into the corners), and the map from the turned canvas's
 * pixel coordinates back to the original's.
 */
export function rotateImage(gray: GrayImage, angle: number): { image: GrayImage; toOriginal: Affine } {
  const rad = (angle * Math.PI) / 180;
  const cos = Math.cos(rad);
  const sin = Math.sin(rad);
  const { width, height } = gray;
  // Less a hair, so that exact quarter turns (cos 90 = 6e-17) do not add a column.
  const outWidth = Math.ceil(Math.abs(width * cos) + Math.abs(height * sin) - 1e-9);
  const outHeight = Math.ceil(Math.abs(width * sin) + Math.abs(height * cos) - 1e-9);
  // Centres in pixel-centre coordinates. A point turned counter-clockwise on screen (y down) by angle:
  // p' = R(-angle) p, so back: p = R(angle) p' = [[cos, -sin], [sin, cos]] p'.
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const ox = (outWidth - 1) / 2;
  const oy = (outHeight - 1) / 2;
  const toOriginal: Affine = {
    a: cos,
    b: -sin,
    c: cx - cos * ox + sin * oy,
    d: sin,
    e: cos,
    f: cy - sin * ox - cos * oy,
  };
  return { image: warpAffineGray(gray, toOriginal, outWidth, outHeight, { supersample: 1 }), toOriginal };
}

/**
 * A box found in a turned copy, as an upright box of the same size about its centre in the original (a
 * learned detector's `score` kept).
 */
function mapBoxBack(box: Box, toOriginal: Affine, original: GrayImage): Box {
  const score = boxScore(box);
  const [cx, cy] = applyAffine(toOriginal, box.x + (box.width - 1) / 2, box.y + (box.height - 1) / 2);
  const x = Math.round(cx - (box.width - 1) / 2);
  const y = Math.round(cy - (box.height - 1) / 2);
  // Keep the box's top-left on the image as the detector's own boxes are (the crop replicates edges).
  return {
    x: Math.min(Math.max(x, 0), original.width - 1),
    y: Math.min(Math.max(y, 0), original.height - 1),
    width: box.width,
    height: box.height,
    ...(score === undefined ? {} : { score }),
  };
}

/** Two boxes of one face: centres closer than half the smaller side. */
function sameFace(a: Box, b: Box): boolean {
  const dx = a.x + a.width / 2 - (b.x + b.width / 2);
  const dy = a.y + a.height / 2 - (b.y + b.height / 2);
  return Math.hypot(dx, dy) < Math.min(a.width, b.width) / 2;
}
