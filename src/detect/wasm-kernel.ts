import type { HaarCascade } from './cascade.js';
import { HAAR_SCAN_WASM_BASE64 } from './haar-scan-wasm.generated.js';

interface KernelExports {
  readonly memory: WebAssembly.Memory;
  scanStumps(...args: number[]): number;
}

const PAGE = 65536;

/** Bytes rounded up to a multiple of 8, so every array starts aligned. */
const align8 = (bytes: number): number => (bytes + 7) & ~7;

/**
 * The WebAssembly scan kernel for stump cascades (assembly/haar-scan.ts) and the memory it works in:
 * feature tables laid out for one integral stride, the integral images (written in place by the caller
 * through `sum`/`sqsum`), and a buffer of hits. One per detector or worker; reused across images.
 */
export class WasmStumpKernel {
  private readonly exports: KernelExports;
  private readonly cascade: HaarCascade;
  private stride = -1;
  private area = 0;
  private layout = { ofs: 0, wt: 0, thr: 0, lft: 0, rgt: 0, cnt: 0, sthr: 0, sum: 0, sq: 0, out: 0, cap: 0 };
  /** Views on the kernel's memory, valid until the next `prepare`. */
  sum: Int32Array = new Int32Array(0);
  sqsum: Int32Array = new Int32Array(0);

  private constructor(exports: KernelExports, cascade: HaarCascade) {
    this.exports = exports;
    this.cascade = cascade;
  }

  /** A kernel for this cascade, or undefined where it does not apply (trees) or WebAssembly is unavailable. */
  static tryCreate(cascade: HaarCascade): WasmStumpKernel | undefined {
    if (cascade.maxNodesPerTree !== 1 || typeof WebAssembly !== 'object') return undefined;
    try {
      const bytes = Uint8Array.from(atob(HAAR_SCAN_WASM_BASE64), (c) => c.charCodeAt(0));
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
      return new WasmStumpKernel(instance.exports as unknown as KernelExports, cascade);
    } catch {
      return undefined; // e.g. a Content-Security-Policy without wasm-unsafe-eval: the TypeScript path runs
    }
  }

  /**
   * Lays out tables for `stride` and integral buffers of `area` cells (twice that for the sum when the
   * cascade has tilted features) and `hitCapacity` hits, growing memory as needed. `ofs` and `weight`
   * are the compiled tables for `stride`.
   */
  prepare(stride: number, area: number, ofs: Int32Array, weight: Float64Array, hitCapacity: number): void {
    if (stride === this.stride && area <= this.area && hitCapacity <= this.layout.cap) return;
    const c = this.cascade;
    const stumps = c.nodeFeature.length;
    const stages = c.stageThreshold.length;
    const sumCells = c.hasTiltedFeatures ? 2 * area : area;
    let at = 0;
    const take = (bytes: number): number => {
      const start = at;
      at += align8(bytes);
      return start;
    };
    const layout = {
      ofs: take(stumps * 48),
      wt: take(stumps * 12),
      thr: take(stumps * 4),
      lft: take(stumps * 4),
      rgt: take(stumps * 4),
      cnt: take(stages * 4),
      sthr: take(stages * 4),
      sum: take(sumCells * 4),
      sq: take(area * 4),
      out: take(hitCapacity * 8),
      cap: hitCapacity,
    };
    const memory = this.exports.memory;
    if (at > memory.buffer.byteLength) memory.grow(Math.ceil((at - memory.buffer.byteLength) / PAGE));
    const buffer = memory.buffer;
    new Int32Array(buffer, layout.ofs, stumps * 12).set(ofs);
    new Float32Array(buffer, layout.wt, stumps * 3).set(weight);
    new Float32Array(buffer, layout.thr, stumps).set(c.nodeThreshold);
    const left = new Float32Array(buffer, layout.lft, stumps);
    const right = new Float32Array(buffer, layout.rgt, stumps);
    for (let k = 0; k < stumps; k++) {
      left[k] = c.leaves[2 * k];
      right[k] = c.leaves[2 * k + 1];
    }
    new Int32Array(buffer, layout.cnt, stages).set(c.stageCount);
    new Float32Array(buffer, layout.sthr, stages).set(c.stageThreshold);
    this.sum = new Int32Array(buffer, layout.sum, sumCells);
    this.sqsum = new Int32Array(buffer, layout.sq, area);
    this.layout = layout;
    this.stride = stride;
    this.area = area;
  }

  /**
   * Scans one level whose integrals are in `sum`/`sqsum`; returns accepted origins as x, y pairs.
   * `norm` holds the corner offsets of the variance window, `normArea` its area. The hit buffer given to
   * `prepare` must hold every window position of the level, so no hit can be lost.
   */
  scan(maxX: number, maxY: number, step: number, norm: Int32Array, normArea: number): Int32Array {
    const l = this.layout;
    const found = this.exports.scanStumps(
      l.ofs,
      l.wt,
      l.thr,
      l.lft,
      l.rgt,
      l.cnt,
      l.sthr,
      this.cascade.stageThreshold.length,
      l.sum,
      l.sq,
      this.stride,
      maxX,
      maxY,
      step,
      norm[0],
      norm[1],
      norm[2],
      norm[3],
      normArea,
      l.out,
      l.cap,
    );
    if (found > l.cap) throw new Error(`Haar kernel hit buffer too small (${found} > ${l.cap})`);
    return new Int32Array(this.exports.memory.buffer, l.out, 2 * found).slice();
  }
}
