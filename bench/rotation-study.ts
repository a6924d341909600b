/**
 * `npm run study:rotation`: what in-plane rotation costs the pipeline and how much the landmark alignment
 * (and the rotated search) wins back. PublicTest faces (sampled evenly over the seven classes, fixed
 * order) are enlarged from 48 to 120 px and pasted, turned by each angle about their centre, into the middle
 * of 240x240 face-free photos (or, with `--background replicate`, onto their own edge pixels), then
 * detect -> landmarks -> align (or the plain box crop) -> classify with the shipped models.
 *
 * The faces studied are those the detector finds upright (0 degrees); per angle it reports, over them:
 * - detection rate of the upright search, and with the rotated search (`RotatedSearchDetector`);
 * - emotion accuracy from the face's own upright box (the same box at every angle, since each face turns
 *   about the box centre): the plain box crop, aligned by the default rotation mode and by the whole
 *   similarity onto the template, the share of faces that fell back to the box crop, and the error of the
 *   roll the alignment measured (against the same face's roll at 0 degrees plus the angle);
 * - end to end (a face the detector misses counts as wrong): box crop, aligned, aligned with the rotated
 *   search;
 * - with `--oracle FILE` (teacher points of the 48x48 faces, `{"faces": {"<emotion>/<file>": [[x, y] x 68]}}`),
 *   the same alignments from those points: the most alignment can give with this template.
 *   The teacher's points of PublicTest come from training's labels (landmark_labels.py); to JSON with
 *   /usr/bin/python3 -c "import numpy as np, json; d = np.load('fer-val.npz'); json.dump({'faces': {str(n):
 *   p.round(3).tolist() for n, p in zip(d['name'], d['points'])}}, open('fer-val-teacher.json', 'w'))"
 * Reference: the FER crops themselves, classified as they are. The detector runs with a minimum size of
 * 60 px (the faces are 120 px; boxes that large are the same as without it) to keep the study at a few
 * minutes; false detections per image are counted besides.
 *
 *   node dist/bench/rotation-study.js [--model FILE] [--emotion-model FILE] [--template FILE]
 *     [--per-class N] [--angles 0,10,-10,...] [--background photo|replicate] [--oracle FILE]
 *     [--no-rotated-search] [--json]
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FaceAligner, type Alignment } from '../src/align/aligner.js';
import type { Box, GrayImage } from '../src/core/image.js';
import { RotatedSearchDetector } from '../src/detect/rotated-search.js';
import { emotionIndex, type Emotion } from '../src/emotion/labels.js';
import { cropFace, equalizeHist } from '../src/emotion/preprocess.js';
import { warpAffineGray } from '../src/image/warp.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import {
  DEFAULT_LANDMARK_MODEL_PATH,
  loadAlignmentTemplate,
  loadLandmarkDetector,
} from '../src/io/node/landmark-model.js';
import { ParallelFaceDetector } from '../src/io/node/parallel-detector.js';
import type { FaceLandmarks } from '../src/landmarks/detector.js';
import type { Point } from '../src/landmarks/points.js';
import { assessLandmarks } from '../src/landmarks/reliability.js';
import {
  BACKGROUNDS,
  ensureFer2013,
  listFerFaces,
  loadBackground,
  pasteFace,
  readGrayFile,
  sampleEvenly,
} from '../test/support/fer-scenes.js';
import { runStudy, studyArgs } from './study-cli.js';

const SIDE = 120;
const CANVAS = 240;
const MIN_SIZE = 60;
const DEFAULT_ANGLES = [0, 10, -10, 20, -20, 30, -30];

interface StudyFace {
  /** e.g. `happy/PublicTest_123.jpg`. */
  readonly name: string;
  readonly label: number;
  readonly face: GrayImage;
  readonly background: GrayImage | undefined;
}

/** The face turned by `angle` degrees (counter-clockwise on screen) in the middle of its canvas. */
function scene(face: StudyFace, angle: number): GrayImage {
  const at = (CANVAS - SIDE) / 2;
  if (face.background !== undefined) {
    const canvas = {
      width: CANVAS,
      height: CANVAS,
      channels: 1 as const,
      data: face.background.data.slice(),
    };
    pasteFace(canvas, face.face, at, at, SIDE, angle);
    return canvas;
  }
  // Edge-replicated: each canvas pixel reads the face through the inverse rotation and scaling.
  const rad = (angle * Math.PI) / 180;
  const c = Math.cos(rad);
  const s = Math.sin(rad);
  const k = face.face.width / SIDE;
  const centre = CANVAS / 2; // continuous coordinates (pixel i covers [i, i + 1))
  // Canvas pixel centre p + 0.5 -> offset d from the centre -> face offset u = R d (pasteFace's matrix).
  const a = c * k;
  const b = -s * k;
  const d = s * k;
  const e = c * k;
  const half = face.face.width / 2;
  const toSource = {
    a,
    b,
    c: (0.5 - centre) * (a + b) + half - 0.5,
    d,
    e,
    f: (0.5 - centre) * (d + e) + half - 0.5,
  };
  return warpAffineGray(face.face, toSource, CANVAS, CANVAS, { supersample: 1 });
}

/** A 48x48-frame point of the face in the canvas turned by `angle` (pixel centres). */
function toCanvas(p: Point, faceSize: number, angle: number): Point {
  const rad = (angle * Math.PI) / 180;
  const c = Math.cos(rad);
  const s = Math.sin(rad);
  const scale = SIDE / faceSize;
  const ux = (p[0] + 0.5 - faceSize / 2) * scale;
  const uy = (p[1] + 0.5 - faceSize / 2) * scale;
  // pasteFace samples u = R d with R = [[c, -s], [s, c]]; so d = R^T u.
  const dx = c * ux + s * uy;
  const dy = -s * ux + c * uy;
  return [CANVAS / 2 + dx - 0.5, CANVAS / 2 + dy - 0.5];
}

/** The detection that is the pasted face: centre within a quarter side of the canvas centre, plausible size. */
function isTheFace(box: Box): boolean {
  const dx = box.x + box.width / 2 - CANVAS / 2;
  const dy = box.y + box.height / 2 - CANVAS / 2;
  return Math.hypot(dx, dy) <= SIDE / 4 && box.width >= SIDE / 2 && box.width <= 2 * SIDE;
}

interface AngleRow {
  angle: number;
  faces: number;
  /** Shares of the faces found upright at 0 degrees. */
  detected: number;
  detectedRotated: number | null;
  falsePerImage: number;
  falsePerImageRotated: number | null;
  /** Accuracies from the face's upright box. */
  accuracyBox: number;
  /** Aligned by the default (rotation) mode. */
  accuracyAligned: number;
  /** Aligned by the whole similarity onto the template. */
  accuracyAlignedSimilarity: number;
  /** Faces that fell back to the box crop (unreliable landmarks or a misfit). */
  fallbackShare: number;
  /** Mean |measured roll - roll measured at 0 degrees - angle| over faces aligned at both, degrees. */
  meanRollError: number | null;
  /** End to end: a face missed by the detector counts as wrong. */
  endToEndBox: number;
  endToEndAligned: number;
  endToEndAlignedRotated: number | null;
  /** Aligned from the teacher's points (rotation and similarity modes), on faces that have them. */
  accuracyOracle: number | null;
  accuracyOracleSimilarity: number | null;
  oracleFaces: number;
  oracleFallbackShare: number | null;
  oracleMeanRollError: number | null;
}

/** Mean of |roll - roll at 0 - angle| over faces that have both (undefined: fell back). */
function rollError(
  rolls: readonly (number | undefined)[],
  atZero: readonly (number | undefined)[],
  angle: number,
): number | null {
  const errors: number[] = [];
  rolls.forEach((roll, i) => {
    const zero = atZero[i];
    if (roll !== undefined && zero !== undefined) errors.push(Math.abs(roll - zero - angle));
  });
  return errors.length === 0 ? null : errors.reduce((a, b) => a + b, 0) / errors.length;
}

const USAGE = `Usage: npm run study:rotation -- [--model FILE] [--emotion-model FILE] [--template FILE]
    [--per-class N] [--angles 0,10,-10,...] [--background photo|replicate] [--oracle FILE]
    [--no-rotated-search] [--threads N] [--json]
What in-plane rotation costs detect -> classify and how much the landmark alignment wins back, on upright
PublicTest faces turned inside face-free photos.`;

async function main(): Promise<void> {
  const values = studyArgs(USAGE, {
    model: { type: 'string', default: DEFAULT_LANDMARK_MODEL_PATH },
    'emotion-model': { type: 'string' },
    template: { type: 'string' },
    'per-class': { type: 'string', default: '50' },
    angles: { type: 'string' },
    background: { type: 'string', default: 'photo' },
    oracle: { type: 'string' },
    'no-rotated-search': { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  });
  const perClass = Number(values['per-class']);
  const angles = values.angles === undefined ? DEFAULT_ANGLES : values.angles.split(',').map(Number);
  if (!angles.includes(0)) angles.unshift(0);
  if (values.background !== 'photo' && values.background !== 'replicate') {
    throw new Error(`--background is photo or replicate, not ${values.background}`);
  }
  if (!existsSync(values.model)) {
    throw new Error(`No landmark model at ${values.model}: give one with --model FILE`);
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`);

  const root = await ensureFer2013();
  const chosen = sampleEvenly(await listFerFaces(), perClass);
  const backgrounds =
    values.background === 'photo'
      ? await Promise.all(BACKGROUNDS.map((name) => loadBackground(name, CANVAS, CANVAS)))
      : [];
  const faces: StudyFace[] = [];
  for (const [i, file] of chosen.entries()) {
    const emotion = file.split('/')[1] as Emotion;
    faces.push({
      name: file.split('/').slice(1).join('/'),
      label: emotionIndex(emotion),
      face: await readGrayFile(join(root, file)),
      background: backgrounds.length > 0 ? backgrounds[i % backgrounds.length] : undefined,
    });
  }
  const oracle =
    values.oracle === undefined
      ? undefined
      : (JSON.parse(await readFile(values.oracle, 'utf8')) as { faces: Record<string, Point[]> }).faces;

  const detector = await ParallelFaceDetector.create({ threads: Number(values.threads) });
  const search = new RotatedSearchDetector(detector);
  const landmarker = await loadLandmarkDetector(values.model);
  const template = await loadAlignmentTemplate(values.template);
  const aligner = new FaceAligner(template);
  const similarityAligner = new FaceAligner(template, { mode: 'similarity' });
  const classifier = await loadEmotionClassifier(values['emotion-model']);
  const detectOptions = { minSize: MIN_SIZE };
  const started = performance.now();
  try {
    const correctShare = async (crops: GrayImage[], labels: number[]): Promise<number> => {
      if (crops.length === 0) return Number.NaN;
      const results = await classifier.classify(crops);
      return results.filter((r, i) => emotionIndex(r.label) === labels[i]).length / crops.length;
    };
    // The reference: the faces found upright, and their upright boxes.
    const reference: { face: StudyFace; box: Box }[] = [];
    for (const face of faces) {
      const box = (await detector.detect(scene(face, 0), detectOptions)).find(isTheFace);
      if (box !== undefined) reference.push({ face, box });
    }
    log(
      `${reference.length} of ${faces.length} faces found upright; studying them at ${angles.join(', ')} degrees`,
    );
    const labels = reference.map((r) => r.face.label);
    const ferAccuracy = await correctShare(
      reference.map((r) => equalizeHist(r.face.face)),
      labels,
    );

    const rollOf = (a: Alignment): number | undefined => (a.method === 'box' ? undefined : a.angle);
    let rollsAtZero: (number | undefined)[] = [];
    let oracleRollsAtZero: (number | undefined)[] = [];
    const rows: AngleRow[] = [];
    for (const angle of [0, ...angles.filter((a) => a !== 0)]) {
      const boxCrops: GrayImage[] = [];
      const alignedCrops: GrayImage[] = [];
      const similarityCrops: GrayImage[] = [];
      const rolls: (number | undefined)[] = [];
      const e2eBox: (GrayImage | undefined)[] = [];
      const e2eAligned: (GrayImage | undefined)[] = [];
      const e2eRotated: (GrayImage | undefined)[] = [];
      const oracleCrops: GrayImage[] = [];
      const oracleSimilarityCrops: GrayImage[] = [];
      const oracleRolls: (number | undefined)[] = [];
      const oracleLabels: number[] = [];
      let detected = 0;
      let detectedRotated = 0;
      let falseUpright = 0;
      let falseRotated = 0;
      for (const { face, box } of reference) {
        const image = scene(face, angle);
        // One rotated search gives both: its upright hits are the plain detector's.
        const hits = values['no-rotated-search']
          ? (await detector.detect(image, detectOptions)).map((b) => ({ box: b, searchAngle: 0 }))
          : await search.detectWithAngles(image, detectOptions);
        const upright = hits.filter((h) => h.searchAngle === 0);
        const found = upright.find((h) => isTheFace(h.box))?.box;
        const foundRotated = hits.find((h) => isTheFace(h.box))?.box;
        falseUpright += upright.filter((h) => !isTheFace(h.box)).length;
        falseRotated += hits.filter((h) => !isTheFace(h.box)).length;
        if (found) detected++;
        if (foundRotated) detectedRotated++;

        const wanted = [box, found, foundRotated].filter((b): b is Box => b !== undefined);
        const marks = await landmarker.detect(image, wanted);
        const markOf = (b: Box | undefined): FaceLandmarks | undefined =>
          b === undefined ? undefined : marks[wanted.indexOf(b)];
        boxCrops.push(cropFace(image, box));
        const aligned = aligner.align(image, box, markOf(box));
        alignedCrops.push(aligned.face);
        rolls.push(rollOf(aligned.alignment));
        similarityCrops.push(similarityAligner.align(image, box, markOf(box)).face);
        e2eBox.push(found ? cropFace(image, found) : undefined);
        e2eAligned.push(found ? aligner.align(image, found, markOf(found)).face : undefined);
        e2eRotated.push(
          foundRotated ? aligner.align(image, foundRotated, markOf(foundRotated)).face : undefined,
        );
        const teacher = oracle?.[face.name];
        if (teacher !== undefined) {
          const points = teacher.map((p) => toCanvas(p, face.face.width, angle));
          const truth: FaceLandmarks = { box, points, reliability: assessLandmarks(points, box) };
          const byTeacher = aligner.align(image, box, truth);
          oracleCrops.push(byTeacher.face);
          oracleRolls.push(rollOf(byTeacher.alignment));
          oracleSimilarityCrops.push(similarityAligner.align(image, box, truth).face);
          oracleLabels.push(face.label);
        } else {
          oracleRolls.push(undefined);
        }
      }
      if (angle === 0) {
        rollsAtZero = rolls;
        oracleRollsAtZero = oracleRolls;
      }
      const endToEnd = async (crops: (GrayImage | undefined)[]): Promise<number> => {
        const kept = crops.map((c, i) => ({ c, label: labels[i] })).filter((x) => x.c !== undefined);
        const share = await correctShare(
          kept.map((x) => x.c as GrayImage),
          kept.map((x) => x.label),
        );
        return kept.length === 0 ? 0 : (share * kept.length) / crops.length;
      };
      const n = reference.length;
      const haveOracle = oracleCrops.length > 0;
      const row: AngleRow = {
        angle,
        faces: n,
        detected: detected / n,
        detectedRotated: values['no-rotated-search'] ? null : detectedRotated / n,
        falsePerImage: falseUpright / n,
        falsePerImageRotated: values['no-rotated-search'] ? null : falseRotated / n,
        accuracyBox: await correctShare(boxCrops, labels),
        accuracyAligned: await correctShare(alignedCrops, labels),
        accuracyAlignedSimilarity: await correctShare(similarityCrops, labels),
        fallbackShare: rolls.filter((r) => r === undefined).length / n,
        meanRollError: rollError(rolls, rollsAtZero, angle),
        endToEndBox: await endToEnd(e2eBox),
        endToEndAligned: await endToEnd(e2eAligned),
        endToEndAlignedRotated: values['no-rotated-search'] ? null : await endToEnd(e2eRotated),
        accuracyOracle: haveOracle ? await correctShare(oracleCrops, oracleLabels) : null,
        accuracyOracleSimilarity: haveOracle ? await correctShare(oracleSimilarityCrops, oracleLabels) : null,
        oracleFaces: oracleCrops.length,
        oracleFallbackShare: haveOracle
          ? (oracleCrops.length - oracleRolls.filter((r) => r !== undefined).length) / oracleCrops.length
          : null,
        oracleMeanRollError: haveOracle ? rollError(oracleRolls, oracleRollsAtZero, angle) : null,
      };
      rows.push(row);
      log(
        `angle ${angle}: detected ${pct(row.detected)}, box ${pct(row.accuracyBox)}, aligned ` +
          `${pct(row.accuracyAligned)} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
      );
    }
    const falseOnPhotos = await falseDetectionsOnPhotos(detector, search, values['no-rotated-search']);
    const report = {
      landmarkModel: values.model,
      background: values.background,
      faceSide: SIDE,
      canvas: CANVAS,
      facesSampled: faces.length,
      facesFoundUpright: reference.length,
      referenceFerCropAccuracy: ferAccuracy,
      rows,
      falseDetectionsOnFaceFreePhotos: falseOnPhotos,
      seconds: (performance.now() - started) / 1000,
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    printTable(report, rows);
  } finally {
    await detector.close();
    await landmarker.dispose();
    await classifier.dispose();
  }
}

interface FaceFreePhotos {
  readonly photos: number;
  readonly upright: number;
  readonly rotated: number | null;
  /** Detection time per photo, ms: upright search, and with the rotated search. */
  readonly uprightMs: number;
  readonly rotatedMs: number | null;
}

/** Face-free photos at 640x480: boxes found upright and with the rotated search (all false), and the time. */
async function falseDetectionsOnPhotos(
  detector: ParallelFaceDetector,
  search: RotatedSearchDetector,
  skipRotated: boolean,
): Promise<FaceFreePhotos> {
  let upright = 0;
  let rotated = 0;
  let uprightMs = 0;
  let rotatedMs = 0;
  for (const name of BACKGROUNDS) {
    const photo = await loadBackground(name, 640, 480);
    let started = performance.now();
    upright += (await detector.detect(photo)).length;
    uprightMs += performance.now() - started;
    if (skipRotated) continue;
    started = performance.now();
    rotated += (await search.detect(photo)).length;
    rotatedMs += performance.now() - started;
  }
  const photos = BACKGROUNDS.length;
  return {
    photos,
    upright,
    rotated: skipRotated ? null : rotated,
    uprightMs: uprightMs / photos,
    rotatedMs: skipRotated ? null : rotatedMs / photos,
  };
}

function pct(value: number | null): string {
  return value === null || Number.isNaN(value) ? 'n/a' : `${(value * 100).toFixed(1)}%`;
}

function printTable(
  report: {
    facesSampled: number;
    facesFoundUpright: number;
    referenceFerCropAccuracy: number;
    background: string;
    seconds: number;
    falseDetectionsOnFaceFreePhotos: FaceFreePhotos;
  },
  rows: readonly AngleRow[],
): void {
  console.log(
    `${report.facesFoundUpright} of ${report.facesSampled} PublicTest faces found upright ` +
      `(${SIDE} px in ${CANVAS}x${CANVAS}, ${report.background} background); ` +
      `their FER crops as they are: ${pct(report.referenceFerCropAccuracy)}`,
  );
  const deg = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(1)} deg`);
  const header = [
    'angle',
    'detected',
    '+rotated',
    'box crop',
    'aligned',
    'aligned sim',
    'fallback',
    'roll err',
    'e2e box',
    'e2e aligned',
    'e2e al.+rot',
  ];
  console.log(header.map((h) => h.padStart(11)).join(' '));
  for (const r of rows) {
    const cells = [
      `${r.angle}`,
      pct(r.detected),
      pct(r.detectedRotated),
      pct(r.accuracyBox),
      pct(r.accuracyAligned),
      pct(r.accuracyAlignedSimilarity),
      pct(r.fallbackShare),
      deg(r.meanRollError),
      pct(r.endToEndBox),
      pct(r.endToEndAligned),
      pct(r.endToEndAlignedRotated),
    ];
    console.log(cells.map((c) => c.padStart(11)).join(' '));
  }
  if (rows.some((r) => r.accuracyOracle !== null)) {
    console.log(`aligned from the teacher's points (${rows[0].oracleFaces} faces that have them):`);
    console.log(
      ['angle', 'aligned', 'aligned sim', 'fallback', 'roll err'].map((h) => h.padStart(11)).join(' '),
    );
    for (const r of rows) {
      const cells = [
        `${r.angle}`,
        pct(r.accuracyOracle),
        pct(r.accuracyOracleSimilarity),
        pct(r.oracleFallbackShare),
        deg(r.oracleMeanRollError),
      ];
      console.log(cells.map((c) => c.padStart(11)).join(' '));
    }
  }
  const f = report.falseDetectionsOnFaceFreePhotos;
  const perImage = rows.map(
    (r) => `${r.angle}: ${r.falsePerImage.toFixed(2)}/${r.falsePerImageRotated?.toFixed(2) ?? 'n/a'}`,
  );
  console.log(`false detections per study image (upright/with rotated search): ${perImage.join(', ')}`);
  console.log(
    `false detections on ${f.photos} face-free 640x480 photos: ${f.upright} upright, ` +
      `${f.rotated ?? 'n/a'} with the rotated search; detection ${f.uprightMs.toFixed(0)} ms per photo upright, ` +
      `${f.rotatedMs === null ? 'n/a' : `${f.rotatedMs.toFixed(0)} ms`} with the rotated search` +
      `${f.rotatedMs === null ? '' : ` (${(f.rotatedMs / f.uprightMs).toFixed(1)}x)`}`,
  );
  console.log(
    'accuracy over the faces found upright; "box crop"/"aligned" (rotation mode)/"aligned sim" (whole ' +
      'similarity): from the face\'s upright box; "e2e": detect at that angle, a missed face counts as wrong; ' +
      '"roll err": |measured roll - roll at 0 - angle|',
  );
  console.log(`(${report.seconds.toFixed(0)} s)`);
}

runStudy('study:rotation', main);
