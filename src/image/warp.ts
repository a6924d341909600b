import { createImage, type GrayImage } from '../core/image.js';

/**
 * An affine map of the plane: `x' = a * x + b * y + c`, `y' = d * x + e * y + f`. Points are in pixel
 * coordinates where integers are pixel centres (the landmark convention).
 */
export interface Affine {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
  readonly e: number;
  readonly f: number;
}

/** `m` applied to the point `(x, y)`. */
export function applyAffine(m: Affine, x: number, y: number): [number, number] {
  return [m.a * x + m.b * y + m.c, m.d * x + m.e * y + m.f];
}

/** The inverse map; throws a RangeError when `m` is singular. */
export function invertAffine(m: Affine): Affine {
  const det = m.a * m.e - m.b * m.d;
  if (!Number.isFinite(det) || det === 0) throw new RangeError('The affine map is singular');
  const a = m.e / det;
  const b = -m.b / det;
  const d = -m.d / det;
  const e = m.a / det;
  return { a, b, c: -(a * m.c + b * m.f), d, e, f: -(d * m.c + e * m.f) };
}

/** How much `m` stretches lengths, averaged over both axes: `sqrt(|det|)`. */
export function affineScale(m: Affine): number {
  return Math.sqrt(Math.abs(m.a * m.e - m.b * m.d));
}

export interface WarpOptions {
  /**
   * Samples per output pixel along each axis, averaged (a box prefilter): 1 is plain bilinear sampling.
   * Default: the source pixels one output pixel spans, rounded (`round(1 / scale)`, at least 1, at most
   * 16), so that shrinking a large face averages its pixels as an area resize does instead of skipping
   * most of them.
   */
  readonly supersample?: number;
}

/**
 * Warps a gray image by an affine map: output pixel `(x, y)` takes the source value at `toSource(x, y)`,
 * read bilinearly, with edge pixels replicated beyond the border (as OpenCV's BORDER_REPLICATE). With
 * supersampling `m`, the pixel is the mean of an `m` x `m` grid of such samples spread evenly over its
 * square; the mean is rounded to the nearest level. Pure and browser-safe.
 *
 * @param toSource maps output pixel coordinates to source pixel coordinates (integers = pixel centres).
 */
export function warpAffineGray(
  src: GrayImage,
  toSource: Affine,
  width: number,
  height: number,
  options: WarpOptions = {},
): GrayImage {
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new RangeError(`Expected a positive integer size but received ${String(width)}x${String(height)}`);
  }
  for (const key of ['a', 'b', 'c', 'd', 'e', 'f'] as const) {
    if (!Number.isFinite(toSource[key])) {
      throw new RangeError(
        `Expected a finite number for toSource.${key} but received ${String(toSource[key])}`,
      );
    }
  }
  const m = options.supersample ?? defaultSupersample(toSource);
  if (!Number.isInteger(m) || m < 1 || m > 64) {
    throw new RangeError(`Expected an integer from 1 to 64 for supersample but received ${String(m)}`);
  }
  const { width: sw, height: sh, data } = src;
  const maxX = sw - 1;
  const maxY = sh - 1;
  const { a, b, c, d, e, f } = toSource;
  const out = new Uint8Array(width * height);
  const count = m * m;
  // Offsets of the sub-samples from the pixel centre, in output pixels.
  const offsets = Array.from({ length: m }, (_, k) => (k + 0.5) / m - 0.5);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (const oy of offsets) {
        const py = y + oy;
        for (const ox of offsets) {
          const px = x + ox;
          let sx = a * px + b * py + c;
          let sy = d * px + e * py + f;
          sx = sx < 0 ? 0 : sx > maxX ? maxX : sx;
          sy = sy < 0 ? 0 : sy > maxY ? maxY : sy;
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const x1 = x0 < maxX ? x0 + 1 : maxX;
          const y1 = y0 < maxY ? y0 + 1 : maxY;
          const fx = sx - x0;
          const fy = sy - y0;
          const r0 = y0 * sw;
          const r1 = y1 * sw;
          const top = data[r0 + x0] + (data[r0 + x1] - data[r0 + x0]) * fx;
          const bottom = data[r1 + x0] + (data[r1 + x1] - data[r1 + x0]) * fx;
          sum += top + (bottom - top) * fy;
        }
      }
      out[y * width + x] = Math.round(sum / count);
    }
  }
  return createImage(width, height, 1, out);
}

/** `round(source pixels per output pixel)`, from 1 to 16. */
export function defaultSupersample(toSource: Affine): number {
  return Math.min(16, Math.max(1, Math.round(affineScale(toSource))));
}
