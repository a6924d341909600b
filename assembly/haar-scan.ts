// AssemblyScript source of the WebAssembly kernel that scans one pyramid level with a stump cascade.
// It does the arithmetic of OpenCV's HaarEvaluator + predictOrderedStump in native float32/float64, so
// it returns exactly the windows the TypeScript path (src/detect/scan.ts) returns, only faster.
// Built by `npm run build:wasm` into src/detect/wasm/haar-scan.generated.ts.
//
// All arrays live in this module's memory at byte offsets chosen by the caller:
//   ofs    i32[12 * stumps]  corner offsets of up to 3 rectangles per stump (in integral cells)
//   wt     f32[3 * stumps]   rectangle weights (0 for an unused third rectangle)
//   thr    f32[stumps], lft f32[stumps], rgt f32[stumps]
//   cnt    i32[stages]       stumps per stage;  sthr f32[stages]  stage thresholds
//   sum    i32[]             integral image (and the rotated one after it), row stride `stride`
//   sq     i32[]             squared integral, same layout
//   out    i32[2 * cap]      accepted window origins (x, y)

// Returns the number of accepted windows written to `out` (never more than `cap`).
export function scanStumps(
  ofs: usize,
  wt: usize,
  thr: usize,
  lft: usize,
  rgt: usize,
  cnt: usize,
  sthr: usize,
  stages: i32,
  sum: usize,
  sq: usize,
  stride: i32,
  maxX: i32,
  maxY: i32,
  step: i32,
  n0: i32,
  n1: i32,
  n2: i32,
  n3: i32,
  normArea: f64,
  out: usize,
  cap: i32,
): i32 {
  let found: i32 = 0;
  for (let y: i32 = 0; y < maxY; y += step) {
    for (let x: i32 = 0; x < maxX; x += step) {
      const p: i32 = y * stride + x;
      const s0 = sum + ((<usize>p) << 2);
      const q0 = sq + ((<usize>p) << 2);
      const valsum: i32 =
        load<i32>(s0 + ((<usize>n0) << 2)) -
        load<i32>(s0 + ((<usize>n1) << 2)) -
        load<i32>(s0 + ((<usize>n2) << 2)) +
        load<i32>(s0 + ((<usize>n3) << 2));
      const valsq: u32 = <u32>(
        (load<i32>(q0 + ((<usize>n0) << 2)) -
          load<i32>(q0 + ((<usize>n1) << 2)) -
          load<i32>(q0 + ((<usize>n2) << 2)) +
          load<i32>(q0 + ((<usize>n3) << 2)))
      );
      const nf: f64 = normArea * <f64>valsq - <f64>valsum * <f64>valsum;
      if (!(nf > 0)) continue;
      const norm: f32 = <f32>(1.0 / Math.sqrt(nf));
      if (!(normArea * <f64>norm < 0.1)) continue;

      let k: i32 = 0;
      let result: i32 = 1;
      for (let s: i32 = 0; s < stages; s++) {
        let total: f64 = 0;
        const end = k + load<i32>(cnt + ((<usize>s) << 2));
        for (; k < end; k++) {
          const o = ofs + <usize>k * 48;
          const w = wt + <usize>k * 12;
          const a =
            load<i32>(s0 + ((<usize>load<i32>(o)) << 2)) -
            load<i32>(s0 + ((<usize>load<i32>(o, 4)) << 2)) -
            load<i32>(s0 + ((<usize>load<i32>(o, 8)) << 2)) +
            load<i32>(s0 + ((<usize>load<i32>(o, 12)) << 2));
          const b =
            load<i32>(s0 + ((<usize>load<i32>(o, 16)) << 2)) -
            load<i32>(s0 + ((<usize>load<i32>(o, 20)) << 2)) -
            load<i32>(s0 + ((<usize>load<i32>(o, 24)) << 2)) +
            load<i32>(s0 + ((<usize>load<i32>(o, 28)) << 2));
          let v: f32 = load<f32>(w) * <f32>a + load<f32>(w, 4) * <f32>b;
          const w2 = load<f32>(w, 8);
          if (w2 != 0) {
            const c =
              load<i32>(s0 + ((<usize>load<i32>(o, 32)) << 2)) -
              load<i32>(s0 + ((<usize>load<i32>(o, 36)) << 2)) -
              load<i32>(s0 + ((<usize>load<i32>(o, 40)) << 2)) +
              load<i32>(s0 + ((<usize>load<i32>(o, 44)) << 2));
            v = v + w2 * <f32>c;
          }
          const kk = (<usize>k) << 2;
          total += v * norm < load<f32>(thr + kk) ? <f64>load<f32>(lft + kk) : <f64>load<f32>(rgt + kk);
        }
        if (total < <f64>load<f32>(sthr + ((<usize>s) << 2))) {
          result = -s;
          break;
        }
      }
      if (result > 0) {
        if (found < cap) {
          store<i32>(out + ((<usize>found) << 3), x);
          store<i32>(out + ((<usize>found) << 3), y, 4);
        }
        found++;
      } else if (result == 0) {
        x += step; // rejected by the first stage: OpenCV skips the next position too
      }
    }
  }
  return found;
}
