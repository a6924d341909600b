/**
 * Which appearance descriptor tells a returning person from a different one (src/video/appearance.ts)?
 * Real faces: the 870 face300w crops (Helen, 870 different photos, nearly all different people), each
 * with its largest Haar box. Same-person pairs: a face against itself seen again as a video shows it
 * again: the box shifted by up to 6% and scaled by up to 8% (another detection of the same face),
 * brightness and contrast changed by up to 25%, and every other pair blurred (3x3 box filter) or turned by
 * up to 8 degrees. Different-person pairs: each face against 20 others (fixed random pairs; both crops
 * augmented the same way). Prints, per descriptor, the ROC AUC, the equal error rate and, at the
 * similarity threshold that merges 1% of different people, the share of same-person pairs recognised.
 *
 *   node dist/bench/reid-study.js [--faces N] [--json]
 */
import type { Box, GrayImage } from '../src/core/image.js';
import { createImage } from '../src/core/image.js';
import { descriptorSimilarity, faceDescriptor, type DescriptorKind } from '../src/video/appearance.js';
import { ensureFace300w, loadFace300w } from '../test/support/face300w.js';

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface View {
  readonly gray: GrayImage;
  readonly box: Box;
}

/** The photo changed as another frame of a video would show it (see the module comment). */
function augment(gray: GrayImage, box: Box, random: () => number, strong: boolean): View {
  const u = (): number => 2 * random() - 1;
  const gain = 1 + 0.25 * u();
  const offset = 25 * u();
  const angle = strong && random() < 0.5 ? (8 * u() * Math.PI) / 180 : 0;
  const blur = strong && angle === 0;
  const { width, height } = gray;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Inverse rotation about the box centre, nearest pixel (the descriptor averages areas anyway).
      const sx = Math.round(cx + (x - cx) * cos + (y - cy) * sin);
      const sy = Math.round(cy - (x - cx) * sin + (y - cy) * cos);
      let v = 0;
      if (blur) {
        let n = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const px = Math.min(width - 1, Math.max(0, sx + dx));
            const py = Math.min(height - 1, Math.max(0, sy + dy));
            v += gray.data[py * width + px];
            n++;
          }
        v /= n;
      } else {
        v = gray.data[Math.min(height - 1, Math.max(0, sy)) * width + Math.min(width - 1, Math.max(0, sx))];
      }
      out[y * width + x] = Math.max(0, Math.min(255, Math.round(v * gain + offset)));
    }
  }
  const scale = 1 + 0.08 * u();
  const side = box.width * scale;
  const moved: Box = {
    x: Math.round(cx - side / 2 + 0.06 * box.width * u()),
    y: Math.round(cy - side / 2 + 0.06 * box.height * u()),
    width: Math.round(side),
    height: Math.round(side),
  };
  return { gray: createImage(width, height, 1, out), box: moved };
}

interface Scores {
  readonly same: number[];
  readonly different: number[];
}

function auc({ same, different }: Scores): number {
  const all = [...same.map((v) => [v, 1] as const), ...different.map((v) => [v, 0] as const)].sort(
    (a, b) => a[0] - b[0],
  );
  let rankSum = 0;
  all.forEach(([, label], i) => {
    if (label === 1) rankSum += i + 1;
  });
  return (rankSum - (same.length * (same.length + 1)) / 2) / (same.length * different.length);
}

/** The threshold where as many same pairs fall below as different pairs rise above it, and that rate. */
function eer({ same, different }: Scores): { threshold: number; rate: number } {
  let best = { threshold: 0, rate: 1, gap: Infinity };
  for (const t of [...same, ...different]) {
    const frr = same.filter((v) => v < t).length / same.length;
    const far = different.filter((v) => v >= t).length / different.length;
    if (Math.abs(frr - far) < best.gap)
      best = { threshold: t, rate: (frr + far) / 2, gap: Math.abs(frr - far) };
  }
  return { threshold: best.threshold, rate: best.rate };
}

/** At the threshold merging `far` of the different pairs: that threshold and the same pairs above it. */
function atFalseMerge({ same, different }: Scores, far: number): { threshold: number; recall: number } {
  const sorted = [...different].sort((a, b) => b - a);
  const threshold = sorted[Math.floor(far * sorted.length)];
  return { threshold, recall: same.filter((v) => v > threshold).length / same.length };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const limitAt = args.indexOf('--faces');
  const limit = limitAt >= 0 ? Number(args[limitAt + 1]) : Infinity;
  const dir = await ensureFace300w();
  const faces = (await loadFace300w(dir, 'all')).filter((f) => f.box !== undefined).slice(0, limit);
  const random = rng(23);
  const views = faces.map((f, i) => ({
    a: augment(f.gray, f.box as Box, random, false),
    b: augment(f.gray, f.box as Box, random, i % 2 === 0),
  }));
  const pairs: [number, number][] = [];
  for (let i = 0; i < faces.length; i++) {
    for (let k = 0; k < 20; k++) {
      const j = Math.floor(random() * faces.length);
      if (j !== i) pairs.push([i, j]);
    }
  }
  const result: Record<string, unknown> = { faces: faces.length, differentPairs: pairs.length };
  for (const kind of ['lbp', 'gray', 'hog'] as DescriptorKind[]) {
    const started = performance.now();
    const a = views.map((v) => faceDescriptor(v.a.gray, v.a.box, kind));
    const b = views.map((v) => faceDescriptor(v.b.gray, v.b.box, kind));
    const msPerFace = (performance.now() - started) / (2 * views.length);
    const scores: Scores = {
      same: a.map((d, i) => descriptorSimilarity(d, b[i])),
      different: pairs.map(([i, j]) => descriptorSimilarity(a[i], b[j])),
    };
    const e = eer(scores);
    const at1 = atFalseMerge(scores, 0.01);
    result[kind] = {
      auc: +auc(scores).toFixed(4),
      eer: +e.rate.toFixed(4),
      eerThreshold: +e.threshold.toFixed(3),
      falseMerge1pct: { threshold: +at1.threshold.toFixed(3), sameRecognised: +at1.recall.toFixed(4) },
      msPerFace: +msPerFace.toFixed(3),
    };
  }
  if (json) console.log(JSON.stringify(result, null, 2));
  else console.log(result);
}

await main();
