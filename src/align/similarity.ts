import type { Affine } from '../image/warp.js';
import type { Point } from '../landmarks/points.js';

/**
 * A similarity transform of the plane (rotation, uniform scale, translation; no reflection, no shear):
 * `x' = a * x - b * y + tx`, `y' = b * x + a * y + ty`, i.e. `scale * R(angle)` with `a = scale * cos`,
 * `b = scale * sin`.
 */
export interface Similarity {
  readonly a: number;
  readonly b: number;
  readonly tx: number;
  readonly ty: number;
}

/** The uniform scale of `s`. */
export function similarityScale(s: Similarity): number {
  return Math.hypot(s.a, s.b);
}

/**
 * The rotation angle of `s` in degrees, in image coordinates (y down): positive turns clockwise on
 * screen. A transform that maps a face onto an upright template turns it back by its roll, so this angle
 * equals the face's counter-clockwise roll on screen.
 */
export function similarityAngle(s: Similarity): number {
  return (Math.atan2(s.b, s.a) * 180) / Math.PI;
}

/** `s` as a general affine map. */
export function similarityToAffine(s: Similarity): Affine {
  return { a: s.a, b: -s.b, c: s.tx, d: s.b, e: s.a, f: s.ty };
}

/** The similarity that applies `inner` first, then `outer`. */
export function composeSimilarity(outer: Similarity, inner: Similarity): Similarity {
  return {
    a: outer.a * inner.a - outer.b * inner.b,
    b: outer.b * inner.a + outer.a * inner.b,
    tx: outer.a * inner.tx - outer.b * inner.ty + outer.tx,
    ty: outer.b * inner.tx + outer.a * inner.ty + outer.ty,
  };
}

/** `s` applied to a point. */
export function applySimilarity(s: Similarity, p: Point): [number, number] {
  return [s.a * p[0] - s.b * p[1] + s.tx, s.b * p[0] + s.a * p[1] + s.ty];
}

/**
 * The least-squares similarity mapping `from[i]` onto `to[i]` (Umeyama 1991, "Least-squares estimation
 * of transformation parameters between two point patterns"), optionally weighted: it minimises
 * `sum w_i |s(from_i) - to_i|^2` over rotation, uniform scale and translation.
 *
 * In two dimensions Umeyama's SVD solution has a closed form: with both point sets centred on their
 * (weighted) means, `a = sum w (x x' + y y') / sum w (x^2 + y^2)` and
 * `b = sum w (x y' - y x') / sum w (x^2 + y^2)`. The problem is linear in (a, b, tx, ty) over matrices
 * `[[a, -b], [b, a]]`, which are exactly the scaled proper rotations, so this is the global optimum and
 * equals Umeyama's result with his reflection guard (a reflection is never returned).
 *
 * @throws RangeError for fewer than 2 pairs, lengths that differ, non-finite values, or `from` points that
 *   all coincide (no scale or rotation can be estimated).
 */
export function estimateSimilarity(
  from: readonly Point[],
  to: readonly Point[],
  weights?: readonly number[],
): Similarity {
  const n = from.length;
  if (n !== to.length) {
    throw new RangeError(`Expected as many target points as source points (${n}) but received ${to.length}`);
  }
  if (n < 2) throw new RangeError(`Expected at least 2 point pairs but received ${n}`);
  if (weights !== undefined && weights.length !== n) {
    throw new RangeError(`Expected ${n} weights but received ${weights.length}`);
  }
  let total = 0;
  let mx = 0;
  let my = 0;
  let nx = 0;
  let ny = 0;
  for (let i = 0; i < n; i++) {
    const w = weights === undefined ? 1 : weights[i];
    if (!(Number.isFinite(w) && w >= 0)) {
      throw new RangeError(`Expected a finite weight >= 0 for weights[${i}] but received ${String(w)}`);
    }
    const [x, y] = from[i];
    const [u, v] = to[i];
    if (![x, y, u, v].every(Number.isFinite)) {
      throw new RangeError(`Expected finite coordinates for point pair ${i}`);
    }
    total += w;
    mx += w * x;
    my += w * y;
    nx += w * u;
    ny += w * v;
  }
  if (!(total > 0)) throw new RangeError('Expected some positive weight');
  mx /= total;
  my /= total;
  nx /= total;
  ny /= total;
  let variance = 0;
  let dot = 0;
  let cross = 0;
  for (let i = 0; i < n; i++) {
    const w = weights === undefined ? 1 : weights[i];
    const x = from[i][0] - mx;
    const y = from[i][1] - my;
    const u = to[i][0] - nx;
    const v = to[i][1] - ny;
    variance += w * (x * x + y * y);
    dot += w * (x * u + y * v);
    cross += w * (x * v - y * u);
  }
  if (!(variance > 0)) throw new RangeError('The source points coincide: no similarity can be estimated');
  const a = dot / variance;
  const b = cross / variance;
  return { a, b, tx: nx - (a * mx - b * my), ty: ny - (b * mx + a * my) };
}
