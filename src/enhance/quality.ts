import type { GrayImage } from '../core/image.js';

/**
 * Image quality of a restored face against the original, as the super-resolution training code measures
 * it (training/moodlens_train/sr_data.py `psnr`, `ssim`), so the figures `moodlens evaluate` prints and
 * those of the model card are the same measure. Pure and browser-safe.
 */

/** PSNR of a perfect restoration: the mean squared error is floored at 1e-10, as in training. */
const MIN_MSE = 1e-10;

function checkPair(a: GrayImage, b: GrayImage): void {
  if (a.width !== b.width || a.height !== b.height || a.channels !== 1 || b.channels !== 1) {
    throw new RangeError(
      `Expected two gray images of the same size but received ${a.width}x${a.height}x${a.channels} ` +
        `and ${b.width}x${b.height}x${b.channels}`,
    );
  }
}

/** Peak signal-to-noise ratio in dB (peak 255) of one image against another. */
export function psnr(a: GrayImage, b: GrayImage): number {
  checkPair(a, b);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i] - b.data[i];
    sum += d * d;
  }
  const mse = sum / a.data.length;
  return 10 * Math.log10((255 * 255) / Math.max(mse, MIN_MSE));
}

/** Side of the SSIM window and its Gaussian's sigma (Wang et al. 2004). */
export const SSIM_WINDOW = 11;
export const SSIM_SIGMA = 1.5;

const SSIM_C1 = (0.01 * 255) ** 2;
const SSIM_C2 = (0.03 * 255) ** 2;

/** The normalised 1-D Gaussian whose outer product is the SSIM window. */
function ssimTaps(): Float64Array {
  const r = (SSIM_WINDOW - 1) / 2;
  const taps = new Float64Array(SSIM_WINDOW);
  let sum = 0;
  for (let k = 0; k < SSIM_WINDOW; k++) {
    const x = k - r;
    taps[k] = Math.exp(-(x * x) / (2 * SSIM_SIGMA ** 2));
    sum += taps[k];
  }
  for (let k = 0; k < SSIM_WINDOW; k++) taps[k] /= sum;
  return taps;
}

const TAPS = ssimTaps();

/** Gaussian-weighted means over every window that lies wholly inside the image ('valid'), row-major. */
function windowMeans(values: Float64Array, width: number, height: number): Float64Array {
  const n = SSIM_WINDOW;
  const ow = width - n + 1;
  const oh = height - n + 1;
  const rows = new Float64Array(height * ow);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < ow; x++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += TAPS[k] * values[y * width + x + k];
      rows[y * ow + x] = sum;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += TAPS[k] * rows[(y + k) * ow + x];
      out[y * ow + x] = sum;
    }
  }
  return out;
}

/**
 * Structural similarity (Wang et al. 2004) of one image against another: 11x11 Gaussian window of sigma
 * 1.5, K1 0.01, K2 0.03, dynamic range 255, averaged over the windows that fit inside the image.
 * @throws RangeError for images of different sizes or smaller than the window.
 */
export function ssim(a: GrayImage, b: GrayImage): number {
  checkPair(a, b);
  const { width, height } = a;
  if (width < SSIM_WINDOW || height < SSIM_WINDOW) {
    throw new RangeError(
      `Expected images of at least ${SSIM_WINDOW}x${SSIM_WINDOW} for SSIM but received ${width}x${height}`,
    );
  }
  const n = width * height;
  const x = Float64Array.from(a.data);
  const y = Float64Array.from(b.data);
  const xx = new Float64Array(n);
  const yy = new Float64Array(n);
  const xy = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xx[i] = x[i] * x[i];
    yy[i] = y[i] * y[i];
    xy[i] = x[i] * y[i];
  }
  const [mx, my, mxx, myy, mxy] = [x, y, xx, yy, xy].map((v) => windowMeans(v, width, height));
  let total = 0;
  for (let i = 0; i < mx.length; i++) {
    const sxx = mxx[i] - mx[i] * mx[i];
    const syy = myy[i] - my[i] * my[i];
    const sxy = mxy[i] - mx[i] * my[i];
    total +=
      ((2 * mx[i] * my[i] + SSIM_C1) * (2 * sxy + SSIM_C2)) /
      ((mx[i] * mx[i] + my[i] * my[i] + SSIM_C1) * (sxx + syy + SSIM_C2));
  }
  return total / mx.length;
}

/** Running means of PSNR and SSIM over many restored faces (each image weighs the same). */
export class QualityTally {
  private psnrSum = 0;
  private ssimSum = 0;
  private count = 0;

  /** Adds one restored face and its original. */
  add(restored: GrayImage, original: GrayImage): void {
    this.psnrSum += psnr(restored, original);
    this.ssimSum += ssim(restored, original);
    this.count++;
  }

  /** Faces added so far. */
  get n(): number {
    return this.count;
  }

  /** Mean PSNR in dB, or NaN before any face. */
  get psnr(): number {
    return this.psnrSum / this.count;
  }

  /** Mean SSIM, or NaN before any face. */
  get ssim(): number {
    return this.ssimSum / this.count;
  }
}
