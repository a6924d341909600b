/**
 * Super-resolution model benchmark: file size, load time, and ms per face at batch 1 and batch 32 with
 * onnxruntime-node (1 intra-op thread), on real PublicTest faces degraded x4 (12x12) and restored to
 * 48x48 by `FaceEnhancer.enhance` (bicubic, equalization, inference and rounding included).
 */
import { existsSync, statSync } from 'node:fs';
import type { GrayImage } from '../src/core/image.js';
import { degrade } from '../src/enhance/degrade.js';
import type { FaceEnhancer } from '../src/enhance/face-enhancer.js';
import {
  DEFAULT_ENHANCE_MODEL_PATH,
  loadFaceEnhancer,
  shippedSpecialists,
} from '../src/io/node/enhance-model.js';
import { benchFaces, loadMs, msPerFace } from './per-face.js';
import type { BenchOptions, BenchSection, Cell, SectionReport } from './run.js';

const FACES = 128;
const FACTOR = 4;

async function run(options: BenchOptions): Promise<SectionReport> {
  const model = process.env.MOODLENS_BENCH_ENHANCE_MODEL ?? DEFAULT_ENHANCE_MODEL_PATH;
  if (!existsSync(model)) {
    return {
      title: 'Super-resolution model (FSRNet)',
      columns: ['measure', 'value'],
      rows: [],
      notes: [`skipped: no model at ${model}`],
      data: null,
    };
  }
  const bytes = statSync(model).size;
  const faces = (await benchFaces(FACES)).map((face) => degrade(face, FACTOR));
  const load = (batchSize: number): Promise<FaceEnhancer> => loadFaceEnhancer(model, { batchSize });
  const enhance = (enhancer: FaceEnhancer, batch: readonly GrayImage[]): Promise<unknown> =>
    enhancer.enhance(batch);
  const loadTime = await loadMs(() => loadFaceEnhancer(model), options);
  // The shipped model loads its specialists too (the x4 model restores these 12x12 faces).
  const specialists = shippedSpecialists(model).length;
  const batch1 = await msPerFace(load, enhance, faces, 1, options);
  const batch32 = await msPerFace(load, enhance, faces, 32, options);
  options.progress(
    `enhance: ${batch1.toFixed(3)} ms/face at batch 1, ${batch32.toFixed(3)} ms/face at batch 32`,
  );
  const rows: Cell[][] = [
    ['model file (MiB)', Number((bytes / 2 ** 20).toFixed(2))],
    ['specialist models loaded with it', specialists],
    ['model load, all files (ms)', Number(loadTime.toFixed(1))],
    ['ms per face, batch 1', Number(batch1.toFixed(3))],
    ['ms per face, batch 32', Number(batch32.toFixed(3))],
    ['faces per second, batch 32', Math.round(1000 / batch32)],
  ];
  return {
    title:
      `Super-resolution model ${model.split('/').pop() ?? model} (onnxruntime-node, 1 thread; ` +
      `enhance() of ${FACTOR}x-degraded 12x12 faces to 48x48, incl. bicubic and equalization)`,
    columns: ['measure', 'value'],
    rows,
    notes: [],
    data: { model, bytes, specialists, loadMs: loadTime, msPerFaceBatch1: batch1, msPerFaceBatch32: batch32 },
  };
}

export const enhanceSection: BenchSection = {
  name: 'enhance',
  description: 'Super-resolution model (FSRNet): size, load time and ms per face at batch 1 and 32',
  run,
};
