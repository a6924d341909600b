/**
 * `npm run study:margin`: which crop margin around the Haar box gives the emotion model its best accuracy.
 * Real PublicTest faces are enlarged (48 -> 144 px, bilinear) and pasted upright into face-free photos,
 * found with the shipped cascade, cut out with each margin, and classified; the FER crop itself is the
 * reference. Prints accuracy per margin over the faces the detector found (and `--json`).
 *
 *   node dist/bench/crop-margin.js [--model FILE] [--per-class N] [--json]
 */
import { join } from 'node:path';
import type { Box, GrayImage } from '../src/core/image.js';
import { cropFace, equalizeHist } from '../src/emotion/preprocess.js';
import { EMOTION_LABELS, emotionIndex } from '../src/emotion/labels.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import {
  BACKGROUNDS,
  ensureFer2013,
  iou,
  listFerFaces,
  loadBackground,
  pasteFace,
  readGrayFile,
} from '../test/support/fer-scenes.js';
import { runStudy, studyArgs } from './study-cli.js';

const MARGINS = [0, 0.05, 0.1, 0.15, 0.2, 0.3];
const SIDE = 144;
const CANVAS = 320;

const USAGE = `Usage: npm run study:margin -- [--model FILE] [--per-class N] [--json]
Which crop margin around the Haar box gives the emotion model its best accuracy (FER-2013 PublicTest faces
pasted into photos). --model: an emotion ONNX file (default the shipped one); --per-class: faces per class
(default 60).`;

async function main(): Promise<void> {
  const values = studyArgs(USAGE, {
    model: { type: 'string' },
    'per-class': { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
  });
  const perClass = Number(values['per-class']);
  const root = await ensureFer2013();
  const files = await listFerFaces();
  const chosen = EMOTION_LABELS.flatMap((label) =>
    files.filter((f) => f.split('/')[1] === label).slice(0, perClass),
  );
  const detector = await loadFaceDetector();
  const classifier = await loadEmotionClassifier(values.model);
  const backgrounds = await Promise.all(BACKGROUNDS.map((name) => loadBackground(name, CANVAS, CANVAS)));
  const at = Math.round((CANVAS - SIDE) / 2);
  const truth: Box = { x: at, y: at, width: SIDE, height: SIDE };

  const labels: number[] = [];
  const reference: GrayImage[] = [];
  const crops: GrayImage[][] = MARGINS.map(() => []);
  const ratios: number[] = [];
  for (const [i, file] of chosen.entries()) {
    const face = await readGrayFile(join(root, file));
    const background = backgrounds[i % backgrounds.length];
    const canvas = { width: CANVAS, height: CANVAS, channels: 1 as const, data: background.data.slice() };
    pasteFace(canvas, face, at, at, SIDE, 0);
    const found = detector.detect(canvas).sort((a, b) => iou(b, truth) - iou(a, truth))[0];
    if (!found || iou(found, truth) < 0.5) continue;
    ratios.push(found.width / SIDE);
    labels.push(emotionIndex(file.split('/')[1] as (typeof EMOTION_LABELS)[number]));
    reference.push(equalizeHist(face));
    MARGINS.forEach((margin, m) => crops[m].push(cropFace(canvas, found, { margin })));
  }
  const accuracy = async (faces: GrayImage[]): Promise<number> => {
    const results = await classifier.classify(faces);
    return results.filter((r, i) => emotionIndex(r.label) === labels[i]).length / faces.length;
  };
  const rows = [{ crop: 'FER crop itself (reference)', accuracy: await accuracy(reference) }];
  for (const [m, margin] of MARGINS.entries()) {
    rows.push({ crop: `Haar box, margin ${margin}`, accuracy: await accuracy(crops[m]) });
  }
  await classifier.dispose();
  const sortedRatios = [...ratios].sort((a, b) => a - b);
  const report = {
    faces: chosen.length,
    detected: labels.length,
    boxSideOverFaceSide: { median: sortedRatios[sortedRatios.length >> 1] ?? null },
    rows,
  };
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(
    `${report.detected} of ${report.faces} faces found (${SIDE} px, upright, in ${CANVAS}x${CANVAS} photos); ` +
      `median Haar box side / pasted side ${report.boxSideOverFaceSide.median?.toFixed(2) ?? 'n/a'}`,
  );
  for (const row of rows) console.log(`${row.crop.padEnd(30)} ${(row.accuracy * 100).toFixed(2)}%`);
}

runStudy('study:margin', main);
