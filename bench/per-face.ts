/**
 * Timing helpers shared by the model benchmarks: load time, and milliseconds per face at a batch size for
 * any stage that owns a model (classifier, enhancer), on real PublicTest faces.
 */
import { join } from 'node:path';
import type { GrayImage } from '../src/core/image.js';
import { ensureFer2013, listFerFaces, readGrayFile } from '../test/support/fer-scenes.js';
import { median } from './detect.js';
import type { BenchOptions } from './run.js';

/** Faces timed one by one at batch 1 (the batched runs take all of them). */
const SINGLE_FACES = 64;

/** A stage that owns a model and frees it. */
export interface Disposable {
  dispose(): Promise<void>;
}

/** `count` PublicTest faces spread over the classes (every 13th file), as read from disk. */
export async function benchFaces(count: number): Promise<GrayImage[]> {
  const root = await ensureFer2013();
  const files = (await listFerFaces()).filter((_, i) => i % 13 === 0).slice(0, count);
  const faces: GrayImage[] = [];
  for (const file of files) faces.push(await readGrayFile(join(root, file)));
  return faces;
}

/** Median milliseconds to load (and free) the stage. */
export async function loadMs(load: () => Promise<Disposable>, options: BenchOptions): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < Math.max(1, options.repeat); i++) {
    const start = performance.now();
    const stage = await load();
    runs.push(performance.now() - start);
    await stage.dispose();
  }
  return median(runs);
}

/**
 * Median milliseconds per face: at batch 1, `run` on one face at a time over the first faces; otherwise
 * `run` on all `faces` with a stage loaded for `batchSize`.
 */
export async function msPerFace<S extends Disposable>(
  load: (batchSize: number) => Promise<S>,
  run: (stage: S, faces: readonly GrayImage[]) => Promise<unknown>,
  faces: readonly GrayImage[],
  batchSize: number,
  options: BenchOptions,
): Promise<number> {
  const stage = await load(batchSize);
  try {
    for (let i = 0; i < options.warmup; i++) await run(stage, faces.slice(0, batchSize));
    const single = faces.slice(0, SINGLE_FACES);
    const runs: number[] = [];
    for (let i = 0; i < options.repeat; i++) {
      const start = performance.now();
      if (batchSize === 1) for (const face of single) await run(stage, [face]);
      else await run(stage, faces);
      runs.push((performance.now() - start) / (batchSize === 1 ? single.length : faces.length));
    }
    return median(runs);
  } finally {
    await stage.dispose();
  }
}
