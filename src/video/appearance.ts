/**
 * A small appearance descriptor of a face, to tell whether a face that re-appears is a person seen
 * before. Pure pixel maths on the gray frame, browser-safe. Two kinds were measured against each other
 * (`npm run study:reid`, docs/people-tracking.md): `lbp`, histograms of uniform local binary patterns on a
 * 4x4 grid over the inner face (robust to lighting, which shifts every pixel of a crop alike), and `gray`,
 * the normalised 32x32 pixels themselves.
 */
import type { Box, GrayImage } from '../core/image.js';

export type DescriptorKind = 'lbp' | 'gray' | 'hog';

/** Side of the resampled inner-face patch. */
export const DESCRIPTOR_PATCH = 32;
/** Share of the box side trimmed on each side: the Haar box holds forehead and chin, with hair and background at its corners. */
export const DESCRIPTOR_TRIM = 0.12;
const GRID = 4;
/** Rotation-invariant uniform patterns of 8 neighbours: 0-8 set bits in one run, plus one bin for the rest. */
const LBP_BINS = 10;
/** Unsigned gradient orientations per cell (20 degrees each). */
const HOG_BINS = 9;

/** The descriptor length of each kind. */
export function descriptorLength(kind: DescriptorKind): number {
  if (kind === 'gray') return DESCRIPTOR_PATCH * DESCRIPTOR_PATCH;
  return GRID * GRID * (kind === 'hog' ? HOG_BINS : LBP_BINS);
}

/**
 * The inner face (the box less DESCRIPTOR_TRIM of its side each way) resampled to `size` x `size` by
 * averaging the source pixels under each output pixel (area sampling, so a large face is not aliased).
 * Parts outside the image repeat the edge pixels.
 */
export function innerFacePatch(gray: GrayImage, box: Box, size: number = DESCRIPTOR_PATCH): Float32Array {
  const x0 = box.x + box.width * DESCRIPTOR_TRIM;
  const y0 = box.y + box.height * DESCRIPTOR_TRIM;
  const w = box.width * (1 - 2 * DESCRIPTOR_TRIM);
  const h = box.height * (1 - 2 * DESCRIPTOR_TRIM);
  const out = new Float32Array(size * size);
  const clampX = (x: number): number => Math.min(gray.width - 1, Math.max(0, x));
  const clampY = (y: number): number => Math.min(gray.height - 1, Math.max(0, y));
  for (let oy = 0; oy < size; oy++) {
    const sy0 = Math.floor(y0 + (oy * h) / size);
    const sy1 = Math.max(sy0 + 1, Math.floor(y0 + ((oy + 1) * h) / size));
    for (let ox = 0; ox < size; ox++) {
      const sx0 = Math.floor(x0 + (ox * w) / size);
      const sx1 = Math.max(sx0 + 1, Math.floor(x0 + ((ox + 1) * w) / size));
      let sum = 0;
      for (let y = sy0; y < sy1; y++) {
        const row = clampY(y) * gray.width;
        for (let x = sx0; x < sx1; x++) sum += gray.data[row + clampX(x)];
      }
      out[oy * size + ox] = sum / ((sy1 - sy0) * (sx1 - sx0));
    }
  }
  return out;
}

/** Bin of each 8-bit pattern: its count of set bits when it has at most two 0/1 transitions, else 9. */
const UNIFORM_BIN = (() => {
  const table = new Uint8Array(256);
  for (let code = 0; code < 256; code++) {
    let transitions = 0;
    let ones = 0;
    for (let b = 0; b < 8; b++) {
      const bit = (code >> b) & 1;
      ones += bit;
      if (bit !== ((code >> ((b + 1) % 8)) & 1)) transitions++;
    }
    table[code] = transitions <= 2 ? ones : 9;
  }
  return table;
})();

function normalize(values: Float32Array): Float32Array {
  let norm = 0;
  for (const v of values) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < values.length; i++) values[i] /= norm;
  return values;
}

/**
 * The descriptor of the face in `box`: unit length, so the dot product of two is their cosine similarity.
 * `gray`: the patch less its mean; `lbp`: per grid cell, the histogram of uniform patterns, square-rooted
 * (Hellinger: a few frequent patterns then weigh less against the rest).
 */
export function faceDescriptor(gray: GrayImage, box: Box, kind: DescriptorKind): Float32Array {
  if (kind === 'gray') {
    const patch = innerFacePatch(gray, box);
    let mean = 0;
    for (const v of patch) mean += v;
    mean /= patch.length;
    for (let i = 0; i < patch.length; i++) patch[i] -= mean;
    return normalize(patch);
  }
  // Two more pixels a side so that every pixel of the 32x32 patch has its 8 neighbours.
  const side = DESCRIPTOR_PATCH + 2;
  const patch = innerFacePatch(gray, box, side);
  if (kind === 'hog') return hogOf(patch, side);
  const out = new Float32Array(GRID * GRID * LBP_BINS);
  const cell = DESCRIPTOR_PATCH / GRID;
  const offsets = [-side - 1, -side, -side + 1, 1, side + 1, side, side - 1, -1];
  for (let y = 1; y <= DESCRIPTOR_PATCH; y++) {
    for (let x = 1; x <= DESCRIPTOR_PATCH; x++) {
      const i = y * side + x;
      const centre = patch[i];
      let code = 0;
      for (let b = 0; b < 8; b++) if (patch[i + offsets[b]] >= centre) code |= 1 << b;
      const c = Math.floor((y - 1) / cell) * GRID + Math.floor((x - 1) / cell);
      out[c * LBP_BINS + UNIFORM_BIN[code]] += 1;
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(out[i]);
  return normalize(out);
}

/**
 * Histograms of gradient orientation per grid cell, weighted by gradient magnitude (a linear split between
 * the two nearest of HOG_BINS orientation bins), square-rooted: the shape of the face's edges, which a
 * change of brightness or contrast does not move.
 */
function hogOf(patch: Float32Array, side: number): Float32Array {
  const out = new Float32Array(GRID * GRID * HOG_BINS);
  const cell = DESCRIPTOR_PATCH / GRID;
  for (let y = 1; y <= DESCRIPTOR_PATCH; y++) {
    for (let x = 1; x <= DESCRIPTOR_PATCH; x++) {
      const i = y * side + x;
      const gx = patch[i + 1] - patch[i - 1];
      const gy = patch[i + side] - patch[i - side];
      const magnitude = Math.hypot(gx, gy);
      if (magnitude === 0) continue;
      let angle = Math.atan2(gy, gx);
      if (angle < 0) angle += Math.PI;
      const position = (angle / Math.PI) * HOG_BINS - 0.5;
      const lower = Math.floor(position);
      const share = position - lower;
      const c = (Math.floor((y - 1) / cell) * GRID + Math.floor((x - 1) / cell)) * HOG_BINS;
      out[c + ((lower + HOG_BINS) % HOG_BINS)] += magnitude * (1 - share);
      out[c + ((lower + 1) % HOG_BINS)] += magnitude * share;
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(out[i]);
  return normalize(out);
}

/** Cosine similarity of two unit descriptors (their dot product): 1 the same, lower is less alike. */
export function descriptorSimilarity(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) {
    throw new RangeError(`Expected descriptors of one length but received ${a.length} and ${b.length}`);
  }
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  return dot;
}

/**
 * A running mean of descriptors (re-normalised), the appearance of a track or person over many frames:
 * one frame's pose or blur then matters less.
 */
export class DescriptorMean {
  readonly #sum: Float32Array;
  #count = 0;

  constructor(length: number) {
    this.#sum = new Float32Array(length);
  }

  add(descriptor: Float32Array, weight = 1): void {
    // A descriptor of another kind would be silently cut or padded: refuse it.
    if (descriptor.length !== this.#sum.length) {
      throw new Error(`A descriptor of ${descriptor.length} values added to a mean of ${this.#sum.length}`);
    }
    for (let i = 0; i < descriptor.length; i++) this.#sum[i] += descriptor[i] * weight;
    this.#count += weight;
  }

  /** Merges another mean into this one. */
  addMean(other: DescriptorMean): void {
    const { sum, count } = other.#state();
    for (let i = 0; i < sum.length; i++) this.#sum[i] += sum[i];
    this.#count += count;
  }

  get count(): number {
    return this.#count;
  }

  /** The unit-length mean (all zeros before the first add). */
  value(): Float32Array {
    return normalize(Float32Array.from(this.#sum));
  }

  #state(): { sum: Float32Array; count: number } {
    return { sum: this.#sum, count: this.#count };
  }
}
