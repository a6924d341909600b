import type { GrayImage } from '../core/image.js';
import { grayFromValues } from '../image/rounding.js';

/**
 * Bicubic resampling as PyTorch's `F.interpolate(mode='bicubic', align_corners=False)` computes it, which
 * is what the super-resolution model was trained on (training/moodlens_train/sr_degrade.py `bicubic`):
 * Keys' cubic convolution with a = -0.75, half-pixel centres (`src = (dst + 0.5) * in / out - 0.5`), the
 * four taps' indices clamped at the edges, separable, no antialiasing. Columns are resampled first, then
 * rows, as the Python code's `my @ x @ mx.T`. Pure and browser-safe.
 */

/** Keys' parameter, as PyTorch (OpenCV's INTER_CUBIC uses the same). */
export const CUBIC_A = -0.75;

/** The four weights of the taps at -1, 0, 1 and 2 for a fractional offset `t` in [0, 1). */
export function cubicWeights(t: number): [number, number, number, number] {
  const a = CUBIC_A;
  const near = (x: number): number => ((a + 2) * x - (a + 3)) * x * x + 1;
  const far = (x: number): number => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/** One axis of the resampling: for each output index its source indices (ascending) and weights. */
interface AxisTaps {
  readonly start: Int32Array;
  readonly index: Int32Array;
  readonly weight: Float64Array;
}

/**
 * The taps along one axis from `nIn` to `nOut` samples. Taps clamped onto the same edge index are merged
 * (their weights added in tap order), as the Python code builds its interpolation matrix.
 */
function axisTaps(nIn: number, nOut: number): AxisTaps {
  const scale = nIn / nOut;
  const start = new Int32Array(nOut + 1);
  const index: number[] = [];
  const weight: number[] = [];
  for (let d = 0; d < nOut; d++) {
    start[d] = index.length;
    const src = (d + 0.5) * scale - 0.5;
    const i0 = Math.floor(src);
    const w = cubicWeights(src - i0);
    for (let k = 0; k < 4; k++) {
      const i = Math.min(Math.max(i0 - 1 + k, 0), nIn - 1);
      if (index.length > start[d] && index[index.length - 1] === i) weight[weight.length - 1] += w[k];
      else {
        index.push(i);
        weight.push(w[k]);
      }
    }
  }
  start[nOut] = index.length;
  return { start, index: Int32Array.from(index), weight: Float64Array.from(weight) };
}

function checkSize(width: number, height: number): void {
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new RangeError(
      `Expected a positive integer width and height but received ${String(width)}x${String(height)}`,
    );
  }
}

/** The image resampled to `width` x `height`, unrounded (float64, row-major; may leave 0..255). */
export function bicubicResize(gray: GrayImage, width: number, height: number): Float64Array {
  checkSize(width, height);
  const { width: w, height: h, data } = gray;
  const ty = axisTaps(h, height);
  const tx = axisTaps(w, width);
  // Columns first: each output row is a weighted sum of source rows.
  const rows = new Float64Array(height * w);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      for (let k = ty.start[y]; k < ty.start[y + 1]; k++) sum += ty.weight[k] * data[ty.index[k] * w + x];
      rows[y * w + x] = sum;
    }
  }
  const out = new Float64Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = tx.start[x]; k < tx.start[x + 1]; k++) sum += rows[y * w + tx.index[k]] * tx.weight[k];
      out[y * width + x] = sum;
    }
  }
  return out;
}

/** {@link bicubicResize} rounded half up and clamped to 0..255: the 8-bit resampled image. */
export function bicubicResizeGray(gray: GrayImage, width: number, height: number): GrayImage {
  return grayFromValues(bicubicResize(gray, width, height), width, height);
}
