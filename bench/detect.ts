/**
 * Face detection benchmark: our Haar engine against OpenCV's native detectMultiScale (python3-opencv,
 * timed inside Python around the call alone) on the same 640x480 gray images, in the same run, with
 * OpenCV's defaults (1.1 / 3). OpenCV is timed with 1 thread and with its default thread count.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Box, GrayImage } from '../src/core/image.js';
import { availableParallelism } from 'node:os';
import { DEFAULT_CASCADE_PATH, loadFaceDetector } from '../src/io/node/cascade-file.js';
import { ParallelFaceDetector } from '../src/io/node/parallel-detector.js';
import {
  composeFerScenes,
  letterbox,
  loadAstronaut,
  sceneInputsProblem,
  writeGrayPng,
} from '../test/support/fer-scenes.js';
import { openCvAvailability, runOpenCv, type OpenCvRun } from '../test/support/opencv.js';
import type { BenchOptions, BenchSection, Cell, SectionReport } from './run.js';

const WIDTH = 640;
const HEIGHT = 480;
const SCENES = 4;

interface BenchImage {
  readonly name: string;
  readonly image: GrayImage;
}

export interface DetectImageResult {
  readonly image: string;
  readonly oursMs: number;
  readonly oursRuns: number[];
  readonly oursThreadedMs: number;
  readonly oursJsMs: number;
  readonly opencv1Ms: number | null;
  readonly opencvDefaultMs: number | null;
  readonly oursBoxes: number;
  readonly opencvBoxes: number | null;
  readonly identicalBoxes: boolean | null;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function benchImages(): Promise<BenchImage[]> {
  const astronaut = await loadAstronaut();
  const images: BenchImage[] = [
    { name: 'astronaut (letterboxed)', image: letterbox(astronaut.gray, WIDTH, HEIGHT) },
  ];
  if (!sceneInputsProblem()) {
    const scenes = await composeFerScenes({ count: SCENES, width: WIDTH, height: HEIGHT });
    for (const scene of scenes) images.push({ name: scene.name, image: scene.image });
  }
  return images;
}

function key(boxes: readonly Box[]): string {
  return boxes
    .map((b) => [b.x, b.y, b.width, b.height].join(','))
    .sort()
    .join(' ');
}

async function run(options: BenchOptions): Promise<SectionReport> {
  const { repeat, warmup, progress } = options;
  const detector = await loadFaceDetector();
  const images = await benchImages();

  const threadCount = Math.min(availableParallelism(), 8);
  const parallel = await ParallelFaceDetector.create({ threads: threadCount });
  const jsDetector = await loadFaceDetector(undefined, 'js');
  const time = async (detect: () => Box[] | Promise<Box[]>): Promise<{ runs: number[]; boxes: Box[] }> => {
    let boxes: Box[] = [];
    for (let i = 0; i < warmup; i++) await detect();
    const runs: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const start = performance.now();
      boxes = await detect();
      runs.push(performance.now() - start);
    }
    return { runs, boxes };
  };
  const ours: Array<{ runs: number[]; boxes: Box[]; threaded: number; js: number }> = [];
  try {
    for (const { name, image } of images) {
      const single = await time(() => detector.detect(image));
      const threaded = await time(() => parallel.detect(image));
      const js = await time(() => jsDetector.detect(image));
      if (key(threaded.boxes) !== key(single.boxes) || key(js.boxes) !== key(single.boxes)) {
        throw new Error(`engines disagree on ${name}`);
      }
      ours.push({ ...single, threaded: median(threaded.runs), js: median(js.runs) });
      progress(
        `detect: ours ${name} ${median(single.runs).toFixed(1)} ms (1 thread), ` +
          `${median(threaded.runs).toFixed(1)} ms (${threadCount} threads), ${median(js.runs).toFixed(1)} ms (TypeScript path)`,
      );
    }
  } finally {
    await parallel.close();
  }

  const opencv = await openCvAvailability();
  let single: OpenCvRun | undefined;
  let threaded: OpenCvRun | undefined;
  const notes: string[] = [];
  if (opencv.available) {
    const dir = await mkdtemp(join(tmpdir(), 'moodlens-bench-'));
    try {
      const files = await Promise.all(
        images.map(async ({ image }, i) => {
          const file = join(dir, `image-${i}.png`);
          await writeGrayPng(image, file);
          return file;
        }),
      );
      const job = { cascade: DEFAULT_CASCADE_PATH, images: files, repeat, warmup };
      progress('detect: OpenCV, 1 thread');
      single = await runOpenCv({ ...job, threads: 1 });
      progress('detect: OpenCV, default threads');
      threaded = await runOpenCv(job);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } else {
    notes.push(`OpenCV columns empty: ${opencv.reason}`);
  }

  const results: DetectImageResult[] = images.map(({ name }, i) => {
    const reference = single?.results[i];
    return {
      image: name,
      oursMs: median(ours[i].runs),
      oursRuns: ours[i].runs,
      oursThreadedMs: ours[i].threaded,
      oursJsMs: ours[i].js,
      opencv1Ms: reference?.ms ?? null,
      opencvDefaultMs: threaded?.results[i].ms ?? null,
      oursBoxes: ours[i].boxes.length,
      opencvBoxes: reference?.boxes.length ?? null,
      identicalBoxes: reference
        ? key(ours[i].boxes) ===
          key(reference.boxes.map(([x, y, width, height]) => ({ x, y, width, height })))
        : null,
    };
  });

  const ms = (v: number | null): Cell => (v === null ? null : Number(v.toFixed(1)));
  const ratio = (a: number, b: number | null): Cell =>
    b === null || b === 0 ? null : `${(a / b).toFixed(2)}x`;
  const sum = (pick: (r: DetectImageResult) => number | null): number | null =>
    results.some((r) => pick(r) === null) ? null : results.reduce((acc, r) => acc + (pick(r) ?? 0), 0);
  const totalOurs = sum((r) => r.oursMs) ?? 0;
  const totalThreaded = sum((r) => r.oursThreadedMs) ?? 0;
  const totalJs = sum((r) => r.oursJsMs) ?? 0;
  const total1 = sum((r) => r.opencv1Ms);
  const totalN = sum((r) => r.opencvDefaultMs);
  const threads = threaded?.threads ?? null;
  const rows: Cell[][] = results.map((r) => [
    r.image,
    ms(r.oursMs),
    ms(r.opencv1Ms),
    ratio(r.oursMs, r.opencv1Ms),
    ms(r.oursThreadedMs),
    ms(r.opencvDefaultMs),
    ratio(r.oursThreadedMs, r.opencvDefaultMs),
    ms(r.oursJsMs),
    `${r.oursBoxes}/${r.opencvBoxes ?? 'n/a'}`,
    r.identicalBoxes === null ? null : r.identicalBoxes ? 'yes' : 'NO',
  ]);
  rows.push([
    'all images',
    ms(totalOurs),
    ms(total1),
    ratio(totalOurs, total1),
    ms(totalThreaded),
    ms(totalN),
    ratio(totalThreaded, totalN),
    ms(totalJs),
    '',
    '',
  ]);
  notes.push(
    `ours 1T: HaarFaceDetector (WebAssembly scan kernel) on the main thread; ours ${threadCount}T: ParallelFaceDetector ` +
      `(pyramid levels over ${threadCount} threads); TS-only: the same engine with the WebAssembly kernel off. OpenCV ${single?.opencv ?? ''} timed in Python around detectMultiScale ` +
      `only (OpenCL off); default threads = ${threads ?? 'n/a'}. Shared machines are noisy: compare within one run.`,
  );
  return {
    title: `Face detection, ${WIDTH}x${HEIGHT} gray, scaleFactor 1.1, minNeighbors 3 (ms per image; last row: all images together)`,
    columns: [
      'image',
      'ours 1T',
      'OpenCV 1T',
      'ratio 1T',
      `ours ${threadCount}T`,
      `OpenCV ${threads ?? '?'}T`,
      `ratio ${threadCount}T/${threads ?? '?'}T`,
      'ours TS-only 1T',
      'boxes ours/cv',
      'same',
    ],
    rows,
    notes,
    data: {
      width: WIDTH,
      height: HEIGHT,
      options: { scaleFactor: 1.1, minNeighbors: 3 },
      opencv: single?.opencv ?? null,
      opencvDefaultThreads: threads,
      threads: threadCount,
      totals: {
        oursMs: totalOurs,
        oursThreadedMs: totalThreaded,
        oursJsMs: totalJs,
        opencv1Ms: total1,
        opencvDefaultMs: totalN,
      },
      images: results,
    },
  };
}

export const detectSection: BenchSection = {
  name: 'detect',
  description: 'Haar face detection, ours vs OpenCV detectMultiScale (1 thread and default threads)',
  run,
};
