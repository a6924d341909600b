/**
 * Emotion model benchmark: load time, and ms per face at batch 1 and batch 32 with onnxruntime-node
 * (1 intra-op thread), on real PublicTest faces through the same preprocessing as `analyze`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GrayImage } from '../src/core/image.js';
import { equalizeHist } from '../src/emotion/preprocess.js';
import { DEFAULT_EMOTION_MODEL_PATH, loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { ensureFer2013, listFerFaces, readGrayFile } from '../test/support/fer-scenes.js';
import { median } from './detect.js';
import type { BenchOptions, BenchSection, Cell, SectionReport } from './run.js';

const FACES = 256;

async function run(options: BenchOptions): Promise<SectionReport> {
  const model = process.env.MOODLENS_BENCH_MODEL ?? DEFAULT_EMOTION_MODEL_PATH;
  if (!existsSync(model)) {
    return {
      title: 'Emotion model',
      columns: ['measure', 'value'],
      rows: [],
      notes: [`skipped: no model at ${model}`],
      data: null,
    };
  }
  const root = await ensureFer2013();
  const files = (await listFerFaces()).filter((_, i) => i % 13 === 0).slice(0, FACES);
  const faces: GrayImage[] = [];
  for (const file of files) faces.push(equalizeHist(await readGrayFile(join(root, file))));

  const loadRuns: number[] = [];
  for (let i = 0; i < Math.max(1, options.repeat); i++) {
    const start = performance.now();
    const classifier = await loadEmotionClassifier(model);
    loadRuns.push(performance.now() - start);
    await classifier.dispose();
  }
  const perFace = async (batchSize: number): Promise<number> => {
    const classifier = await loadEmotionClassifier(model, { batchSize });
    try {
      for (let i = 0; i < options.warmup; i++) await classifier.classify(faces.slice(0, batchSize));
      const runs: number[] = [];
      for (let i = 0; i < options.repeat; i++) {
        const start = performance.now();
        if (batchSize === 1) for (const face of faces.slice(0, 64)) await classifier.classify([face]);
        else await classifier.classify(faces);
        runs.push((performance.now() - start) / (batchSize === 1 ? 64 : faces.length));
      }
      return median(runs);
    } finally {
      await classifier.dispose();
    }
  };
  const batch1 = await perFace(1);
  const batch32 = await perFace(32);
  options.progress(
    `emotion: ${batch1.toFixed(3)} ms/face at batch 1, ${batch32.toFixed(3)} ms/face at batch 32`,
  );
  const rows: Cell[][] = [
    ['model load (ms)', Number(median(loadRuns).toFixed(1))],
    ['ms per face, batch 1', Number(batch1.toFixed(3))],
    ['ms per face, batch 32', Number(batch32.toFixed(3))],
    ['faces per second, batch 32', Math.round(1000 / batch32)],
  ];
  return {
    title: `Emotion model ${model.split('/').pop() ?? model} (onnxruntime-node, 1 thread; classify() incl. packing and softmax)`,
    columns: ['measure', 'value'],
    rows,
    notes: [],
    data: { model, loadMs: median(loadRuns), msPerFaceBatch1: batch1, msPerFaceBatch32: batch32 },
  };
}

export const emotionSection: BenchSection = {
  name: 'emotion',
  description: 'Emotion model: load time and ms per face at batch 1 and 32 (onnxruntime-node)',
  run,
};
