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
  const flatX = flatten(xs);
  const flatY = flatten(ys);
  if (image.channels === 1) {
    // A gray image: one plane resized, then copied to all three.
    resizePlane(image.data, w, h, nw, nh, flatX, flatY, data, width);
    for (let y = 0; y < nh; y++) {
      const from = y * width;
      data.copyWithin(plane + from, from, from + nw);
      data.copyWithin(2 * plane + from, from, from + nw);
    }
  } else {
    resizeRgb(image.data, image.channels, w, h, nw, nh, flatX, flatY, data, width, plane);
  }
  return { data, width, height, resizedWidth: nw, resizedHeight: nh, scale };
}

/** Taps packed for the inner loops: output i reads `index[start[i]..start[i+1])` with `weight`. */
interface FlatTaps {
  readonly start: Int32Array;
  readonly index: Int32Array;
  readonly weight: Float64Array;
}

function flatten(taps: readonly Taps[]): FlatTaps {
  const start = new Int32Array(taps.length + 1);
  taps.forEach((t, i) => (start[i + 1] = start[i] + t.index.length));
  const index = new Int32Array(start[taps.length]);
  const weight = new Float64Array(start[taps.length]);
  taps.forEach((t, i) => {
    index.set(t.index, start[i]);
    weight.set(t.weight, start[i]);
  });
  return { start, index, weight };
}

/**
 * A gray image resized separably: rows first (nw wide per source row, full precision), then columns, each
 * result rounded to an 8-bit level into the first plane of `out` (rows `stride` apart).
 */
function resizePlane(
  src: Uint8Array,
  w: number,
  h: number,
  nw: number,
  nh: number,
  xs: FlatTaps,
  ys: FlatTaps,
  out: Float32Array,
  stride: number,
): void {
  const rows = new Float64Array(h * nw);
  for (let sy = 0; sy < h; sy++) {
    const base = sy * w;
    for (let x = 0; x < nw; x++) {
      let v = 0;
      for (let k = xs.start[x]; k < xs.start[x + 1]; k++) v += src[base + xs.index[k]] * xs.weight[k];
      rows[sy * nw + x] = v;
    }
  }
  for (let y = 0; y < nh; y++) {
    const line = y * stride;
    for (let x = 0; x < nw; x++) {
      let v = 0;
      for (let k = ys.start[y]; k < ys.start[y + 1]; k++) v += rows[ys.index[k] * nw + x] * ys.weight[k];
      out[line + x] = level(v);
    }
  }
}

/** The same for RGB or RGBA (alpha dropped), the three channels together, into the three planes. */
function resizeRgb(
  src: Uint8Array,
  channels: number,
  w: number,
  h: number,
  nw: number,
  nh: number,
  xs: FlatTaps,
  ys: FlatTaps,
  out: Float32Array,
  stride: number,
  plane: number,
): void {
  const rows = new Float64Array(h * nw * 3);
  for (let sy = 0; sy < h; sy++) {
    const base = sy * w;
    for (let x = 0; x < nw; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = xs.start[x]; k < xs.start[x + 1]; k++) {
        const at = (base + xs.index[k]) * channels;
        const wt = xs.weight[k];
        r += src[at] * wt;
        g += src[at + 1] * wt;
        b += src[at + 2] * wt;
      }
      const o = (sy * nw + x) * 3;
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
    }
  }
  for (let y = 0; y < nh; y++) {
    const line = y * stride;
    for (let x = 0; x < nw; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = ys.start[y]; k < ys.start[y + 1]; k++) {
        const at = (ys.index[k] * nw + x) * 3;
        const wt = ys.weight[k];
        r += rows[at] * wt;
        g += rows[at + 1] * wt;
        b += rows[at + 2] * wt;
      }
      out[line + x] = level(r);
      out[plane + line + x] = level(g);
      out[2 * plane + line + x] = level(b);
    }
  }
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
