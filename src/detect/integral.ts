/**
 * Integral images as OpenCV's cascade evaluator keeps them: 32-bit sums and 32-bit squared sums
 * (which wrap on large images exactly as OpenCV's do; window sums stay correct modulo 2^32), laid out
 * with a fixed row stride so feature offsets are the same at every scale.
 */
export function integralInto(
  pixels: Uint8Array,
  width: number,
  height: number,
  stride: number,
  sum: Int32Array,
  sqsum: Int32Array,
): void {
  sum.fill(0, 0, width + 1);
  sqsum.fill(0, 0, width + 1);
  for (let y = 0; y < height; y++) {
    const row = (y + 1) * stride;
    const prev = y * stride;
    const src = y * width;
    sum[row] = 0;
    sqsum[row] = 0;
    let s = 0;
    let sq = 0;
    for (let x = 0; x < width; x++) {
      const p = pixels[src + x];
      s += p;
      sq = (sq + p * p) | 0;
      sum[row + x + 1] = sum[prev + x + 1] + s;
      sqsum[row + x + 1] = (sqsum[prev + x + 1] + sq) | 0;
    }
  }
}

/**
 * OpenCV's rotated (45 degree) integral: T(Y, X) sums the pixels (x, y) with y < Y and
 * |x - X + 1| <= Y - 1 - y, i.e. the upward-opening triangle whose apex is the pixel (X - 1, Y - 1).
 * Computed with one row buffer of diagonal sums and the recurrence
 * T(Y, X) = T(Y-1, X-1) + T(Y-1, X+1) - T(Y-2, X) + I(Y-1, X-1) + I(Y-2, X-1), made edge-safe by
 * working on a zero-padded copy of the needed columns.
 */
export function tiltedIntegralInto(
  pixels: Uint8Array,
  width: number,
  height: number,
  stride: number,
  tilted: Int32Array,
): void {
  // Pad so that every column a triangle can reach exists: the widest triangle spans `height` columns
  // to each side of its apex.
  const pad = height + 1;
  const pw = width + 2 * pad + 2;
  let prev2 = new Int32Array(pw); // T(Y-2, ·) over padded columns
  let prev1 = new Int32Array(pw); // T(Y-1, ·)
  let cur = new Int32Array(pw);
  tilted.fill(0, 0, width + 1);
  const px = (x: number, y: number): number => (y >= 0 && x >= 0 && x < width ? pixels[y * width + x] : 0);
  for (let Y = 1; Y <= height; Y++) {
    // Padded index j holds integral column X = j - pad.
    for (let j = 1; j < pw - 1; j++) {
      const X = j - pad;
      let v = prev1[j - 1] + prev1[j + 1] + px(X - 1, Y - 1) + px(X - 1, Y - 2);
      if (Y >= 2) v -= prev2[j];
      cur[j] = v;
    }
    const row = Y * stride;
    for (let X = 0; X <= width; X++) tilted[row + X] = cur[X + pad];
    [prev2, prev1, cur] = [prev1, cur, prev2];
  }
}
