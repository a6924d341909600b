/**
 * The offline merge of persons, once a whole video is known: two persons are one when their appearance
 * (mean descriptor over all their detections) is alike enough and they were never in view on the same
 * frame. Online re-identification (src/video/persons.ts) decides at the moment a track is confirmed, from
 * the few frames seen so far; at the end every person's full appearance is known, so splits it missed
 * (a face that came back turned or lit differently) can still be joined. Pure and browser-safe.
 */
import { descriptorSimilarity } from './appearance.js';

export interface MergeCandidate {
  readonly id: number;
  /** Unit mean descriptor. */
  readonly appearance: Float32Array;
  /** Detections behind the mean (its weight when two persons are joined). */
  readonly detections: number;
}

interface Group {
  readonly ids: number[];
  sum: Float32Array;
  weight: number;
}

function unit(sum: Float32Array): Float32Array {
  let norm = 0;
  for (const v of sum) norm += v * v;
  norm = Math.sqrt(norm);
  return norm > 0 ? sum.map((v) => v / norm) : sum;
}

/** Key of an unordered pair of person ids. */
export function pairKey(a: number, b: number): string {
  return a < b ? `${a},${b}` : `${b},${a}`;
}

/**
 * Joins persons, most alike pair first, while the best pair of groups reaches `minSimilarity` and no two
 * of their members were seen together (`together` holds `pairKey`s of persons seen on one frame). Returns
 * each person's group as the smallest id in it.
 */
export function mergePersons(
  persons: readonly MergeCandidate[],
  together: ReadonlySet<string>,
  minSimilarity: number,
): Map<number, number> {
  const groups: Group[] = persons.map((p) => ({
    ids: [p.id],
    sum: p.appearance.map((v) => v * Math.max(1, p.detections)),
    weight: Math.max(1, p.detections),
  }));
  const apart = (a: Group, b: Group): boolean =>
    a.ids.every((x) => b.ids.every((y) => !together.has(pairKey(x, y))));
  for (;;) {
    let best: { i: number; j: number; similarity: number } | undefined;
    const means = groups.map((g) => unit(Float32Array.from(g.sum)));
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        const similarity = descriptorSimilarity(means[i], means[j]);
        if (similarity < minSimilarity || (best !== undefined && similarity <= best.similarity)) continue;
        if (apart(groups[i], groups[j])) best = { i, j, similarity };
      }
    }
    if (best === undefined) break;
    const [a, b] = [groups[best.i], groups[best.j]];
    a.ids.push(...b.ids);
    for (let k = 0; k < a.sum.length; k++) a.sum[k] += b.sum[k];
    a.weight += b.weight;
    groups.splice(best.j, 1);
  }
  const out = new Map<number, number>();
  for (const group of groups) {
    const root = Math.min(...group.ids);
    for (const id of group.ids) out.set(id, root);
  }
  return out;
}
