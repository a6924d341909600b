/**
 * Emotion model benchmark: load time, and ms per face at batch 1 and batch 32 with onnxruntime-node
 * (1 intra-op thread), on real PublicTest faces through the same preprocessing as `analyze`.
 */
import { existsSync } from 'node:fs';
import type { GrayImage } from '../src/core/image.js';
import type { EmotionClassifier } from '../src/emotion/classifier.js';
import { equalizeHist } from '../src/emotion/preprocess.js';
import { DEFAULT_EMOTION_MODEL_PATH, loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { benchFaces, loadMs, msPerFace } from './per-face.js';
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
  const faces = (await benchFaces(FACES)).map(equalizeHist);
  const load = (batchSize: number): Promise<EmotionClassifier> => loadEmotionClassifier(model, { batchSize });
  const classify = (classifier: EmotionClassifier, batch: readonly GrayImage[]): Promise<unknown> =>
    classifier.classify(batch);
  const loadTime = await loadMs(() => loadEmotionClassifier(model), options);
  const batch1 = await msPerFace(load, classify, faces, 1, options);
  const batch32 = await msPerFace(load, classify, faces, 32, options);
  options.progress(
    `emotion: ${batch1.toFixed(3)} ms/face at batch 1, ${batch32.toFixed(3)} ms/face at batch 32`,
  );
  const rows: Cell[][] = [
    ['model load (ms)', Number(loadTime.toFixed(1))],
    ['ms per face, batch 1', Number(batch1.toFixed(3))],
    ['ms per face, batch 32', Number(batch32.toFixed(3))],
    ['faces per second, batch 32', Math.round(1000 / batch32)],
  ];
  return {
    title: `Emotion model ${model.split('/').pop() ?? model} (onnxruntime-node, 1 thread; classify() incl. packing and softmax)`,
    columns: ['measure', 'value'],
    rows,
    notes: [],
    data: { model, loadMs: loadTime, msPerFaceBatch1: batch1, msPerFaceBatch32: batch32 },
  };
}

export const emotionSection: BenchSection = {
  name: 'emotion',
  description: 'Emotion model: load time and ms per face at batch 1 and 32 (onnxruntime-node)',
  run,
};
