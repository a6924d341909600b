import type { Image } from '../../core/image.js';
import { roundHalfEven } from '../../image/rounding.js';

/** The detector's input for one image, and how its pixels map back to the image's. */
export interface CnnDetectorInput {
  /** `3 * height * width` floats, NCHW (one image), RGB in 0-255, zero padding bottom and right. */
  readonly data: Float32Array;
  /** Input width and height: the resized image padded up to a multiple of the coarsest stride. */
  readonly width: number;
  readonly height: number;
  /** The resized image inside the input (top-left). */
  readonly resizedWidth: number;
  readonly resizedHeight: number;
  /** Input pixels per image pixel (the same on both axes). */
  readonly scale: number;
}

/**
 * What training/moodlens_train/detector/metrics.py `letterbox` does: the image resized so its long side is
 * `longSide` (area averaging when shrinking, as OpenCV's INTER_AREA; bilinear when enlarging, as
 * INTER_LINEAR; each result rounded to an 8-bit level as OpenCV's uint8 resize does), placed top-left on a
 * black canvas whose sides are multiples of `multiple`, as RGB floats in 0-255 (the graph divides by 255
 * itself). Gray images are repeated on the three channels; alpha is dropped.
 */
export function detectorInput(image: Image, longSide: number, multiple = 32): CnnDetectorInput {
  const { width: w, height: h } = image;
  const scale = longSide / Math.max(w, h);
  const nw = Math.max(roundHalfEven(w * scale), 1);
  const nh = Math.max(roundHalfEven(h * scale), 1);
  const width = Math.ceil(nw / multiple) * multiple;
  const height = Math.ceil(nh / multiple) * multiple;
  const shrink = scale < 1;
  const xs = shrink ? areaWeights(w, nw) : linearWeights(w, nw);
  const ys = shrink ? areaWeights(h, nh) : linearWeights(h, nh);
  const data = new Float32Array(3 * width * height);
  const plane = width * height;
  const rgb = toRgb(image);
  // Rows first (into a float buffer nw wide per source row), then columns.
  const rows = new Float64Array(h * nw * 3);
  for (let sy = 0; sy < h; sy++) {
    for (let x = 0; x < nw; x++) {
      const { index, weight } = xs[x];
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < index.length; k++) {
        const at = (sy * w + index[k]) * 3;
        r += rgb[at] * weight[k];
        g += rgb[at + 1] * weight[k];
        b += rgb[at + 2] * weight[k];
      }
      const out = (sy * nw + x) * 3;
      rows[out] = r;
      rows[out + 1] = g;
      rows[out + 2] = b;
    }
  }
  for (let y = 0; y < nh; y++) {
    const { index, weight } = ys[y];
    for (let x = 0; x < nw; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < index.length; k++) {
        const at = (index[k] * nw + x) * 3;
        r += rows[at] * weight[k];
        g += rows[at + 1] * weight[k];
        b += rows[at + 2] * weight[k];
      }
      const out = y * width + x;
      data[out] = level(r);
      data[plane + out] = level(g);
      data[2 * plane + out] = level(b);
    }
  }
  return { data, width, height, resizedWidth: nw, resizedHeight: nh, scale };
}

interface Taps {
  readonly index: number[];
  readonly weight: number[];
}

function level(value: number): number {
  const r = roundHalfEven(value);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

/** Area weights for shrinking `src` samples to `dst`: each output averages the source span it covers. */
export function areaWeights(src: number, dst: number): Taps[] {
  const step = src / dst;
  const taps: Taps[] = [];
  for (let i = 0; i < dst; i++) {
    const start = i * step;
    const end = Math.min((i + 1) * step, src);
    const index: number[] = [];
    const weight: number[] = [];
    for (let s = Math.floor(start); s < end; s++) {
      const cover = Math.min(s + 1, end) - Math.max(s, start);
      if (cover > 1e-9) {
        index.push(s);
        weight.push(cover / (end - start));
      }
    }
    taps.push({ index, weight });
  }
  return taps;
}

/** Bilinear weights with pixel centres aligned (OpenCV INTER_LINEAR), edges clamped. */
export function linearWeights(src: number, dst: number): Taps[] {
  const step = src / dst;
  const taps: Taps[] = [];
  for (let i = 0; i < dst; i++) {
    const f = (i + 0.5) * step - 0.5;
    const s0 = Math.floor(f);
    const t = f - s0;
    const a = Math.min(Math.max(s0, 0), src - 1);
    const b = Math.min(Math.max(s0 + 1, 0), src - 1);
    taps.push(a === b ? { index: [a], weight: [1] } : { index: [a, b], weight: [1 - t, t] });
  }
  return taps;
}

function toRgb(image: Image): Uint8Array {
  const { width, height, channels, data } = image;
  if (channels === 3) return data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    if (channels === 1) {
      rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i];
    } else {
      rgb[3 * i] = data[4 * i];
      rgb[3 * i + 1] = data[4 * i + 1];
      rgb[3 * i + 2] = data[4 * i + 2];
    }
  }
  return rgb;
}
