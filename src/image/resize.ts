import { createImage, type GrayImage } from '../core/image.js';
import { roundHalfEven } from './rounding.js';

/**
 * Bilinear resize of an 8-bit gray image, bit-exact with OpenCV's `resize(..., INTER_LINEAR_EXACT)`:
 * coefficients in 8-bit fixed point, a horizontal pass kept at 1/256 precision and a vertical pass
 * rounded from 1/65536. The cascade detector builds its pyramid with it, so scores match OpenCV's.
 * Like OpenCV, an exact 2x reduction uses the 2x2 box average and an unchanged size is a copy.
 */
export function resizeGrayLinearExact(src: GrayImage, width: number, height: number): GrayImage {
  const out = new Uint8Array(width * height);
  resizeGrayLinearExactInto(src.data, src.width, src.height, out, width, height);
  return createImage(width, height, 1, out);
}

interface AxisTable {
  readonly offset: Int32Array;
  /** Weight of the second sample, 0..256 (the first gets 256 minus it). */
  readonly weight: Int32Array;
}

function axisTable(srcSize: number, dstSize: number): AxisTable {
  const offset = new Int32Array(dstSize);
  const weight = new Int32Array(dstSize);
  const scale = 1 / (dstSize / srcSize);
  for (let d = 0; d < dstSize; d++) {
    const f = scale * (d + 0.5) - 0.5;
    const i = Math.floor(f);
    if (i < 0 || srcSize <= 1) {
      offset[d] = 0;
      weight[d] = 0;
    } else if (i < srcSize - 1) {
      offset[d] = i;
      weight[d] = roundHalfEven((f - i) * 256);
    } else {
      offset[d] = srcSize - 1;
      weight[d] = 0;
    }
  }
  return { offset, weight };
}

/** Writes the resized pixels into `dst` (tightly packed, `dstWidth * dstHeight`). */
export function resizeGrayLinearExactInto(
  src: Uint8Array,
  srcWidth: number,
  srcHeight: number,
  dst: Uint8Array,
  dstWidth: number,
  dstHeight: number,
): void {
  if (srcWidth === dstWidth && srcHeight === dstHeight) {
    dst.set(src.subarray(0, srcWidth * srcHeight));
    return;
  }
  if (dstWidth * 2 === srcWidth && dstHeight * 2 === srcHeight) {
    for (let y = 0; y < dstHeight; y++) {
      const r0 = 2 * y * srcWidth;
      const r1 = r0 + srcWidth;
      const o = y * dstWidth;
      for (let x = 0; x < dstWidth; x++) {
        const s = 2 * x;
        dst[o + x] = (src[r0 + s] + src[r0 + s + 1] + src[r1 + s] + src[r1 + s + 1] + 2) >> 2;
      }
    }
    return;
  }
  const xs = axisTable(srcWidth, dstWidth);
  const ys = axisTable(srcHeight, dstHeight);
  // Horizontally resampled rows, cached two at a time (values in 1/256).
  let rowA = new Uint32Array(dstWidth);
  let rowB = new Uint32Array(dstWidth);
  let rowAIndex = -1;
  let rowBIndex = -1;
  const horizontal = (row: number, into: Uint32Array): void => {
    const base = row * srcWidth;
    for (let x = 0; x < dstWidth; x++) {
      const o = base + xs.offset[x];
      const w1 = xs.weight[x];
      into[x] = w1 === 0 ? src[o] * 256 : (256 - w1) * src[o] + w1 * src[o + 1];
    }
  };
  for (let y = 0; y < dstHeight; y++) {
    const top = ys.offset[y];
    const w1 = ys.weight[y];
    const bottom = Math.min(top + 1, srcHeight - 1);
    if (rowAIndex !== top) {
      if (rowBIndex === top) {
        [rowA, rowB] = [rowB, rowA];
        rowAIndex = top;
        rowBIndex = -1;
      } else {
        horizontal(top, rowA);
        rowAIndex = top;
      }
    }
    const o = y * dstWidth;
    if (w1 === 0) {
      for (let x = 0; x < dstWidth; x++) dst[o + x] = (rowA[x] * 256 + 32768) >>> 16;
      continue;
    }
    if (rowBIndex !== bottom) {
      horizontal(bottom, rowB);
      rowBIndex = bottom;
    }
    const w0 = 256 - w1;
    for (let x = 0; x < dstWidth; x++) dst[o + x] = (rowA[x] * w0 + rowB[x] * w1 + 32768) >>> 16;
  }
}

/**
 * Nearest-neighbour resize of an 8-bit gray image: output pixel `d` takes source pixel
 * `floor((d + 0.5) * in / out)`. Enlarging by an integer factor repeats each pixel factor x factor times,
 * so small images can be shown large without inventing detail.
 */
export function resizeGrayNearest(src: GrayImage, width: number, height: number): GrayImage {
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new RangeError(`Expected a positive integer size but received ${String(width)}x${String(height)}`);
  }
  const columns = new Int32Array(width);
  for (let x = 0; x < width; x++) columns[x] = Math.floor(((x + 0.5) * src.width) / width);
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(((y + 0.5) * src.height) / height) * src.width;
    for (let x = 0; x < width; x++) out[y * width + x] = src.data[row + columns[x]];
  }
  return createImage(width, height, 1, out);
}
