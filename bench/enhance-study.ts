/**
 * `npm run study:enhance`: below which face size restoring faces with FSRNet before classifying them helps
 * the emotion model, and so the default of `--enhance-below` (`--enhance auto`).
 *
 * Every PublicTest face (48x48) is shrunk to each size as a camera would see it small (Gaussian blur,
 * sigma = ratio / 4, then an exact area average: `degradeToSize`, the training code's degradation where
 * the ratio is an integer), then brought back to 48x48 three ways and classified:
 *   plain    the classifier's own preprocessing (bilinear enlargement, as analyze does for small crops)
 *   bicubic  PyTorch's bicubic (FSRNet's input, before equalization)
 *   fsrnet   the super-resolution network
 * and PSNR/SSIM of each restored face against the original. At 48 px the face is untouched (FSRNet then
 * only "restores" a clean face). Two thresholds are printed for `--enhance auto`'s three ways: the
 * smallest size from which on FSRNet no longer beats bicubic (`--enhance-below`: smaller faces get
 * FSRNet) and the smallest from which on bicubic no longer beats the plain path (`--upscale-below`:
 * faces between the two are enlarged bicubically).
 *
 *   node dist/bench/enhance-study.js [--data DIR] [--sizes 12,16,...] [--limit N] [--model FILE]
 *     [--enhance-model FILE] [--json]
 *
 * --data (or MOODLENS_FER_VAL): a FER-2013 folder <emotion>/*.jpg or fer2013.csv (PublicTest rows);
 * default: the PublicTest archive unpacked into .cache/fer2013/val.
 */
import { join } from 'node:path';
import type { GrayImage } from '../src/core/image.js';
import { degradeToSize } from '../src/enhance/degrade.js';
import { QualityTally } from '../src/enhance/quality.js';
import { restoreFaces, RESTORE_METHODS, type RestoreMethod } from '../src/enhance/restore.js';
import { equalizeHist, cropFace } from '../src/emotion/preprocess.js';
import { emotionIndex } from '../src/emotion/labels.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { DEFAULT_ENHANCE_MODEL_PATH, loadFaceEnhancer } from '../src/io/node/enhance-model.js';
import { openFerDataset } from '../src/io/node/fer-dataset.js';
import { ensureFer2013 } from '../test/support/fer-scenes.js';
import { describeMachine } from './machine.js';
import { runStudy, studyArgs } from './study-cli.js';

/** Every 4 px up to the cascade's smallest face (24 px), then every 2 px where FSRNet stops helping. */
const DEFAULT_SIZES = [12, 16, 20, 24, 26, 28, 30, 32, 34, 36, 40, 48];
const FACE = 48;
const BATCH = 256;

/** What `moodlens evaluate` calls the paths, and the study's names for them. */
const PATH_NAMES: Readonly<Record<RestoreMethod, string>> = {
  none: 'plain',
  bicubic: 'bicubic',
  fsrnet: 'fsrnet',
};

interface PathResult {
  readonly accuracy: number;
  readonly psnr: number;
  readonly ssim: number;
}

interface SizeRow {
  readonly size: number;
  readonly paths: Readonly<Record<RestoreMethod, PathResult>>;
  /** Faces FSRNet gets right and the plain path wrong, and the other way round. */
  readonly fsrnetOnly: number;
  readonly plainOnly: number;
}

/**
 * A threshold from the rows (ascending sizes): the smallest size from which on `better` is never more
 * accurate than `than`; faces below it take `better`. The smallest size when it never helps; Infinity
 * when it helps even at the largest size.
 */
function crossover(rows: readonly SizeRow[], better: RestoreMethod, than: RestoreMethod): number {
  let threshold = Infinity;
  for (let i = rows.length - 1; i >= 0; i--) {
    const { paths } = rows[i];
    if (paths[better].accuracy > paths[than].accuracy) break;
    threshold = rows[i].size;
  }
  return threshold;
}

function describeThreshold(threshold: number, what: string, flag: string, sizes: readonly number[]): string {
  if (!Number.isFinite(threshold))
    return `${what} helps at every measured size, up to ${sizes[sizes.length - 1]} px.`;
  if (threshold === sizes[0]) return `${what} helps at no measured size (${flag} ${threshold}).`;
  return `${what} helps below ${threshold} px: the default for ${flag}.`;
}

const USAGE = `Usage: npm run study:enhance -- [--data DIR] [--sizes 12,16,...] [--limit N] [--model FILE]
    [--enhance-model FILE] [--json]
Below which face size FSRNet, and below which a bicubic enlargement, helps the emotion model: every
PublicTest face shrunk to each size (px), brought back three ways and classified. --data: a FER-2013 folder
or fer2013.csv (default MOODLENS_FER_VAL or the shared PublicTest archive).`;

async function main(): Promise<void> {
  const values = studyArgs(USAGE, {
    data: { type: 'string' },
    sizes: { type: 'string' },
    limit: { type: 'string' },
    model: { type: 'string' },
    'enhance-model': { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const sizes = values.sizes?.split(',').map(Number) ?? DEFAULT_SIZES;
  if (!sizes.every((s) => Number.isInteger(s) && s >= 1 && s <= FACE)) {
    throw new RangeError(`--sizes: expected integers from 1 to ${FACE} but received ${values.sizes}`);
  }
  sizes.sort((a, b) => a - b);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  const data = values.data ?? process.env.MOODLENS_FER_VAL ?? join(await ensureFer2013(), 'val');
  const log = (line: string): void => void process.stderr.write(`${line}\n`);

  const dataset = await openFerDataset(data, { limit });
  const faces: GrayImage[] = [];
  const labels: number[] = [];
  for await (const face of dataset.faces()) {
    const { width, height } = face.image;
    faces.push(cropFace(face.image, { x: 0, y: 0, width, height }, { size: FACE, equalize: false }));
    labels.push(face.label);
  }
  log(`${faces.length} faces from ${dataset.path}`);

  const classifier = await loadEmotionClassifier(values.model, { batchSize: BATCH });
  const enhancerPath = values['enhance-model'] ?? DEFAULT_ENHANCE_MODEL_PATH;
  const enhancer = await loadFaceEnhancer(enhancerPath, { batchSize: 64 });
  const started = performance.now();
  const rows: SizeRow[] = [];
  try {
    for (const size of sizes) {
      const correct: Record<RestoreMethod, boolean[]> = { none: [], bicubic: [], fsrnet: [] };
      const tallies: Record<RestoreMethod, QualityTally> = {
        none: new QualityTally(),
        bicubic: new QualityTally(),
        fsrnet: new QualityTally(),
      };
      for (let start = 0; start < faces.length; start += BATCH) {
        const originals = faces.slice(start, start + BATCH);
        const small = originals.map((hr) => (size === FACE ? hr : degradeToSize(hr, size)));
        for (const method of RESTORE_METHODS) {
          const restored = await restoreFaces(small, method, FACE, enhancer);
          restored.forEach((r, i) => tallies[method].add(r, originals[i]));
          const results = await classifier.classify(restored.map(equalizeHist));
          results.forEach((r, i) => correct[method].push(emotionIndex(r.label) === labels[start + i]));
        }
      }
      const share = (list: boolean[]): number => list.filter(Boolean).length / list.length;
      const paths = Object.fromEntries(
        RESTORE_METHODS.map((m) => [
          m,
          { accuracy: share(correct[m]), psnr: tallies[m].psnr, ssim: tallies[m].ssim },
        ]),
      ) as Record<RestoreMethod, PathResult>;
      const row: SizeRow = {
        size,
        paths,
        fsrnetOnly: correct.fsrnet.filter((c, i) => c && !correct.none[i]).length,
        plainOnly: correct.fsrnet.filter((c, i) => !c && correct.none[i]).length,
      };
      rows.push(row);
      log(
        `${size} px: plain ${pct(paths.none.accuracy)}, bicubic ${pct(paths.bicubic.accuracy)}, ` +
          `fsrnet ${pct(paths.fsrnet.accuracy)} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
      );
    }
  } finally {
    await classifier.dispose();
    await enhancer.dispose();
  }
  const machine = await describeMachine();
  const threshold = crossover(rows, 'fsrnet', 'bicubic');
  const upscaleThreshold = crossover(rows, 'bicubic', 'none');
  const finite = (t: number): number | null => (Number.isFinite(t) ? t : null);
  const report = {
    machine,
    data: dataset.path,
    faces: faces.length,
    emotionModel: values.model ?? 'shipped',
    enhanceModel: enhancerPath,
    rows,
    threshold: finite(threshold),
    upscaleThreshold: finite(upscaleThreshold),
    seconds: (performance.now() - started) / 1000,
  };
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(
    `Machine: ${machine.cpu}, ${machine.cores} cores; Node ${machine.node}\n` +
      `${faces.length} faces from ${dataset.path}; super-resolution model ${enhancerPath}\n` +
      `Each face shrunk to the size (blur sigma ratio/4 + area average), back to 48x48 by each path, classified.\n`,
  );
  const header = ['size', ...RESTORE_METHODS.map((m) => `${PATH_NAMES[m]} acc`), 'fsrnet-plain', 'only f/p'];
  header.push(
    ...RESTORE_METHODS.map((m) => `${PATH_NAMES[m]} dB`),
    ...RESTORE_METHODS.map((m) => `${PATH_NAMES[m]} ssim`),
  );
  console.log(header.map((h, i) => (i === 0 ? h.padEnd(5) : h.padStart(12))).join(' '));
  for (const row of rows) {
    const p = row.paths;
    const cells = [
      ...RESTORE_METHODS.map((m) => pct(p[m].accuracy)),
      `${((p.fsrnet.accuracy - p.none.accuracy) * 100).toFixed(2)} pt`,
      `${row.fsrnetOnly}/${row.plainOnly}`,
      ...RESTORE_METHODS.map((m) => p[m].psnr.toFixed(2)),
      ...RESTORE_METHODS.map((m) => p[m].ssim.toFixed(4)),
    ];
    console.log([`${row.size}`.padEnd(5), ...cells.map((c) => c.padStart(12))].join(' '));
  }
  console.log(
    `\n"only f/p": faces FSRNet classifies right and the plain path wrong / the other way round.\n` +
      `${describeThreshold(threshold, 'FSRNet (against bicubic)', '--enhance-below', sizes)}\n` +
      `${describeThreshold(upscaleThreshold, 'Bicubic (against the plain path)', '--upscale-below', sizes)}` +
      ` (${report.seconds.toFixed(0)} s)`,
  );
}

function pct(value: number): string {
  return `${(value * 100).toFixed(2)}%`;
}

runStudy('study:enhance', main);
