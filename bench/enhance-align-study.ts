/**
 * `npm run study:enhance-align`: how the enhance stage should meet landmark alignment on small faces.
 *
 * PublicTest faces are pasted, turned by each angle, into the middle of real face-free photos (48 px face
 * in a 144 px square), and the whole picture is shrunk as a camera would see it smaller (`degradeToSize`:
 * blur, then area average) so the face is `size` px. The face's square is the box (no detector: it finds
 * no face under 24 px and turned faces poorly; the landmark model gets the true box). Four classifier
 * inputs are compared:
 *   box         the plain box crop (the classifier's own enlargement)
 *   aligned     the box crop turned upright by the landmarks (what analyze does without enhancement)
 *   bicubic+al. the box crop enlarged bicubically, then turned upright as below (analyze's faces from
 *               --enhance-below to --upscale-below)
 *   fsrnet      the box crop restored by FSRNet, not turned
 *   fsrnet+al.  restored, then turned upright by the plan the landmarks on the image give (what analyze
 *               does with enhancement: src/enhance/enhanced-face.ts)
 *
 *   node dist/bench/enhance-align-study.js [--sizes 24,32] [--angles 0,-20,20] [--per-class N]
 *     [--enhance-model FILE] [--json]
 */
import { join } from 'node:path';
import type { Box, GrayImage } from '../src/core/image.js';
import { emotionIndex, type Emotion } from '../src/emotion/labels.js';
import { cropFace } from '../src/emotion/preprocess.js';
import { bicubicResizeGray } from '../src/enhance/bicubic.js';
import { degradeToSize } from '../src/enhance/degrade.js';
import { enhancedClassifierInput, nativeFaceCrop } from '../src/enhance/enhanced-face.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { loadFaceEnhancer } from '../src/io/node/enhance-model.js';
import { loadFaceAligner, loadLandmarkDetector } from '../src/io/node/landmark-model.js';
import {
  BACKGROUNDS,
  ensureFer2013,
  listFerFaces,
  loadBackground,
  pasteFace,
  readGrayFile,
  sampleEvenly,
} from '../test/support/fer-scenes.js';
import { describeMachine } from './machine.js';
import { runStudy, studyArgs } from './study-cli.js';

const FACE = 48;
const CANVAS = 3 * FACE;
const INPUTS = ['box', 'aligned', 'bicubic+al.', 'fsrnet', 'fsrnet+al.'] as const;
type Input = (typeof INPUTS)[number];

interface Row {
  readonly size: number;
  readonly angle: number;
  readonly accuracy: Readonly<Record<Input, number>>;
  /** Faces whose landmarks were accepted for alignment. */
  readonly alignedShare: number;
}

const USAGE = `Usage: npm run study:enhance-align -- [--sizes 24,32] [--angles 0,-20,20] [--per-class N]
    [--enhance-model FILE] [--json]
How the enhance stage meets landmark alignment on small turned faces pasted into photos: plain, bicubic and
FSRNet crops, each with and without alignment, per face size (px) and angle (degrees).`;

async function main(): Promise<void> {
  const values = studyArgs(USAGE, {
    sizes: { type: 'string', default: '24,32' },
    angles: { type: 'string', default: '0,-20,20' },
    'per-class': { type: 'string', default: '80' },
    'enhance-model': { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const sizes = values.sizes.split(',').map(Number);
  const angles = values.angles.split(',').map(Number);
  const perClass = Number(values['per-class']);
  if (!sizes.every((s) => Number.isInteger(s) && s >= 8 && s <= FACE) || !angles.every(Number.isFinite)) {
    throw new RangeError('--sizes: integers from 8 to 48; --angles: numbers');
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const root = await ensureFer2013();
  const files = await listFerFaces();
  const chosen = sampleEvenly(files, perClass);
  const faces = await Promise.all(chosen.map((f) => readGrayFile(join(root, f))));
  const labels = chosen.map((f) => emotionIndex(f.split('/')[1] as Emotion));
  const backgrounds = await Promise.all(BACKGROUNDS.map((name) => loadBackground(name, CANVAS, CANVAS)));

  const classifier = await loadEmotionClassifier();
  const enhancer = await loadFaceEnhancer(values['enhance-model']);
  const landmarker = await loadLandmarkDetector();
  const aligner = await loadFaceAligner();
  const rows: Row[] = [];
  const started = performance.now();
  try {
    for (const size of sizes) {
      const side = (CANVAS * size) / FACE;
      const box: Box = { x: size, y: size, width: size, height: size };
      for (const angle of angles) {
        const inputs: Record<Input, GrayImage[]> = {
          box: [],
          aligned: [],
          'bicubic+al.': [],
          fsrnet: [],
          'fsrnet+al.': [],
        };
        let accepted = 0;
        for (const [i, face] of faces.entries()) {
          const background = backgrounds[i % backgrounds.length];
          const canvas = {
            width: CANVAS,
            height: CANVAS,
            channels: 1 as const,
            data: background.data.slice(),
          };
          pasteFace(canvas, face, FACE, FACE, FACE, angle);
          const small = degradeToSize(canvas, side);
          const [marks] = await landmarker.detect(small, [box]);
          const aligned = aligner.align(small, box, marks);
          if (aligned.alignment.method !== 'box') accepted++;
          const native = nativeFaceCrop(small, box);
          const [restored] = await enhancer.enhance([native]);
          const enlarged = bicubicResizeGray(native, FACE, FACE);
          inputs.box.push(cropFace(small, box));
          inputs.aligned.push(aligned.face);
          inputs['bicubic+al.'].push(enhancedClassifierInput(enlarged, box, marks, aligner).face);
          inputs.fsrnet.push(enhancedClassifierInput(restored, box, undefined, undefined).face);
          inputs['fsrnet+al.'].push(enhancedClassifierInput(restored, box, marks, aligner).face);
        }
        const accuracy = {} as Record<Input, number>;
        for (const input of INPUTS) {
          const results = await classifier.classify(inputs[input]);
          accuracy[input] =
            results.filter((r, i) => emotionIndex(r.label) === labels[i]).length / faces.length;
        }
        rows.push({ size, angle, accuracy, alignedShare: accepted / faces.length });
        log(
          `${size} px, ${angle} deg: ${INPUTS.map((k) => `${k} ${pct(accuracy[k])}`).join(', ')} ` +
            `(${((performance.now() - started) / 1000).toFixed(0)} s)`,
        );
      }
    }
  } finally {
    await classifier.dispose();
    await enhancer.dispose();
    await landmarker.dispose();
  }
  const machine = await describeMachine();
  if (values.json) {
    console.log(JSON.stringify({ machine, faces: faces.length, rows }, null, 2));
    return;
  }
  console.log(
    `Machine: ${machine.cpu}, ${machine.cores} cores; Node ${machine.node}\n` +
      `${faces.length} PublicTest faces turned and pasted into photos, shrunk so the face is the size.\n`,
  );
  console.log(['size', 'angle', ...INPUTS, 'landmarks ok'].map((h) => h.padStart(11)).join(' '));
  for (const row of rows) {
    const cells = [
      `${row.size}`,
      `${row.angle}`,
      ...INPUTS.map((k) => pct(row.accuracy[k])),
      pct(row.alignedShare),
    ];
    console.log(cells.map((c) => c.padStart(11)).join(' '));
  }
}

function pct(value: number): string {
  return `${(value * 100).toFixed(1)}%`;
}

runStudy('study:enhance-align', main);
