import type { Box } from '../core/image.js';
import { roundHalfEven } from '../image/rounding.js';

/** OpenCV's `SimilarRects`: corners within eps times the mean of the smaller width and height. */
function similar(a: Box, b: Box, eps: number): boolean {
  const delta = eps * (Math.min(a.width, b.width) + Math.min(a.height, b.height)) * 0.5;
  return (
    Math.abs(a.x - b.x) <= delta &&
    Math.abs(a.y - b.y) <= delta &&
    Math.abs(a.x + a.width - b.x - b.width) <= delta &&
    Math.abs(a.y + a.height - b.y - b.height) <= delta
  );
}

/** Connected components of the similarity relation (OpenCV's `partition`), labelled in first-seen order. */
function partition(boxes: readonly Box[], eps: number): { labels: Int32Array; count: number } {
  const n = boxes.length;
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (similar(boxes[i], boxes[j], eps)) {
        const a = find(i);
        const b = find(j);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  }
  const labels = new Int32Array(n);
  const labelOfRoot = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const root = find(i);
    let label = labelOfRoot.get(root);
    if (label === undefined) {
      label = labelOfRoot.size;
      labelOfRoot.set(root, label);
    }
    labels[i] = label;
  }
  return { labels, count: labelOfRoot.size };
}

export interface GroupedBox extends Box {
  /** How many raw detections were merged into this box. */
  readonly neighbors: number;
}

/**
 * OpenCV's `groupRectangles`: cluster similar boxes, average each cluster, drop clusters of at most
 * `groupThreshold` members, and drop a cluster lying inside a larger, better-supported one.
 * With `groupThreshold <= 0` the boxes are returned as they are.
 */
export function groupRectangles(boxes: readonly Box[], groupThreshold: number, eps = 0.2): GroupedBox[] {
  if (groupThreshold <= 0 || boxes.length === 0) return boxes.map((b) => ({ ...b, neighbors: 1 }));
  const { labels, count } = partition(boxes, eps);
  const sx = new Float64Array(count);
  const sy = new Float64Array(count);
  const sw = new Float64Array(count);
  const sh = new Float64Array(count);
  const members = new Int32Array(count);
  boxes.forEach((b, i) => {
    const c = labels[i];
    sx[c] += b.x;
    sy[c] += b.y;
    sw[c] += b.width;
    sh[c] += b.height;
    members[c]++;
  });
  // OpenCV averages with a float32 reciprocal and rounds each float32 product.
  const averaged: Box[] = [];
  for (let c = 0; c < count; c++) {
    const s = Math.fround(1 / members[c]);
    averaged.push({
      x: roundHalfEven(Math.fround(sx[c] * s)),
      y: roundHalfEven(Math.fround(sy[c] * s)),
      width: roundHalfEven(Math.fround(sw[c] * s)),
      height: roundHalfEven(Math.fround(sh[c] * s)),
    });
  }
  const result: GroupedBox[] = [];
  for (let i = 0; i < count; i++) {
    const r1 = averaged[i];
    const n1 = members[i];
    if (n1 <= groupThreshold) continue;
    let inside = false;
    for (let j = 0; j < count && !inside; j++) {
      const n2 = members[j];
      if (j === i || n2 <= groupThreshold) continue;
      const r2 = averaged[j];
      const dx = roundHalfEven(r2.width * eps);
      const dy = roundHalfEven(r2.height * eps);
      inside =
        r1.x >= r2.x - dx &&
        r1.y >= r2.y - dy &&
        r1.x + r1.width <= r2.x + r2.width + dx &&
        r1.y + r1.height <= r2.y + r2.height + dy &&
        (n2 > Math.max(3, n1) || n1 < 3);
    }
    if (!inside) result.push({ ...r1, neighbors: n1 });
  }
  return result;
}
