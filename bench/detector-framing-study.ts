/**
 * `npm run study:detector-framing`: whether the learned face detector's boxes serve the landmark and emotion
 * stages as well as the Haar boxes they were trained on (issue 21). Each face is measured three ways, on the
 * faces both detectors find:
 *
 * - **Haar**: the shipped cascade's box (OpenCV's defaults), what the stages were trained on;
 * - **cnn, Haar framing**: the learned detector's box mapped by its `moodlens.haar_framing` (what MoodLens
 *   runs with `--detector cnn`);
 * - **cnn, own box**: its box unmapped (shows what the mapping is for).
 *
 * Landmarks: NME (mean point error / outer-eye-corner distance) of the shipped landmark model (default
 * test-time augmentation) on face300w's held-out tenth (87 Helen photos with human labels, never trained on).
 * Emotion: accuracy of the full classify path (landmarks, alignment, emotion model) on FER-2013 PublicTest
 * faces enlarged to 144 px and pasted upright into face-free photos (as `npm run study:margin`), `--per-class`
 * faces per class.
 *
 *   node dist/bench/detector-framing-study.js [--detector-model FILE] [--mirror] [--per-class N] [--json]
 *
 * `--mirror` runs the learned detector with its mirror view (`CnnDetectOptions.mirror`).
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Box, GrayImage } from '../src/core/image.js';
import { CnnBoxDetector } from '../src/detect/cnn/box-detector.js';
import { clipBox } from '../src/detect/cnn/decode.js';
import { EMOTION_LABELS, emotionIndex } from '../src/emotion/labels.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import { loadCnnFaceDetector } from '../src/io/node/cnn-detector-model.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { loadFaceAligner, loadLandmarkDetector } from '../src/io/node/landmark-model.js';
import type { Point } from '../src/landmarks/points.js';
import { EmotionPipeline } from '../src/pipeline/pipeline.js';
import { ensureFace300w, loadFace300w } from '../test/support/face300w.js';
import {
  BACKGROUNDS,
  ensureFer2013,
  iou,
  listFerFaces,
  loadBackground,
  pasteFace,
  readGrayFile,
  sampleEvenly,
} from '../test/support/fer-scenes.js';
import { nmeSummary, type NmeSummary } from './nme.js';
import { runStudy, studyArgs } from './study-cli.js';

const SHIPPED_DETECTOR = fileURLToPath(new URL('../../models/detector/face-detector.onnx', import.meta.url));
const WAYS = ['Haar', 'cnn, Haar framing', 'cnn, own box'] as const;
type Way = (typeof WAYS)[number];
const SIDE = 144;
const CANVAS = 320;

const USAGE = `Usage: npm run study:detector-framing -- [--detector-model FILE] [--mirror] [--per-class N] [--json]
Landmark NME (face300w held-out tenth) and emotion accuracy (FER-2013 PublicTest faces pasted into photos)
from Haar boxes, the learned detector's boxes in the Haar framing, and its own boxes, on the faces both
detectors find. --detector-model: the learned detector (default the shipped one); --mirror: with its mirror
view; --per-class: FER faces per class (default 60).`;

/** The box of `boxes` that best overlaps `target` (undefined for none above `minIou`). */
function best(boxes: readonly Box[], target: Box, minIou: number): Box | undefined {
  const sorted = [...boxes].sort((a, b) => iou(b, target) - iou(a, target));
  return sorted[0] !== undefined && iou(sorted[0], target) >= minIou ? sorted[0] : undefined;
}

function largest(boxes: readonly Box[]): Box | undefined {
  return boxes.reduce<Box | undefined>(
    (a, b) => (a && a.width * a.height >= b.width * b.height ? a : b),
    undefined,
  );
}

async function main(): Promise<void> {
  const values = studyArgs(USAGE, {
    'detector-model': { type: 'string', default: SHIPPED_DETECTOR },
    'per-class': { type: 'string', default: '60' },
    mirror: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const perClass = Number(values['per-class']);
  if (!Number.isInteger(perClass) || perClass < 1) {
    throw new RangeError(`Expected a positive integer for --per-class but received ${values['per-class']}`);
  }
  const haar = await loadFaceDetector();
  const cnn = await loadCnnFaceDetector(values['detector-model'], { mirror: values.mirror });
  const framed = new CnnBoxDetector(cnn);
  // The same model without the mapping: its own boxes.
  const own = {
    detect: async (image: GrayImage): Promise<Box[]> =>
      (await cnn.detect(image)).flatMap((f) => {
        const box = clipBox(f.corners, image.width, image.height);
        return box === undefined ? [] : [box];
      }),
  };
  const landmarks = await loadLandmarkDetector();
  const aligner = await loadFaceAligner();
  const classifier = await loadEmotionClassifier();
  const pipeline = new EmotionPipeline(haar, classifier, { landmarks, aligner });
  try {
    // Landmarks on face300w's held-out tenth.
    const faces = await loadFace300w(await ensureFace300w(), 'heldout');
    const predictions: Record<Way, Point[][]> = { Haar: [], 'cnn, Haar framing': [], 'cnn, own box': [] };
    const truths: Point[][] = [];
    let cnnFound = 0;
    for (const face of faces) {
      const cnnBox = largest(await framed.detect(face.gray));
      const ownBox = largest(await own.detect(face.gray));
      if (cnnBox !== undefined) cnnFound++;
      if (face.box === undefined || cnnBox === undefined || ownBox === undefined) continue;
      const boxes: Record<Way, Box> = { Haar: face.box, 'cnn, Haar framing': cnnBox, 'cnn, own box': ownBox };
      for (const way of WAYS) {
        const [marks] = await landmarks.detect(face.gray, [boxes[way]]);
        predictions[way].push([...marks.points]);
      }
      truths.push([...face.truth]);
    }
    const landmarkRows = WAYS.map((way) => ({ way, ...nmeSummary(predictions[way], truths) }));

    // Emotion on pasted FER-2013 PublicTest faces.
    const root = await ensureFer2013();
    const files = sampleEvenly(await listFerFaces(), perClass);
    const backgrounds = await Promise.all(BACKGROUNDS.map((name) => loadBackground(name, CANVAS, CANVAS)));
    const at = Math.round((CANVAS - SIDE) / 2);
    const truth: Box = { x: at, y: at, width: SIDE, height: SIDE };
    const correct: Record<Way, number> = { Haar: 0, 'cnn, Haar framing': 0, 'cnn, own box': 0 };
    // paired: faces only one of Haar and the framed cnn box classifies right (the sign test's counts)
    const onlyRight = { haar: 0, cnn: 0 };
    const found = { haar: 0, cnn: 0, both: 0 };
    for (const [i, file] of files.entries()) {
      const face = await readGrayFile(join(root, file));
      const background = backgrounds[i % backgrounds.length];
      const canvas: GrayImage = { width: CANVAS, height: CANVAS, channels: 1, data: background.data.slice() };
      pasteFace(canvas, face, at, at, SIDE, 0);
      const haarBox = best(haar.detect(canvas), truth, 0.3);
      const cnnBox = best(await framed.detect(canvas), truth, 0.3);
      const ownBox = best(await own.detect(canvas), truth, 0.1);
      if (haarBox) found.haar++;
      if (cnnBox) found.cnn++;
      if (!haarBox || !cnnBox || !ownBox) continue;
      found.both++;
      const label = emotionIndex(file.split('/')[1] as (typeof EMOTION_LABELS)[number]);
      const boxes: Record<Way, Box> = { Haar: haarBox, 'cnn, Haar framing': cnnBox, 'cnn, own box': ownBox };
      const right = {} as Record<Way, boolean>;
      for (const way of WAYS) {
        const [result] = await pipeline.classifyFaces(canvas, [{ box: boxes[way] }]);
        right[way] = emotionIndex(result.emotion.label) === label;
        if (right[way]) correct[way]++;
      }
      if (right.Haar && !right['cnn, Haar framing']) onlyRight.haar++;
      if (!right.Haar && right['cnn, Haar framing']) onlyRight.cnn++;
    }
    const emotionRows = WAYS.map((way) => ({ way, accuracy: correct[way] / Math.max(found.both, 1) }));
    const report = {
      detectorModel: values['detector-model'],
      framing: cnn.info.haarFraming,
      landmarks: {
        faces: faces.length,
        haarFound: faces.filter((f) => f.box).length,
        cnnFound,
        rows: landmarkRows,
      },
      emotion: { faces: files.length, found, rows: emotionRows, onlyRight },
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    const f = cnn.info.haarFraming;
    console.log(
      `detector ${values['detector-model']}; Haar framing dx ${f.dx}, dy ${f.dy}, scale ${f.scale}`,
    );
    console.log(
      `Landmarks, face300w held-out tenth: ${faces.length} faces, Haar finds ${report.landmarks.haarFound}, ` +
        `cnn ${cnnFound}; on the ${truths.length} both find:`,
    );
    console.log('boxes                 NME   contour  inner  >10%');
    for (const r of landmarkRows) console.log(`${r.way.padEnd(20)} ${row(r)}`);
    console.log(
      `Emotion, ${files.length} FER-2013 PublicTest faces pasted at ${SIDE} px: Haar finds ${found.haar}, ` +
        `cnn ${found.cnn}; accuracy on the ${found.both} both find:`,
    );
    for (const r of emotionRows) console.log(`${r.way.padEnd(20)} ${(r.accuracy * 100).toFixed(2)}%`);
    console.log(
      `paired: right only from the Haar box ${onlyRight.haar}, only from the framed cnn box ${onlyRight.cnn}`,
    );
  } finally {
    await Promise.all([framed.close(), landmarks.dispose(), classifier.dispose()]);
  }
}

function row(r: NmeSummary): string {
  return [r.nme, r.nmeContour, r.nmeInner, r.failureRate10]
    .map((v) => `${(v * 100).toFixed(2)}%`.padStart(7))
    .join(' ');
}

runStudy('study:detector-framing', main);
