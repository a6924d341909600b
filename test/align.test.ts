/**
 * The alignment maths: the least-squares similarity (Umeyama) on synthetic points, the affine warp on
 * synthetic images, and the aligner on a real FER-2013 face turned and enlarged by a known transform.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FaceAligner } from '../src/align/aligner.js';
import {
  applySimilarity,
  estimateSimilarity,
  similarityAngle,
  similarityScale,
  similarityToAffine,
  type Similarity,
} from '../src/align/similarity.js';
import { parseAlignmentTemplate, scaleTemplate } from '../src/align/template.js';
import { isMoodLensError } from '../src/core/errors.js';
import { createImage, type GrayImage } from '../src/core/image.js';
import { cropFace, equalizeHist } from '../src/emotion/preprocess.js';
import { invertAffine, warpAffineGray } from '../src/image/warp.js';
import { loadAlignmentTemplate } from '../src/io/node/landmark-model.js';
import type { FaceLandmarks } from '../src/landmarks/detector.js';
import type { Point } from '../src/landmarks/points.js';
import { assessLandmarks, measureLandmarks } from '../src/landmarks/reliability.js';
import { FER2013_CACHE, listFerFaces, mulberry32, readGrayFile } from './support/fer-scenes.js';

const random = mulberry32(20240505);
const randomPoints = (n: number, spread = 100): Point[] =>
  Array.from({ length: n }, (): Point => [(random() - 0.5) * spread, (random() - 0.5) * spread]);

/** The similarity of a given scale, angle (degrees, clockwise on screen) and translation. */
function similarity(scale: number, angle: number, tx: number, ty: number): Similarity {
  const rad = (angle * Math.PI) / 180;
  return { a: scale * Math.cos(rad), b: scale * Math.sin(rad), tx, ty };
}

/** The similarity of a given scale and angle taking the 48x48 frame's centre to (150, 150). */
function centred(scale: number, angle: number): Similarity {
  const s = similarity(scale, angle, 0, 0);
  return { ...s, tx: 150 - (s.a * 23.5 - s.b * 23.5), ty: 150 - (s.b * 23.5 + s.a * 23.5) };
}

const cost = (s: Similarity, from: readonly Point[], to: readonly Point[]): number =>
  from.reduce((sum, p, i) => {
    const [x, y] = applySimilarity(s, p);
    return sum + (x - to[i][0]) ** 2 + (y - to[i][1]) ** 2;
  }, 0);

void test('Umeyama recovers a known similarity exactly from noise-free points', () => {
  for (const [scale, angle, tx, ty] of [
    [1, 0, 0, 0],
    [1.7, 23, -12.5, 40],
    [0.31, -140, 300, -2],
    [4, 179.5, 0.25, 0.75],
  ]) {
    const truth = similarity(scale, angle, tx, ty);
    const from = randomPoints(9);
    const to = from.map((p) => applySimilarity(truth, p));
    const s = estimateSimilarity(from, to);
    for (const key of ['a', 'b', 'tx', 'ty'] as const) {
      assert.ok(Math.abs(s[key] - truth[key]) < 1e-9, `${key}: ${s[key]} vs ${truth[key]}`);
    }
    assert.ok(Math.abs(similarityScale(s) - scale) < 1e-9);
    assert.ok(Math.abs(similarityAngle(s) - angle) < 1e-7, `angle ${similarityAngle(s)} vs ${angle}`);
  }
  // Two points suffice; weights of zero ignore the outlier.
  const truth = similarity(2, 30, 5, 6);
  const two: Point[] = [
    [0, 0],
    [10, 0],
  ];
  const fitted = estimateSimilarity(
    two,
    two.map((p) => applySimilarity(truth, p)),
  );
  assert.ok(Math.abs(fitted.a - truth.a) < 1e-12 && Math.abs(fitted.ty - truth.ty) < 1e-12);
  const from = randomPoints(6);
  const to = from.map((p) => applySimilarity(truth, p));
  to[5] = [999, -999];
  const weighted = estimateSimilarity(from, to, [1, 1, 1, 1, 1, 0]);
  assert.ok(Math.abs(weighted.b - truth.b) < 1e-9);
});

void test('Umeyama is the least-squares optimum on noisy points and never reflects', () => {
  const truth = similarity(1.3, -17, 20, -8);
  const from = randomPoints(20);
  const to = from.map((p): Point => {
    const [x, y] = applySimilarity(truth, p);
    return [x + (random() - 0.5) * 6, y + (random() - 0.5) * 6];
  });
  const s = estimateSimilarity(from, to);
  const best = cost(s, from, to);
  // Any small change of any parameter costs more.
  for (const key of ['a', 'b', 'tx', 'ty'] as const) {
    for (const delta of [-1e-3, 1e-3]) {
      assert.ok(cost({ ...s, [key]: s[key] + delta }, from, to) > best, `${key} ${delta}`);
    }
  }
  // A mirrored target: the fit stays a proper rotation (a, b form [[a, -b], [b, a]], determinant > 0).
  const mirrored = to.map(([x, y]): Point => [-x, y]);
  const m = estimateSimilarity(from, mirrored);
  assert.ok(m.a * m.a + m.b * m.b > 0);
  assert.throws(() => estimateSimilarity([[1, 1]], [[2, 2]]), /at least 2 point pairs/);
  assert.throws(
    () =>
      estimateSimilarity(
        [
          [3, 3],
          [3, 3],
        ],
        [
          [0, 0],
          [1, 1],
        ],
      ),
    /coincide/,
  );
  assert.throws(() => estimateSimilarity(randomPoints(3), randomPoints(4)), /as many target points/);
  assert.throws(
    () =>
      estimateSimilarity(
        [
          [0, Number.NaN],
          [1, 1],
        ],
        randomPoints(2),
      ),
    /finite coordinates for point pair 0/,
  );
});

/** A gray image whose pixel (x, y) is `f(x, y)`. */
function pattern(width: number, height: number, f: (x: number, y: number) => number): GrayImage {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return createImage(width, height, 1, data);
}

void test('warpAffineGray: identity, whole-pixel shifts with edge replication, quarter turns, 2x area', () => {
  const src = pattern(7, 5, (x, y) => (x * 37 + y * 11) % 256);
  const identity = { a: 1, b: 0, c: 0, d: 0, e: 1, f: 0 };
  assert.deepEqual(warpAffineGray(src, identity, 7, 5), src);
  // Output (x, y) reads source (x + 2, y - 1): columns past the right edge repeat the last one.
  const shifted = warpAffineGray(src, { ...identity, c: 2, f: -1 }, 7, 5);
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 7; x++) {
      const sx = Math.min(x + 2, 6);
      const sy = Math.max(y - 1, 0);
      assert.equal(shifted.data[y * 7 + x], src.data[sy * 7 + sx], `(${x}, ${y})`);
    }
  }
  // A quarter turn about the pixel grid: output (x, y) reads source (y, 4 - x) exactly.
  const turned = warpAffineGray(src, { a: 0, b: 1, c: 0, d: -1, e: 0, f: 4 }, 5, 7);
  for (let y = 0; y < 7; y++) {
    for (let x = 0; x < 5; x++) assert.equal(turned.data[y * 5 + x], src.data[(4 - x) * 7 + y]);
  }
  // Halving (pixel centres: output x covers source 2x and 2x + 1) with 2x2 supersampling is the 2x2 mean,
  // exactly what cropFace's area resize gives for an exact 2x reduction.
  const big = pattern(96, 96, (x, y) => (x * x + 3 * y + ((x * y) % 7)) % 256);
  const halved = warpAffineGray(big, { a: 2, b: 0, c: 0.5, d: 0, e: 2, f: 0.5 }, 48, 48);
  const area = cropFace(big, { x: 0, y: 0, width: 96, height: 96 }, { equalize: false });
  assert.deepEqual(halved, area);
  // Bilinear halfway between two pixels is their mean.
  const ramp = pattern(2, 1, (x) => (x === 0 ? 10 : 30));
  assert.equal(warpAffineGray(ramp, { ...identity, c: 0.5 }, 1, 1).data[0], 20);
  assert.throws(() => warpAffineGray(src, { ...identity, a: Number.NaN }, 3, 3), /toSource\.a/);
  assert.throws(() => warpAffineGray(src, identity, 0, 3), /positive integer size/);
});

void test('alignment template: the shipped file parses; bad files are named errors', async () => {
  const template = await loadAlignmentTemplate();
  assert.equal(template.size, 48);
  assert.equal(template.points.length, 68);
  // The template is a face: eyes above the nose tip above the mouth above the chin, inside the frame.
  const [, eyeY] = template.points[36];
  assert.ok(eyeY < template.points[30][1] && template.points[30][1] < template.points[57][1]);
  // FER-2013 frames cut the chin: the template's chin sits at or just past the bottom edge.
  assert.ok(template.points[57][1] < template.points[8][1] && template.points[8][1] > 44);
  assert.ok(template.points[8][1] < 56);
  assert.ok(template.points[36][0] < template.points[45][0], 'subject right eye on the image left');
  const doubled = scaleTemplate(template, 96);
  assert.ok(Math.abs(doubled[30][0] - ((template.points[30][0] + 0.5) * 2 - 0.5)) < 1e-12);
  for (const [value, message] of [
    [[], /expected a JSON object/],
    [{ size: 48, points: [] }, /expected 68 points but received 0/],
    [{ size: 'x', points: template.points }, /integer from 8 to 1024 for size/],
    [{ size: 48, points: [...template.points.slice(1), [1, null]] }, /points\[67\]/],
  ] as const) {
    assert.throws(
      () => parseAlignmentTemplate(value, 't.json'),
      (error: unknown) =>
        isMoodLensError(error) && error.code === 'MOODLENS_ERR_MODEL_LOAD' && message.test(error.message),
    );
  }
  await assert.rejects(loadAlignmentTemplate('/nonexistent/t.json'), /no such file/);
});

/** Landmarks (with their reliability) for `points` in `box`. */
const landmarksOf = (points: readonly Point[], box: FaceLandmarks['box']): FaceLandmarks => ({
  box,
  points,
  reliability: assessLandmarks(points, box),
});

void test('similarity mode undoes a known turn and enlargement of a real FER face, and says what it did', async () => {
  const template = await loadAlignmentTemplate();
  const aligner = new FaceAligner(template, { mode: 'similarity' });
  const files = await listFerFaces();
  const face = await readGrayFile(join(FER2013_CACHE, files[files.length >> 1]));
  // Put the 48x48 face in the middle of a 300x300 image, turned 25 degrees counter-clockwise on screen and
  // 3.5x larger:
  // image = F(frame), F a similarity; the template's points go through F as the face's own landmarks would.
  const rollDegrees = 25;
  const toImage = centred(3.5, -rollDegrees);
  const image = warpAffineGray(face, invertAffine(similarityToAffine(toImage)), 300, 300);
  const points = template.points.map((p) => applySimilarity(toImage, p));
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  // A box around the face as a detector would give (about two eye distances wide).
  const box = {
    x: Math.round(Math.min(...xs)),
    y: Math.round(Math.min(...ys)),
    width: Math.round(Math.max(...xs) - Math.min(...xs)),
    height: Math.round(Math.max(...xs) - Math.min(...xs)),
  };
  const marks = landmarksOf(points, box);
  assert.ok(marks.reliability.reliable, marks.reliability.problems.join('; '));
  // The eye axis measures the roll (plus the template's own small tilt).
  const ownTilt = measureLandmarks(template.points, { x: 0, y: 0, width: 48, height: 48 }, 1).roll;
  const measured = marks.reliability.measures.roll;
  assert.ok(Math.abs(measured - rollDegrees - ownTilt) < 1e-9, `roll ${measured}, tilt ${ownTilt}`);

  const aligned = aligner.align(image, box, marks);
  assert.equal(aligned.alignment.method, 'similarity');
  if (aligned.alignment.method !== 'similarity') return;
  assert.ok(Math.abs(aligned.alignment.angle - rollDegrees) < 1e-6, `angle ${aligned.alignment.angle}`);
  assert.ok(Math.abs(aligned.alignment.scale - 1 / 3.5) < 1e-9);
  assert.ok(aligned.alignment.residual < 1e-9);
  // Back in the 48x48 frame: the face itself, up to resampling. The loss of resampling alone is that of
  // the same enlargement without the turn, undone the same way.
  const expected = equalizeHist(face);
  const meanDiff = (a: GrayImage): number =>
    a.data.reduce((sum, v, i) => sum + Math.abs(v - expected.data[i]), 0) / a.data.length;
  const upright = centred(3.5, 0);
  const uprightImage = warpAffineGray(face, invertAffine(similarityToAffine(upright)), 300, 300);
  const back = similarity(1 / 3.5, 0, 23.5 - 150 / 3.5, 23.5 - 150 / 3.5);
  const resamplingLoss = meanDiff(aligner.warp(uprightImage, back));
  const alignedDiff = meanDiff(aligned.face);
  const boxDiff = meanDiff(cropFace(image, box));
  assert.ok(resamplingLoss < 10, `resampling alone changes ${resamplingLoss.toFixed(1)} levels on average`);
  assert.ok(
    alignedDiff < resamplingLoss + 1,
    `aligned ${alignedDiff.toFixed(1)} vs ${resamplingLoss.toFixed(1)}`,
  );
  assert.ok(boxDiff > 4 * alignedDiff, `box crop ${boxDiff.toFixed(1)} vs aligned ${alignedDiff.toFixed(1)}`);
});

void test('rotation mode (the default) turns the box crop upright about its centre', async () => {
  const template = await loadAlignmentTemplate();
  const aligner = new FaceAligner(template);
  assert.equal(aligner.mode, 'rotation');
  const files = await listFerFaces();
  const face = await readGrayFile(join(FER2013_CACHE, files[100]));
  // The face 2.5x larger in the middle of a 300x300 image, upright and turned 25 degrees about the middle;
  // the box is the enlarged frame, the same for both since the turn is about its centre.
  const upright = warpAffineGray(face, invertAffine(similarityToAffine(centred(2.5, 0))), 300, 300);
  const turned = warpAffineGray(face, invertAffine(similarityToAffine(centred(2.5, -25))), 300, 300);
  const box = { x: 90, y: 90, width: 120, height: 120 };
  const points = template.points.map((p) => applySimilarity(centred(2.5, -25), p));
  const aligned = aligner.align(turned, box, landmarksOf(points, box));
  assert.equal(aligned.alignment.method, 'rotation');
  if (aligned.alignment.method !== 'rotation') return;
  assert.ok(Math.abs(aligned.alignment.angle - 25) < 1e-9, `angle ${aligned.alignment.angle}`);
  assert.ok(Math.abs(aligned.alignment.scale - 48 / 120) < 1e-12);
  // It is the upright face's box crop, up to resampling; the turned face's own box crop is far from it.
  const reference = cropFace(upright, box);
  const meanDiff = (a: GrayImage): number =>
    a.data.reduce((sum, v, i) => sum + Math.abs(v - reference.data[i]), 0) / a.data.length;
  assert.ok(meanDiff(aligned.face) < 4, `aligned differs by ${meanDiff(aligned.face).toFixed(1)}`);
  assert.ok(meanDiff(cropFace(turned, box)) > 5 * meanDiff(aligned.face));
  // With a margin the square is larger: the same turn, a smaller scale.
  const wide = aligner.align(turned, box, landmarksOf(points, box), { margin: 0.25 });
  assert.ok(wide.alignment.method === 'rotation' && Math.abs(wide.alignment.scale - 48 / 180) < 1e-12);
});

void test('the aligner falls back to the box crop and says why: no points, nonsense points, a misfit', async () => {
  const template = await loadAlignmentTemplate();
  const aligner = new FaceAligner(template, { crop: { margin: 0.1 } });
  const image = pattern(200, 200, (x, y) => (x * 3 + y * 5) % 256);
  const box = { x: 60, y: 50, width: 90, height: 90 };
  const boxCrop = cropFace(image, box, { margin: 0.1 });

  const none = aligner.align(image, box);
  assert.deepEqual(none.alignment, { method: 'box', reason: 'no landmarks' });
  assert.deepEqual(none.face, boxCrop);

  const collapsed = landmarksOf(
    Array.from({ length: 68 }, (): Point => [105, 95]),
    box,
  );
  const flagged = aligner.align(image, box, collapsed);
  assert.equal(flagged.alignment.method, 'box');
  assert.match(flagged.alignment.method === 'box' ? flagged.alignment.reason : '', /^unreliable landmarks: /);
  assert.deepEqual(flagged.face, boxCrop);

  // A face-shaped set whose jaw line is two and a half times too wide: passes the coarse checks, does not
  // fit the template.
  const fit = similarity(2, 0, 60, 45);
  const middle = box.x + box.width / 2;
  const warped = template.points.map((p, i): Point => {
    const [x, y] = applySimilarity(fit, p);
    return i < 17 ? [middle + 2.5 * (x - middle), y] : [x, y];
  });
  const misfit = landmarksOf(warped, box);
  assert.ok(misfit.reliability.reliable, misfit.reliability.problems.join('; '));
  const refused = aligner.align(image, box, misfit);
  assert.match(
    refused.alignment.method === 'box' ? refused.alignment.reason : '',
    /do not fit the face template/,
  );
  // The same face without the distortion aligns.
  const good = landmarksOf(
    template.points.map((p) => applySimilarity(fit, p)),
    box,
  );
  assert.equal(aligner.align(image, box, good).alignment.method, 'rotation');
  // The pipeline's margin can override the aligner's own for the fallback.
  assert.deepEqual(aligner.align(image, box, undefined, {}).face, cropFace(image, box));
});
