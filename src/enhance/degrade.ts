import type { GrayImage } from '../core/image.js';
import { areaTable } from '../emotion/preprocess.js';
import { grayFromValues } from '../image/rounding.js';

/**
 * The low-resolution faces super-resolution is trained and measured on, made exactly as the training code
 * makes them (training/moodlens_train/sr_degrade.py `degrade`), so that training, `moodlens evaluate
 * --degrade` and the size study see the same pixels: a Gaussian blur standing in for the camera's optics,
 * then the mean of each f x f block standing in for its coarser sensor. Pure and browser-safe.
 *
 * Every step is computed in float64 in the order the Python code uses (taps summed from the leftmost,
 * rows before columns, each block summed row by row), so the rounded pixels agree exactly.
 */

/** The blur a factor-`f` degradation applies: sigma = f / 4 source pixels. */
export function degradeSigma(factor: number): number {
  return factor / 4;
}

/**
 * The normalised weights of a Gaussian at the integer offsets -r..r, r = ceil(3 sigma):
 * `exp(-x^2 / (2 sigma^2))` divided by their sum.
 */
export function gaussianTaps(sigma: number): Float64Array {
  if (!(Number.isFinite(sigma) && sigma > 0)) {
    throw new RangeError(`Expected a finite number > 0 for sigma but received ${String(sigma)}`);
  }
  const r = Math.ceil(3 * sigma);
  const taps = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let k = 0; k < taps.length; k++) {
    const x = k - r;
    taps[k] = Math.exp(-(x * x) / (2 * sigma * sigma));
    sum += taps[k];
  }
  for (let k = 0; k < taps.length; k++) taps[k] /= sum;
  return taps;
}

/**
 * Separable Gaussian blur of a gray image in float64, edge pixels replicated beyond the border: each row
 * first (horizontal taps), then each column of that result.
 */
export function gaussianBlur(gray: GrayImage, sigma: number): Float64Array {
  const { width, height, data } = gray;
  const taps = gaussianTaps(sigma);
  const r = (taps.length - 1) / 2;
  const clamp = (i: number, n: number): number => (i < 0 ? 0 : i >= n ? n - 1 : i);
  const rows = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = 0; k < taps.length; k++) sum += taps[k] * data[base + clamp(x + k - r, width)];
      rows[base + x] = sum;
    }
  }
  const out = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = 0; k < taps.length; k++) sum += taps[k] * rows[clamp(y + k - r, height) * width + x];
      out[y * width + x] = sum;
    }
  }
  return out;
}

/** The mean of each `factor` x `factor` block of a width x height array (sides multiples of `factor`). */
export function blockMean(values: Float64Array, width: number, height: number, factor: number): Float64Array {
  checkFactor(factor, width, height);
  const w = width / factor;
  const h = height / factor;
  const out = new Float64Array(w * h);
  const count = factor * factor;
  for (let by = 0; by < h; by++) {
    for (let bx = 0; bx < w; bx++) {
      let sum = 0;
      for (let dy = 0; dy < factor; dy++) {
        const row = (by * factor + dy) * width + bx * factor;
        for (let dx = 0; dx < factor; dx++) sum += values[row + dx];
      }
      out[by * w + bx] = sum / count;
    }
  }
  return out;
}

/**
 * Degrades a face by an integer `factor`: Gaussian blur (sigma `factor / 4` unless given), then the mean
 * of each factor x factor block, rounded half up and clamped: a `width / factor` x `height / factor` face.
 * @throws RangeError when `factor` is not an integer >= 1 or does not divide both sides.
 */
export function degrade(hr: GrayImage, factor: number, sigma: number = degradeSigma(factor)): GrayImage {
  checkFactor(factor, hr.width, hr.height);
  const blurred = gaussianBlur(hr, sigma);
  return grayFromValues(
    blockMean(blurred, hr.width, hr.height, factor),
    hr.width / factor,
    hr.height / factor,
  );
}

/**
 * Degrades a square face to `size` x `size` for any size below its own: {@link degrade} when the size
 * divides the side, otherwise the same blur (sigma = ratio / 4) followed by an exact area average (each
 * output pixel the coverage-weighted mean of the source pixels under it). The size study uses it for
 * sides such as 20 or 40 px that 48 is not a multiple of.
 */
export function degradeToSize(hr: GrayImage, size: number): GrayImage {
  if (hr.width !== hr.height) {
    throw new RangeError(`Expected a square face but received ${hr.width}x${hr.height}`);
  }
  if (!Number.isInteger(size) || size < 1 || size > hr.width) {
    throw new RangeError(`Expected an integer from 1 to ${hr.width} for size but received ${String(size)}`);
  }
  const n = hr.width;
  if (n % size === 0) return degrade(hr, n / size);
  const blurred = gaussianBlur(hr, degradeSigma(n / size));
  const table = areaTable(n, size);
  const rows = new Float64Array(n * size);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < size; x++) {
      let sum = 0;
      for (let k = table.start[x]; k < table.start[x + 1]; k++) {
        sum += blurred[y * n + table.index[k]] * table.weight[k];
      }
      rows[y * size + x] = sum;
    }
  }
  const out = new Float64Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let sum = 0;
      for (let k = table.start[y]; k < table.start[y + 1]; k++) {
        sum += rows[table.index[k] * size + x] * table.weight[k];
      }
      out[y * size + x] = sum / (n * n);
    }
  }
  return grayFromValues(out, size, size);
}

function checkFactor(factor: number, width: number, height: number): void {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new RangeError(`Expected an integer >= 1 for factor but received ${String(factor)}`);
  }
  if (width % factor !== 0 || height % factor !== 0) {
    throw new RangeError(
      `Expected sides that are multiples of the factor ${factor} but received ${width}x${height}`,
    );
  }
}
