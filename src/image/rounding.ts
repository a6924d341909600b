import { createImage, type GrayImage } from '../core/image.js';

/** Rounds to the nearest integer, ties to even: what cvRound does on x86 (SSE conversion). */
export function roundHalfEven(value: number): number {
  const r = Math.round(value);
  return r - value === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/**
 * An 8-bit pixel level from a real value: rounded half up (`floor(v + 0.5)`) and clamped to 0..255, as the
 * super-resolution training code makes its pixels (sr_degrade.round_half_up).
 */
export function pixelHalfUp(value: number): number {
  const r = Math.floor(value + 0.5);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

/** A gray image from real values, each rounded half up and clamped (see {@link pixelHalfUp}). */
export function grayFromValues(values: ArrayLike<number>, width: number, height: number): GrayImage {
  if (values.length !== width * height) {
    throw new RangeError(
      `Expected ${width * height} values for a ${width}x${height} image but received ${values.length}`,
    );
  }
  const out = new Uint8Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = pixelHalfUp(values[i]);
  return createImage(width, height, 1, out);
}
