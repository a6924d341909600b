/**
 * Emotion model benchmark: load time, and ms per face at batch 1 and batch 32 with onnxruntime-node
 * (1 intra-op thread), on real PublicTest faces through the same preprocessing as `analyze`. Both shipped
 * models (the fast default and the accurate ensemble), or the one named by MOODLENS_BENCH_MODEL.
 */
import { existsSync } from 'node:fs';
import type { GrayImage } from '../src/core/image.js';
import type { EmotionClassifier } from '../src/emotion/classifier.js';
import { equalizeHist } from '../src/emotion/preprocess.js';
import {
  ACCURATE_EMOTION_MODEL_PATH,
  DEFAULT_EMOTION_MODEL_PATH,
  loadEmotionClassifier,
} from '../src/io/node/emotion-model.js';
import { benchFaces, loadMs, msPerFace } from './per-face.js';
import type { BenchOptions, BenchSection, Cell, SectionReport } from './run.js';

const FACES = 256;
/** The ensemble runs 24 passes per face: fewer faces keep its figure's time reasonable. */
const FACES_SLOW = 64;

interface ModelFigures {
  readonly model: string;
  readonly loadMs: number;
  readonly msPerFaceBatch1: number;
  readonly msPerFaceBatch32: number;
}

async function measure(
  model: string,
  faces: readonly GrayImage[],
  options: BenchOptions,
): Promise<ModelFigures> {
  const load = (batchSize: number): Promise<EmotionClassifier> => loadEmotionClassifier(model, { batchSize });
  const classify = (classifier: EmotionClassifier, batch: readonly GrayImage[]): Promise<unknown> =>
    classifier.classify(batch);
  const loadTime = await loadMs(() => loadEmotionClassifier(model), options);
  const batch1 = await msPerFace(load, classify, faces, 1, options);
  const batch32 = await msPerFace(load, classify, faces, 32, options);
  const name = model.split('/').pop() ?? model;
  options.progress(
    `emotion ${name}: ${batch1.toFixed(3)} ms/face at batch 1, ${batch32.toFixed(3)} at batch 32`,
  );
  return { model, loadMs: loadTime, msPerFaceBatch1: batch1, msPerFaceBatch32: batch32 };
}

async function run(options: BenchOptions): Promise<SectionReport> {
  const chosen = process.env.MOODLENS_BENCH_MODEL;
  const candidates = chosen ? [chosen] : [DEFAULT_EMOTION_MODEL_PATH, ACCURATE_EMOTION_MODEL_PATH];
  const models = candidates.filter((m) => existsSync(m));
  const missing = candidates.filter((m) => !existsSync(m)).map((m) => `skipped: no model at ${m}`);
  if (models.length === 0) {
    return { title: 'Emotion model', columns: ['measure'], rows: [], notes: missing, data: null };
  }
  const faces = (await benchFaces(FACES)).map(equalizeHist);
  const figures: ModelFigures[] = [];
  for (const model of models) {
    const slow = model === ACCURATE_EMOTION_MODEL_PATH;
    figures.push(await measure(model, slow ? faces.slice(0, FACES_SLOW) : faces, options));
  }
  const cell = (f: (m: ModelFigures) => number, digits: number): Cell[] =>
    figures.map((m) => Number(f(m).toFixed(digits)));
  const rows: Cell[][] = [
    ['model load (ms)', ...cell((m) => m.loadMs, 1)],
    ['ms per face, batch 1', ...cell((m) => m.msPerFaceBatch1, 3)],
    ['ms per face, batch 32', ...cell((m) => m.msPerFaceBatch32, 3)],
    ['faces per second, batch 32', ...figures.map((m) => Math.round(1000 / m.msPerFaceBatch32))],
  ];
  return {
    title: 'Emotion models (onnxruntime-node, 1 thread; classify() incl. packing and softmax)',
    columns: ['measure', ...figures.map((m) => m.model.split('/').pop() ?? m.model)],
    rows,
    notes: [
      ...missing,
      ...(figures.length > 1
        ? [
            `the accurate model is ${(figures[1].msPerFaceBatch32 / figures[0].msPerFaceBatch32).toFixed(1)}x slower per face at batch 32 (${FACES_SLOW} faces)`,
          ]
        : []),
    ],
    data: { models: figures },
  };
}

export const emotionSection: BenchSection = {
  name: 'emotion',
  description:
    'Emotion models (default and accurate): load time and ms per face at batch 1 and 32 (onnxruntime-node)',
  run,
};
