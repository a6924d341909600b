import type { Box, GrayImage } from '../core/image.js';
import { resizeGrayLinearExactInto } from '../image/resize.js';
import { roundHalfEven } from '../image/rounding.js';
import type { Cascade, HaarCascade, LbpCascade } from './cascade.js';
import { integralInto, tiltedIntegralInto } from './integral.js';
import { pyramidLevels, type ScaleLevel } from './scales.js';
import type { WasmStumpKernel } from './wasm-kernel.js';

const fround = Math.fround;

/**
 * The cascade laid out for one integral-image row stride: every weak classifier carries the corner
 * offsets and weights of its feature, in evaluation order, so the scan touches memory in sequence.
 */
interface CompiledHaar {
  readonly kind: 'haar-stump' | 'haar-tree';
  readonly stride: number;
  /** Offset of the tilted integral inside the shared sum buffer (0 when the cascade has none). */
  readonly tiltedOffset: number;
  /** Corner offsets of the window-normalisation rectangle. */
  readonly norm: Int32Array;
  readonly normArea: number;
  /** Per weak classifier (stump) or per node (tree): 12 corner offsets and 3 float32 weights. */
  readonly ofs: Int32Array;
  readonly weight: Float64Array;
  readonly threshold: Float64Array;
  /** Stumps only: the leaf values taken below and above the threshold. */
  readonly left: Float64Array;
  readonly right: Float64Array;
}

interface CompiledLbp {
  readonly kind: 'lbp';
  readonly stride: number;
  /** Per node: 16 grid offsets of its 3x3-cell feature. */
  readonly ofs: Int32Array;
}

function rectOffsets(x: number, y: number, w: number, h: number, stride: number, base: number): number[] {
  return [
    base + x + stride * y,
    base + x + w + stride * y,
    base + x + stride * (y + h),
    base + x + w + stride * (y + h),
  ];
}

function tiltedOffsets(x: number, y: number, w: number, h: number, stride: number, base: number): number[] {
  return [
    base + x + stride * y,
    base + x - h + stride * (y + h),
    base + x + w + stride * (y + w),
    base + x + w - h + stride * (y + w + h),
  ];
}

function compileHaar(cascade: HaarCascade, stride: number, tiltedOffset: number): CompiledHaar {
  const nodes = cascade.nodeFeature.length;
  const ofs = new Int32Array(nodes * 12);
  const weight = new Float64Array(nodes * 3);
  for (let k = 0; k < nodes; k++) {
    const feature = cascade.features[cascade.nodeFeature[k]];
    for (let r = 0; r < 3; r++) {
      const rect = feature.rects[r];
      if (!rect) continue; // weight stays 0, offsets stay 0: contributes nothing
      const [x, y, w, h, wt] = rect;
      const corners = feature.tilted
        ? tiltedOffsets(x, y, w, h, stride, tiltedOffset)
        : rectOffsets(x, y, w, h, stride, 0);
      ofs.set(corners, k * 12 + r * 4);
      weight[k * 3 + r] = wt;
    }
  }
  const { windowWidth: ww, windowHeight: wh } = cascade;
  const stump = cascade.maxNodesPerTree === 1;
  // A stump's node k owns leaves 2k and 2k+1 (trees read their leaves through runTrees instead).
  const left = stump ? cascade.leaves.filter((_, i) => i % 2 === 0) : new Float64Array(0);
  const right = stump ? cascade.leaves.filter((_, i) => i % 2 === 1) : new Float64Array(0);
  return {
    kind: stump ? 'haar-stump' : 'haar-tree',
    stride,
    tiltedOffset,
    norm: Int32Array.from(rectOffsets(1, 1, ww - 2, wh - 2, stride, 0)),
    normArea: (ww - 2) * (wh - 2),
    ofs,
    weight,
    threshold: cascade.nodeThreshold,
    left,
    right,
  };
}

function compileLbp(cascade: LbpCascade, stride: number): CompiledLbp {
  const nodes = cascade.nodeFeature.length;
  const ofs = new Int32Array(nodes * 16);
  for (let k = 0; k < nodes; k++) {
    const [x, y, w, h] = cascade.features[cascade.nodeFeature[k]].rect;
    for (let gy = 0; gy < 4; gy++) {
      for (let gx = 0; gx < 4; gx++) ofs[k * 16 + gy * 4 + gx] = x + gx * w + stride * (y + gy * h);
    }
  }
  return { kind: 'lbp', stride, ofs };
}

/** Sum of the rectangle whose four corner offsets start at `o` in `ofs`, relative to `p`. */
function box4(buf: Int32Array, ofs: Int32Array, o: number, p: number): number {
  return buf[p + ofs[o]] - buf[p + ofs[o + 1]] - buf[p + ofs[o + 2]] + buf[p + ofs[o + 3]];
}

/** A Haar feature value scaled by the window's variance factor, in float32 as OpenCV computes it. */
function haarValue(c: CompiledHaar, sum: Int32Array, k: number, p: number, norm: number): number {
  const o = k * 12;
  const w = k * 3;
  let v = fround(
    fround(c.weight[w] * box4(sum, c.ofs, o, p)) + fround(c.weight[w + 1] * box4(sum, c.ofs, o + 4, p)),
  );
  if (c.weight[w + 2] !== 0) v = fround(v + fround(c.weight[w + 2] * box4(sum, c.ofs, o + 8, p)));
  return fround(v * norm);
}

/**
 * OpenCV's predictOrdered / predictCategorical over every stage: walks each weak tree from its root,
 * `goesLeft(node)` deciding each split, and sums the leaves. Returns 1 when every stage accepts, otherwise
 * minus the index of the rejecting stage (0 for the first, which lets the scan skip the next position).
 * A stump is a one-node tree, so stump cascades walk the same way.
 */
function runTrees(cascade: Cascade, goesLeft: (node: number) => boolean): number {
  const { stageCount, stageThreshold, treeNodeCount, leaves, nodeLeft, nodeRight } = cascade;
  let nodeOfs = 0;
  let leafOfs = 0;
  let tree = 0;
  for (let s = 0; s < stageThreshold.length; s++) {
    let total = 0;
    for (let w = 0; w < stageCount[s]; w++, tree++) {
      let idx = 0;
      do {
        const k = nodeOfs + idx;
        idx = goesLeft(k) ? nodeLeft[k] : nodeRight[k];
      } while (idx > 0);
      total += leaves[leafOfs - idx];
      nodeOfs += treeNodeCount[tree];
      leafOfs += treeNodeCount[tree] + 1;
    }
    if (total < stageThreshold[s]) return -s;
  }
  return 1;
}

/**
 * Classifies the Haar window whose top-left integral cell is `p` (tree cascades; stumps take the fast
 * paths): -1 when its contrast is too low to judge (OpenCV's variance check), else as `runTrees`.
 */
function runHaar(
  cascade: HaarCascade,
  c: CompiledHaar,
  sum: Int32Array,
  sqsum: Int32Array,
  p: number,
): number {
  const n = c.norm;
  const valsum = sum[p + n[0]] - sum[p + n[1]] - sum[p + n[2]] + sum[p + n[3]];
  const valsqsum = (sqsum[p + n[0]] - sqsum[p + n[1]] - sqsum[p + n[2]] + sqsum[p + n[3]]) >>> 0;
  const nf = c.normArea * valsqsum - valsum * valsum;
  if (!(nf > 0)) return -1;
  const norm = fround(1 / Math.sqrt(nf));
  if (!(c.normArea * norm < 0.1)) return -1;
  return runTrees(cascade, (k) => haarValue(c, sum, k, p, norm) < c.threshold[k]);
}

/** OpenCV's local binary pattern of the 3x3 cells around the centre cell, as an 8-bit code. */
function lbpCode(sum: Int32Array, o: Int32Array, k: number, p: number): number {
  const b = k * 16;
  const cell = (a: number, bb: number, cc: number, d: number): number =>
    sum[p + o[b + a]] - sum[p + o[b + bb]] - sum[p + o[b + cc]] + sum[p + o[b + d]];
  const centre = cell(5, 6, 9, 10);
  return (
    (cell(0, 1, 4, 5) >= centre ? 128 : 0) |
    (cell(1, 2, 5, 6) >= centre ? 64 : 0) |
    (cell(2, 3, 6, 7) >= centre ? 32 : 0) |
    (cell(6, 7, 10, 11) >= centre ? 16 : 0) |
    (cell(10, 11, 14, 15) >= centre ? 8 : 0) |
    (cell(9, 10, 13, 14) >= centre ? 4 : 0) |
    (cell(8, 9, 12, 13) >= centre ? 2 : 0) |
    (cell(4, 5, 8, 9) >= centre ? 1 : 0)
  );
}

/** An LBP window: a node goes left when its code is in the node's category set. */
function runLbp(cascade: LbpCascade, c: CompiledLbp, sum: Int32Array, p: number): number {
  const { subsets, subsetSize } = cascade;
  return runTrees(cascade, (k) => {
    const code = lbpCode(sum, c.ofs, k, p);
    return (subsets[k * subsetSize + (code >> 5)] & (1 << (code & 31))) !== 0;
  });
}

export interface ScanOptions {
  readonly scaleFactor: number;
  readonly minSize: number;
  readonly maxSize: number;
}

/** The pyramid levels that `scanCascade` visits for this image and these options. */
export function levelsFor(
  cascade: Cascade,
  width: number,
  height: number,
  options: ScanOptions,
): ScaleLevel[] {
  return pyramidLevels(
    width,
    height,
    cascade.windowWidth,
    cascade.windowHeight,
    options.scaleFactor,
    options.minSize,
    options.maxSize,
  );
}

/**
 * Every window the cascade accepts, over the whole scale pyramid, before grouping: OpenCV's
 * `detectMultiScaleNoGrouping` on the CPU path, position for position.
 */
export function scanCascade(
  cascade: Cascade,
  gray: GrayImage,
  options: ScanOptions,
  kernel?: WasmStumpKernel,
): Box[] {
  return scanLevels(cascade, gray, levelsFor(cascade, gray.width, gray.height, options), kernel).flat();
}

/**
 * Scans the given pyramid levels (any subset, in any order) and returns the accepted windows per level.
 * Levels are independent, which lets callers spread them over threads or workers. With a WebAssembly
 * `kernel` (stump cascades), the integrals are built in its memory and it does the scan: same answers.
 */
export function scanLevels(
  cascade: Cascade,
  gray: GrayImage,
  levels: readonly ScaleLevel[],
  kernel?: WasmStumpKernel,
): Box[][] {
  if (levels.length === 0) return [];
  const maxWidth = Math.max(...levels.map((l) => l.width));
  const maxHeight = Math.max(...levels.map((l) => l.height));
  const stride = maxWidth + 1;
  const area = stride * (maxHeight + 1);
  const tilted = cascade.featureType === 'HAAR' && cascade.hasTiltedFeatures;
  const pixels = new Uint8Array(maxWidth * maxHeight);
  const compiled =
    cascade.featureType === 'HAAR'
      ? compileHaar(cascade, stride, tilted ? area : 0)
      : compileLbp(cascade, stride);
  const useKernel = kernel !== undefined && compiled.kind === 'haar-stump';
  let sum: Int32Array;
  let sqsum: Int32Array;
  if (useKernel) {
    const positions = Math.max(...levels.map((l) => windowPositions(cascade, l)));
    kernel.prepare(stride, area, compiled.ofs, compiled.weight, positions);
    sum = kernel.sum;
    sqsum = kernel.sqsum;
  } else {
    sum = new Int32Array(tilted ? 2 * area : area);
    sqsum = new Int32Array(area);
  }
  return levels.map((level) => {
    const found: Box[] = [];
    const level8 = pixels.subarray(0, level.width * level.height);
    resizeGrayLinearExactInto(gray.data, gray.width, gray.height, level8, level.width, level.height);
    integralInto(level8, level.width, level.height, stride, sum, sqsum);
    if (tilted) tiltedIntegralInto(level8, level.width, level.height, stride, sum.subarray(area));
    if (useKernel) {
      const c = compiled;
      const maxX = level.width + 1 - cascade.windowWidth;
      const maxY = level.height + 1 - cascade.windowHeight;
      const hits = kernel.scan(maxX, maxY, level.step, c.norm, c.normArea);
      for (let i = 0; i < hits.length; i += 2) found.push(levelBox(level, hits[i], hits[i + 1]));
    } else {
      scanLevel(cascade, compiled, level, stride, sum, sqsum, found);
    }
    return found;
  });
}

/** How many window origins a level visits at most (its grid of positions at the level's step). */
function windowPositions(cascade: Cascade, level: ScaleLevel): number {
  const maxX = level.width + 1 - cascade.windowWidth;
  const maxY = level.height + 1 - cascade.windowHeight;
  if (maxX <= 0 || maxY <= 0) return 0;
  return Math.ceil(maxX / level.step) * Math.ceil(maxY / level.step);
}

/** Relative cost of scanning a level: the number of window positions it visits. */
export function levelCost(cascade: Cascade, level: ScaleLevel): number {
  const positions = (level.width + 1 - cascade.windowWidth) * (level.height + 1 - cascade.windowHeight);
  return Math.max(positions, 0) / (level.step * level.step);
}

/** Splits level indices into `parts` groups of similar total cost (largest first, to the lightest group). */
export function balanceLevels(cascade: Cascade, levels: readonly ScaleLevel[], parts: number): number[][] {
  const groups = Array.from({ length: Math.max(1, parts) }, () => ({ cost: 0, members: [] as number[] }));
  const order = levels.map((level, index) => ({ index, cost: levelCost(cascade, level) }));
  order.sort((a, b) => b.cost - a.cost);
  for (const { index, cost } of order) {
    const lightest = groups.reduce((best, g) => (g.cost < best.cost ? g : best));
    lightest.members.push(index);
    lightest.cost += cost;
  }
  return groups.map((g) => g.members.sort((a, b) => a - b)).filter((m) => m.length > 0);
}

function scanLevel(
  cascade: Cascade,
  compiled: CompiledHaar | CompiledLbp,
  level: ScaleLevel,
  stride: number,
  sum: Int32Array,
  sqsum: Int32Array,
  found: Box[],
): void {
  if (compiled.kind === 'haar-stump') {
    scanHaarStumps(cascade as HaarCascade, compiled, level, sum, sqsum, found);
    return;
  }
  // Window origins x in [0, width - window], as OpenCV's working size allows.
  const maxX = level.width + 1 - cascade.windowWidth;
  const maxY = level.height + 1 - cascade.windowHeight;
  const { step } = level;
  for (let y = 0; y < maxY; y += step) {
    for (let x = 0; x < maxX; x += step) {
      const p = y * stride + x;
      const result =
        cascade.featureType === 'HAAR'
          ? runHaar(cascade, compiled as CompiledHaar, sum, sqsum, p)
          : runLbp(cascade, compiled as CompiledLbp, sum, p);
      if (result > 0) found.push(levelBox(level, x, y));
      if (result === 0) x += step;
    }
  }
}

function levelBox(level: ScaleLevel, x: number, y: number): Box {
  return {
    x: roundHalfEven(fround(x * level.scale)),
    y: roundHalfEven(fround(y * level.scale)),
    width: level.windowWidth,
    height: level.windowHeight,
  };
}

/**
 * The hot path for stump cascades (all frontal-face Haar cascades): the same arithmetic as `runHaar`,
 * with every array in a local and the feature sums written out, which V8 compiles to tight code.
 */
function scanHaarStumps(
  cascade: HaarCascade,
  c: CompiledHaar,
  level: ScaleLevel,
  sum: Int32Array,
  sqsum: Int32Array,
  found: Box[],
): void {
  const { ofs, weight, threshold, left, right, norm, normArea } = c;
  const { stageCount, stageThreshold } = cascade;
  const stages = stageThreshold.length;
  const n0 = norm[0];
  const n1 = norm[1];
  const n2 = norm[2];
  const n3 = norm[3];
  const maxX = level.width + 1 - cascade.windowWidth;
  const maxY = level.height + 1 - cascade.windowHeight;
  const { step } = level;
  const stride = c.stride;
  for (let y = 0; y < maxY; y += step) {
    for (let x = 0; x < maxX; x += step) {
      const p = y * stride + x;
      const valsum = sum[p + n0] - sum[p + n1] - sum[p + n2] + sum[p + n3];
      const valsqsum = (sqsum[p + n0] - sqsum[p + n1] - sqsum[p + n2] + sqsum[p + n3]) >>> 0;
      const nf = normArea * valsqsum - valsum * valsum;
      if (!(nf > 0)) continue;
      const norm = fround(1 / Math.sqrt(nf));
      if (!(normArea * norm < 0.1)) continue;
      let result = 1;
      let k = 0;
      for (let s = 0; s < stages; s++) {
        let total = 0;
        const end = k + stageCount[s];
        for (; k < end; k++) {
          const o = k * 12;
          const w = k * 3;
          const a = sum[p + ofs[o]] - sum[p + ofs[o + 1]] - sum[p + ofs[o + 2]] + sum[p + ofs[o + 3]];
          const b = sum[p + ofs[o + 4]] - sum[p + ofs[o + 5]] - sum[p + ofs[o + 6]] + sum[p + ofs[o + 7]];
          let v = fround(fround(weight[w] * a) + fround(weight[w + 1] * b));
          const w2 = weight[w + 2];
          if (w2 !== 0) {
            const d = sum[p + ofs[o + 8]] - sum[p + ofs[o + 9]] - sum[p + ofs[o + 10]] + sum[p + ofs[o + 11]];
            v = fround(v + fround(w2 * d));
          }
          total += fround(v * norm) < threshold[k] ? left[k] : right[k];
        }
        if (total < stageThreshold[s]) {
          result = -s;
          break;
        }
      }
      if (result > 0) found.push(levelBox(level, x, y));
      else if (result === 0) x += step;
    }
  }
}
