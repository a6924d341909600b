/**
 * `npm run eval:landmarks`: accuracy and speed of the landmark model through the shipped Node path (Haar
 * box from our detector, run-time crop, onnxruntime-node), on the human-labelled face300w crops (Helen,
 * 256x256, 300-W labels). Held out from training: every 10th face in the order of landmarks.json
 * (indices 0, 10, 20, ...), as training/moodlens_train/landmark_data.face300w_split.
 *
 * NME = mean point-to-point error / outer-eye-corner distance of the labels (points 36 and 45), as 300-W;
 * reported overall (mean of the per-face NMEs), for the contour (points 0-16) and the inner points
 * (17-67), with the share of faces above 10%. Faces without a Haar box are left out (the student only ever
 * sees Haar boxes) and counted.
 *
 * Data: `--data DIR`, or MOODLENS_FACE300W, or ../shared/data/face300w/face300w-train.tar.gz unpacked into
 * .cache/face300w.
 *
 * `--calibrate` instead prints, for all 870 faces with their human labels, the ranges of the reliability
 * measures (src/landmarks/reliability.ts) and of the alignment template residual: what real faces show.
 *
 *   node dist/bench/landmark-eval.js [--model FILE] [--data DIR] [--all] [--json] [--calibrate]
 */
import { statSync } from 'node:fs';
import type { Box } from '../src/core/image.js';
import {
  DEFAULT_LANDMARK_MODEL_PATH,
  loadFaceAligner,
  loadLandmarkDetector,
} from '../src/io/node/landmark-model.js';
import { fromCropUnits, landmarkCropSquare } from '../src/landmarks/crop.js';
import type { Point } from '../src/landmarks/points.js';
import {
  assessLandmarks,
  DEFAULT_RELIABILITY_THRESHOLDS,
  measureLandmarks,
} from '../src/landmarks/reliability.js';
import { ensureFace300w, loadFace300w } from '../test/support/face300w.js';
import { nmeSummary } from './nme.js';
import { runStudy, studyArgs } from './study-cli.js';

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

/** Whether the box is on the labelled face: its centre inside the labels' bounding box. */
function boxOnFace(box: Box, truth: readonly Point[]): boolean {
  const xs = truth.map((p) => p[0]);
  const ys = truth.map((p) => p[1]);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  return cx >= Math.min(...xs) && cx <= Math.max(...xs) && cy >= Math.min(...ys) && cy <= Math.max(...ys);
}

async function calibrate(dir: string, json: boolean): Promise<void> {
  const all = (await loadFace300w(dir, 'all')).filter((f) => f.box !== undefined);
  const onFace = all.filter((f) => boxOnFace(f.box as Box, f.truth));
  const offFace = all.filter((f) => !boxOnFace(f.box as Box, f.truth));
  const aligner = await loadFaceAligner();
  const columns: Record<string, number[]> = {
    roll: [],
    interocular: [],
    noseDrop: [],
    mouthDrop: [],
    chinDrop: [],
    shift: [],
    residual: [],
    maxBoxOvershoot: [],
  };
  let reliable = 0;
  let alignable = 0;
  const failures: Record<string, number> = {};
  for (const face of onFace) {
    const box = face.box as Box;
    const m = measureLandmarks(face.truth, box, DEFAULT_RELIABILITY_THRESHOLDS.boxSlack);
    columns.roll.push(m.roll);
    columns.interocular.push(m.interocular);
    columns.noseDrop.push(m.noseDrop);
    columns.mouthDrop.push(m.mouthDrop);
    columns.chinDrop.push(m.chinDrop);
    columns.shift.push(m.shift);
    const residual = aligner.residual(face.truth, aligner.fit(face.truth));
    columns.residual.push(residual);
    // How far (share of the box side) the farthest point lies outside the box.
    let over = 0;
    for (const [x, y] of face.truth) {
      over = Math.max(
        over,
        (box.x - x) / box.width,
        (x - box.x - box.width) / box.width,
        (box.y - y) / box.height,
        (y - box.y - box.height) / box.height,
      );
    }
    columns.maxBoxOvershoot.push(over);
    const verdict = assessLandmarks(face.truth, box);
    if (verdict.reliable) reliable++;
    for (const problem of verdict.problems) {
      const key = problem.replace(/[-\d.]+/g, '#');
      failures[key] = (failures[key] ?? 0) + 1;
    }
    if (verdict.reliable && residual <= aligner.maxResidual) alignable++;
  }
  const offFlagged = offFace.filter((f) => !assessLandmarks(f.truth, f.box as Box).reliable).length;
  const report = {
    facesWithHaarBox: all.length,
    boxOnLabelledFace: onFace.length,
    reliableByChecks: reliable,
    alignable,
    failedChecks: failures,
    boxElsewhere: offFace.length,
    boxElsewhereFlagged: offFlagged,
    measures: Object.fromEntries(
      Object.entries(columns).map(([name, values]) => {
        const sorted = [...values].sort((a, b) => a - b);
        return [
          name,
          {
            min: sorted[0],
            p01: quantile(sorted, 0.01),
            median: quantile(sorted, 0.5),
            p99: quantile(sorted, 0.99),
            max: sorted[sorted.length - 1],
          },
        ];
      }),
    ),
  };
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(
    `${all.length} face300w faces with a Haar box; ${onFace.length} boxes on the labelled face ` +
      '(centre inside the labels), human labels:',
  );
  console.log('measure            min      p01   median      p99      max');
  for (const [name, r] of Object.entries(report.measures)) {
    const cells = [r.min, r.p01, r.median, r.p99, r.max].map((v) => v.toFixed(3).padStart(8));
    console.log(`${name.padEnd(16)} ${cells.join(' ')}`);
  }
  console.log(
    `reliable by the checks: ${reliable} of ${onFace.length}; also within the template residual ` +
      `${aligner.maxResidual}: ${alignable}`,
  );
  for (const [problem, count] of Object.entries(failures)) console.log(`  failed: ${problem} (${count})`);
  console.log(
    `boxes elsewhere (not on the labelled face): ${offFace.length}, flagged unreliable: ${offFlagged}`,
  );
}

const USAGE = `Usage: npm run eval:landmarks -- [--model FILE] [--data DIR] [--all] [--json] [--calibrate]
Accuracy (NME) and speed of the landmark model through the shipped Node path on the face300w faces with human
labels. --data: the unpacked face300w folder (default MOODLENS_FACE300W or ../shared/data/face300w);
--all: all 870 faces, not only the held-out ones; --calibrate: the reliability score's ranges instead.`;

async function main(): Promise<void> {
  const values = studyArgs(USAGE, {
    model: { type: 'string', default: DEFAULT_LANDMARK_MODEL_PATH },
    data: { type: 'string' },
    all: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    calibrate: { type: 'boolean', default: false },
  });
  const data = await ensureFace300w(values.data);
  if (values.calibrate) {
    await calibrate(data, values.json);
    return;
  }
  const which = values.all ? 'all' : 'heldout';
  const faces = await loadFace300w(data, which);
  const found = faces.filter((f) => f.box !== undefined);
  const landmarker = await loadLandmarkDetector(values.model);
  try {
    // Predictions, one face per call: the speed of the shipped path per face (crop + inference).
    const predictions: Point[][] = [];
    let reliable = 0;
    const times: number[] = [];
    for (const face of found) {
      const started = performance.now();
      const [marks] = await landmarker.detect(face.gray, [face.box as Box]);
      times.push(performance.now() - started);
      predictions.push([...marks.points]);
      if (marks.reliability.reliable) reliable++;
    }
    // Batched: all faces in one call (every scale's crop, and its mirror image when flip TTA is on).
    const batchStarted = performance.now();
    const batched = await landmarker.locate(found.map((f) => ({ gray: f.gray, box: f.box as Box })));
    const batchMs = (performance.now() - batchStarted) / Math.max(1, found.length);
    const crops = found.map((f) => landmarker.crop(f.gray, f.box as Box));
    const toPoints = (all: Float32Array): Point[][] =>
      found.map((f, i) =>
        fromCropUnits(
          all.subarray(i * 136, (i + 1) * 136),
          landmarkCropSquare(f.box as Box, landmarker.info),
        ),
      );
    // The model alone (its own crop, no mirror) and with the mirror only: what each augmentation buys.
    const plain = nmeSummary(
      toPoints(await landmarker.predictCrops(crops)),
      found.map((f) => f.truth),
    );
    const flipOnly = nmeSummary(
      toPoints(await landmarker.predictCropsTta(crops)),
      found.map((f) => f.truth),
    );
    // Alignment (fit + warp + equalize, rotation mode) per face, on the predicted points.
    const aligner = await loadFaceAligner();
    const alignTimes: number[] = [];
    for (const [i, face] of found.entries()) {
      const started = performance.now();
      const fitted = aligner.fit(predictions[i]);
      aligner.warp(face.gray, aligner.rotationAboutBox(fitted, face.box as Box));
      alignTimes.push(performance.now() - started);
    }
    const same = batched.every((p, i) => p.every((q, k) => Math.abs(q[0] - predictions[i][k][0]) < 1e-3));
    const sorted = [...times.slice(3)].sort((a, b) => a - b);
    const summary = nmeSummary(
      predictions,
      found.map((f) => f.truth),
    );
    const report = {
      model: values.model,
      modelKiB: Math.round(statSync(values.model).size / 1024),
      set: `face300w ${which === 'all' ? 'all faces' : 'held-out tenth (indices 0, 10, 20, ...)'}`,
      ...summary,
      flipTta: landmarker.flipTta,
      scales: landmarker.scales,
      modelAlone: { nme: plain.nme, nmeContour: plain.nmeContour, nmeInner: plain.nmeInner },
      ownCropWithFlip: { nme: flipOnly.nme, nmeContour: flipOnly.nmeContour, nmeInner: flipOnly.nmeInner },
      faces: faces.length,
      withHaarBox: found.length,
      msPerFaceBatch1: quantile(sorted, 0.5),
      msPerFaceBatched: batchMs,
      msPerFaceAlign: quantile(
        [...alignTimes.slice(3)].sort((a, b) => a - b),
        0.5,
      ),
      batchedEqualsSingle: same,
      reliable,
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
    console.log(`${report.set}: ${report.faces} faces, ${report.withHaarBox} with a Haar box`);
    console.log(`model ${report.model} (${report.modelKiB} KiB)`);
    console.log(
      `NME ${pct(report.nme)}  contour ${pct(report.nmeContour)}  inner ${pct(report.nmeInner)}` +
        `  (crop scales ${report.scales.join(', ')}${report.flipTta ? ', each with its mirror image' : ''}; ` +
        `the model alone: ${pct(plain.nme)}, its own crop${report.flipTta ? ' and mirror' : ''}: ` +
        `${pct(flipOnly.nme)})`,
    );
    console.log(
      `faces above 10% NME: ${pct(report.failureRate10)}; reliable by the checks: ${report.reliable}`,
    );
    console.log(
      `speed: ${report.msPerFaceBatch1.toFixed(2)} ms per face (crop + inference, batch 1, median), ` +
        `${report.msPerFaceBatched.toFixed(2)} ms per face batched (inference only); alignment ` +
        `${report.msPerFaceAlign.toFixed(2)} ms per face (fit, warp, equalize)`,
    );
  } finally {
    await landmarker.dispose();
  }
}

runStudy('eval:landmarks', main);
