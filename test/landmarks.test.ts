/**
 * The landmark stage: onnxruntime-node against PyTorch's outputs (parity fixture of the model in
 * test/fixtures), the run-time crop against training's own Python crop, the model checks, the reliability
 * checks on human-labelled faces and on nonsense, and, once the trained model is installed, plausible
 * points on a real photo.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isMoodLensError } from '../src/core/errors.js';
import { createImage, type Box } from '../src/core/image.js';
import {
  DEFAULT_LANDMARK_MODEL_PATH,
  hasDefaultLandmarkModel,
  loadLandmarkDetector,
} from '../src/io/node/landmark-model.js';
import { fromCropUnits, landmarkCrop, landmarkCropSquare } from '../src/landmarks/crop.js';
import { DEFAULT_LANDMARK_SCALES, scaledGeometry } from '../src/landmarks/detector.js';
import { parseLandmarkModelMetadata } from '../src/landmarks/model-info.js';
import { centroid, MIRRORED_INDEX, partIndices, type Point } from '../src/landmarks/points.js';
import { mirrorHorizontal } from '../src/emotion/preprocess.js';
import { toGray } from '../src/image/gray.js';
import { assessLandmarks } from '../src/landmarks/reliability.js';
import { ensureFace300w, loadFace300w } from './support/face300w.js';
import { loadAstronaut, mulberry32 } from './support/fer-scenes.js';
import { REPO_ROOT, requireOpenCv, runPythonJson } from './support/opencv.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
const DEV_MODEL = join(FIXTURES, 'landmarks-untrained.onnx');
const ASTRONAUT_BOX: Box = { x: 177, y: 66, width: 95, height: 95 };

/** training/moodlens_train/landmark_export.py --parity-out. */
interface ParityFixture {
  readonly size: number;
  readonly crops: number[][];
  readonly points: number[][];
  readonly tolerance: number;
}

/** Checks a model against its parity fixture at several batch sizes. */
async function checkParity(model: string, fixturePath: string): Promise<void> {
  const fixture = JSON.parse(await readFile(fixturePath, 'utf8')) as ParityFixture;
  const crops = fixture.crops.map((c) => createImage(fixture.size, fixture.size, 1, Uint8Array.from(c)));
  assert.ok(crops.length >= 4);
  for (const batchSize of [32, 4, 1]) {
    const detector = await loadLandmarkDetector(model, { batchSize });
    try {
      const units = await detector.predictCrops(crops);
      assert.equal(units.length, crops.length * 136);
      let worst = 0;
      fixture.points.forEach((expected, i) =>
        expected.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - units[i * 136 + j])))),
      );
      assert.ok(worst <= fixture.tolerance, `batch ${batchSize}: worst difference ${worst}`);
    } finally {
      await detector.dispose();
    }
  }
}

void test('onnxruntime-node reproduces PyTorch landmark outputs on the fixture crops, at any batch size', async () => {
  await checkParity(DEV_MODEL, join(FIXTURES, 'landmarks-untrained.parity.json'));
});

/** landmark_export.py --parity-out for the shipped model. */
const SHIPPED_PARITY = join(FIXTURES, 'landmarks.parity.json');

void test('the shipped landmark model reproduces its PyTorch outputs (landmarks.parity.json)', async (t) => {
  if (!hasDefaultLandmarkModel() || !existsSync(SHIPPED_PARITY)) {
    t.skip(
      `needs ${DEFAULT_LANDMARK_MODEL_PATH} and ${SHIPPED_PARITY} (the trained model is not installed yet)`,
    );
    return;
  }
  await checkParity(DEFAULT_LANDMARK_MODEL_PATH, SHIPPED_PARITY);
});

const TRAINING_CROP_SCRIPT = `
import base64, json, sys, types
job = json.load(sys.stdin)
# landmark_data takes only CROP_SIZE from the (PyTorch) model module: stand it in, so torch is not needed.
stub = types.ModuleType('moodlens_train.landmark_model')
stub.CROP_SIZE = job['size']
sys.modules['moodlens_train.landmark_model'] = stub
sys.path.insert(0, job['training'])
import numpy as np
from moodlens_train import landmark_data as ld
img = np.frombuffer(base64.b64decode(job['data']), np.uint8).reshape(job['height'], job['width'])
out = []
for box in job['boxes']:
    crop, square = ld.run_time_crop(img, box)
    out.append({'square': [int(v) for v in square], 'crop': base64.b64encode(crop.tobytes()).decode(),
                'margin': ld.CROP_MARGIN, 'shift': ld.CROP_SHIFT})
print(json.dumps(out))
`;

void test("the run-time crop equals training's own crop (landmark_data.run_time_crop) on a real photo", async (t) => {
  if (!(await requireOpenCv(t))) return;
  const detector = await loadLandmarkDetector(DEV_MODEL);
  await detector.dispose();
  const geometry = detector.info;
  const { gray } = await loadAstronaut();
  const boxes: Box[] = [
    ASTRONAUT_BOX, // shrunk (side 142 -> the model input, area)
    { x: 181.25, y: 59.5, width: 88.75, height: 88.75 }, // fractional, as FER boxes are
    { x: 300, y: 200, width: 30, height: 30 }, // enlarged (side 45 -> the model input, bilinear)
    { x: 10, y: 470, width: 60, height: 60 }, // past the bottom and left edges
    { x: 400, y: 5, width: 42, height: 44 }, // side exactly 66, not square
  ];
  const expected = (await runPythonJson(TRAINING_CROP_SCRIPT, {
    training: join(REPO_ROOT, 'training'),
    size: geometry.inputSize,
    width: gray.width,
    height: gray.height,
    data: Buffer.from(gray.data).toString('base64'),
    boxes: boxes.map((b) => [b.x, b.y, b.width, b.height]),
  })) as { square: number[]; crop: string; margin: number; shift: number }[];
  // The model's metadata carries training's constants.
  assert.equal(geometry.cropMargin, expected[0].margin);
  assert.equal(geometry.cropShift, expected[0].shift);
  boxes.forEach((box, i) => {
    const square = landmarkCropSquare(box, geometry);
    assert.deepEqual([square.x, square.y, square.width], expected[i].square, `square of box ${i}`);
    const crop = landmarkCrop(gray, box, geometry);
    const theirs = new Uint8Array(Buffer.from(expected[i].crop, 'base64'));
    const differing = crop.data.filter((v, k) => v !== theirs[k]).length;
    assert.equal(differing, 0, `box ${i}: ${differing} pixels differ`);
  });
});

void test('points come back from crop units to image pixel centres', () => {
  const square = { x: 10, y: -4, width: 80, height: 80 };
  assert.deepEqual(fromCropUnits([0, 0, 1, 1, 0.5, 0.25], square), [
    [9.5, -4.5],
    [89.5, 75.5],
    [49.5, 15.5],
  ]);
  // The crop is the box moved down by crop_shift of its height, then squared with crop_margin.
  const geometry = { inputSize: 64, cropMargin: 0.25, cropShift: 0.15 };
  assert.deepEqual(landmarkCropSquare({ x: 100, y: 100, width: 80, height: 80 }, geometry), {
    x: 80,
    y: 92,
    width: 120,
    height: 120,
  });
});

const METADATA = {
  'moodlens.task': 'landmarks',
  'moodlens.points': '68',
  'moodlens.input_size': '64',
  'moodlens.crop_margin': '0.25',
  'moodlens.crop_shift': '0.15',
  'moodlens.preprocessing': 'gray,box_shift,square_crop_replicate,area_resize,equalize_hist',
  'moodlens.scaling': 'v1',
};

void test('landmark model metadata: what it says is read; a wrong task or size is a named error', () => {
  assert.deepEqual(parseLandmarkModelMetadata(METADATA, 'm.onnx'), {
    points: 68,
    inputSize: 64,
    cropMargin: 0.25,
    cropShift: 0.15,
    scaling: 'v1',
  });
  const cases: [Record<string, string>, RegExp][] = [
    [
      { ...METADATA, 'moodlens.task': 'emotion' },
      /expected a landmark model .* 'moodlens.task' is 'emotion'/,
    ],
    [{ 'moodlens.labels': '[]', 'moodlens.input_size': '48' }, /it is an emotion model/],
    [{ ...METADATA, 'moodlens.points': '98' }, /68-point iBUG convention but 'moodlens.points' is '98'/],
    [{ ...METADATA, 'moodlens.input_size': '64.5' }, /integer from 8 to 1024 for 'moodlens.input_size'/],
    [
      { ...METADATA, 'moodlens.crop_margin': 'wide' },
      /number from 0 to 2 for 'moodlens.crop_margin' but received 'wide'/,
    ],
    [{ ...METADATA, 'moodlens.crop_shift': '' }, /no 'moodlens.crop_shift' entry/],
    [{ ...METADATA, 'moodlens.preprocessing': 'gray,resize64' }, /asks for 'gray,resize64'/],
    [{ ...METADATA, 'moodlens.scaling': 'v9' }, /v1 or v2 for 'moodlens.scaling'/],
  ];
  for (const [metadata, message] of cases) {
    assert.throws(
      () => parseLandmarkModelMetadata(metadata, 'm.onnx'),
      (error: unknown) =>
        isMoodLensError(error) &&
        error.code === 'MOODLENS_ERR_MODEL_LOAD' &&
        error.message.startsWith('Landmark model m.onnx: ') &&
        message.test(error.message),
      String(message),
    );
  }
});

/** The dev model's bytes with one metadata value replaced by another of the same length. */
async function patchedModel(dir: string, key: string, from: string, to: string): Promise<string> {
  const bytes = Buffer.from(await readFile(DEV_MODEL));
  const at = bytes.indexOf(Buffer.from(key));
  const value = bytes.indexOf(Buffer.from(from), at + key.length);
  assert.ok(at > 0 && value > at && value - at < key.length + 4, `${key} = ${from} found`);
  Buffer.from(to).copy(bytes, value);
  const path = join(dir, `${key}-${to}.onnx`);
  await writeFile(path, bytes);
  return path;
}

void test('loadLandmarkDetector refuses an emotion model, a size the graph does not have, a missing file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-landmarks-'));
  const refuses = async (path: string, message: RegExp): Promise<void> =>
    assert.rejects(loadLandmarkDetector(path), (error: unknown) => {
      assert.ok(isMoodLensError(error), String(error));
      assert.equal(error.code, 'MOODLENS_ERR_MODEL_LOAD');
      assert.match(error.message, message);
      return true;
    });
  try {
    await refuses(join(FIXTURES, 'tiny-emotion.onnx'), /tiny-emotion\.onnx: .*it is an emotion model/);
    await refuses(
      await patchedModel(dir, 'moodlens.input_size', '64', '48'),
      /its input is \[N, 1, 64, 64\] but its metadata says 'moodlens.input_size' 48/,
    );
    await refuses(
      await patchedModel(dir, 'moodlens.task', 'landmarks', 'landmarkz'),
      /'moodlens.task' is 'landmarkz'/,
    );
    await refuses(join(dir, 'none.onnx'), /Model not found: .*none\.onnx: no such file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('detect: one batch for all faces, the same points as one face at a time, inside the crop square', async () => {
  const detector = await loadLandmarkDetector(DEV_MODEL);
  try {
    const { rgb } = await loadAstronaut();
    const boxes = [
      ASTRONAUT_BOX,
      { x: 300, y: 300, width: 120, height: 120 },
      { x: 0, y: 0, width: 50, height: 60 },
    ];
    const all = await detector.detect(rgb, boxes);
    assert.equal(all.length, 3);
    for (const [i, box] of boxes.entries()) {
      const [alone] = await detector.detect(rgb, [box]);
      assert.deepEqual(alone.box, box);
      assert.equal(alone.points.length, 68);
      alone.points.forEach((p, k) => {
        assert.ok(Math.abs(p[0] - all[i].points[k][0]) < 1e-3 && Math.abs(p[1] - all[i].points[k][1]) < 1e-3);
      });
      // The model's outputs are in crop units within [0, 1]: the points lie in the crop square.
      const square = landmarkCropSquare(box, detector.info);
      for (const [x, y] of alone.points) {
        assert.ok(x >= square.x - 0.5 && x <= square.x + square.width - 0.5, `x ${x}`);
        assert.ok(y >= square.y - 0.5 && y <= square.y + square.height - 0.5, `y ${y}`);
      }
    }
    assert.deepEqual(await detector.detect(rgb, []), []);
  } finally {
    await detector.dispose();
  }
  await assert.rejects(detector.predictCrops([]), /has been disposed/);
});

void test('flip TTA: the plain and the mirrored answers averaged, with the 300-W index permutation', async () => {
  const detector = await loadLandmarkDetector(DEV_MODEL);
  const plainOnly = await loadLandmarkDetector(DEV_MODEL, { flipTta: false });
  try {
    assert.equal(detector.flipTta, true, 'on by default');
    assert.deepEqual(detector.scales, DEFAULT_LANDMARK_SCALES, 'three crop scales by default');
    const { rgb } = await loadAstronaut();
    const gray = toGray(rgb);
    const crop = detector.crop(gray, ASTRONAUT_BOX);
    const plain = await detector.predictCrops([crop]);
    const mirrored = await detector.predictCrops([mirrorHorizontal(crop)]);
    const tta = await detector.predictCropsTta([crop]);
    for (let i = 0; i < 68; i++) {
      const j = MIRRORED_INDEX[i];
      assert.ok(Math.abs(tta[2 * i] - (plain[2 * i] + 1 - mirrored[2 * j]) / 2) < 1e-6);
      assert.ok(Math.abs(tta[2 * i + 1] - (plain[2 * i + 1] + mirrored[2 * j + 1]) / 2) < 1e-6);
    }
    // The permutation is an involution that swaps the sides and keeps the midline.
    MIRRORED_INDEX.forEach((j, i) => assert.equal(MIRRORED_INDEX[j], i));
    for (const mid of [8, 27, 28, 29, 30, 33, 51, 57, 62, 66]) assert.equal(MIRRORED_INDEX[mid], mid);
    // On the real face the mirrored pass agrees with the plain one to within a few percent of the crop.
    let worst = 0;
    for (let i = 0; i < 136; i++) worst = Math.max(worst, Math.abs(tta[i] - plain[i]));
    assert.ok(worst < 0.05, `TTA moved a point by ${worst} of the crop`);
    const [withTta] = await detector.detect(rgb, [ASTRONAUT_BOX]);
    const [without] = await plainOnly.detect(rgb, [ASTRONAUT_BOX]);
    assert.notDeepEqual(withTta.points, without.points);
  } finally {
    await detector.dispose();
    await plainOnly.dispose();
  }
});

void test("crop-scale TTA: the answers of each scale's crop, mapped to image pixels and averaged", async () => {
  const scales = [1, 0.9, 1.1];
  const detector = await loadLandmarkDetector(DEV_MODEL, { flipTta: false, scales });
  try {
    const { rgb } = await loadAstronaut();
    const gray = toGray(rgb);
    const perScale: Point[][] = [];
    for (const scale of scales) {
      const geometry = scaledGeometry(detector.info, scale);
      const square = landmarkCropSquare(ASTRONAUT_BOX, geometry);
      assert.ok(
        Math.abs(square.width / landmarkCropSquare(ASTRONAUT_BOX, detector.info).width - scale) < 0.02,
      );
      perScale.push(
        fromCropUnits(await detector.predictCrops([landmarkCrop(gray, ASTRONAUT_BOX, geometry)]), square),
      );
    }
    const [marks] = await detector.detect(rgb, [ASTRONAUT_BOX]);
    marks.points.forEach(([x, y], k) => {
      const mx = perScale.reduce((sum, p) => sum + p[k][0], 0) / scales.length;
      const my = perScale.reduce((sum, p) => sum + p[k][1], 0) / scales.length;
      assert.ok(Math.abs(x - mx) < 1e-3 && Math.abs(y - my) < 1e-3, `point ${k}`);
    });
    // The scales disagree a little on a real face, and the average lies between them.
    assert.notDeepEqual(perScale[1], perScale[2]);
    await assert.rejects(loadLandmarkDetector(DEV_MODEL, { scales: [] }), /crop scales from 0.5 to 2/);
  } finally {
    await detector.dispose();
  }
});

void test('reliability: human-labelled faces pass; collapsed, scattered, mirrored, upside-down, displaced points fail', async (t) => {
  let dir: string;
  try {
    dir = await ensureFace300w();
  } catch (error) {
    t.skip(`face300w not available: ${(error as Error).message}`);
    return;
  }
  // Held-out faces 0, 50, 100, ... (18 faces), with their largest Haar box on the labelled face.
  const faces = (await loadFace300w(dir, (i) => i % 50 === 0)).filter((f) => f.box !== undefined);
  assert.ok(faces.length >= 15, `${faces.length} faces with a box`);
  const random = mulberry32(7);
  for (const face of faces) {
    const box = face.box as Box;
    const truth = face.truth;
    const verdict = assessLandmarks(truth, box);
    assert.ok(verdict.reliable, `${face.name}: ${verdict.problems.join('; ')}`);
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    const nonsense: [string, Point[], RegExp][] = [
      ['collapsed', truth.map((): Point => [cx, cy]), /eye distance|not finite|order/],
      [
        'scattered',
        truth.map((): Point => [box.x + random() * box.width, box.y + random() * box.height]),
        /./,
      ],
      [
        'mirrored without the index permutation',
        truth.map(([x, y]): Point => [2 * cx - x, y]),
        /eye corners not in order|roll/,
      ],
      ['upside down', truth.map(([x, y]): Point => [2 * cx - x, 2 * cy - y]), /roll/],
      [
        'two boxes to the right',
        truth.map(([x, y]): Point => [x + 2.2 * box.width, y]),
        /points outside the face box/,
      ],
      [
        'four times too large',
        truth.map(([x, y]): Point => [cx + 4 * (x - cx), cy + 4 * (y - cy)]),
        /eye distance/,
      ],
      ['not finite', truth.map((p, i): Point => (i === 30 ? [Number.NaN, p[1]] : p)), /not finite/],
    ];
    for (const [what, points, problem] of nonsense) {
      const bad = assessLandmarks(points, box);
      assert.equal(bad.reliable, false, `${face.name} ${what} passed`);
      assert.ok(
        bad.problems.some((p) => problem.test(p)),
        `${face.name} ${what}: ${bad.problems.join('; ')}`,
      );
    }
  }
});

void test('the trained model on the astronaut photo: 68 plausible points inside the face box', async (t) => {
  if (!hasDefaultLandmarkModel()) {
    t.skip(`needs the trained landmark model at ${DEFAULT_LANDMARK_MODEL_PATH} (not installed yet)`);
    return;
  }
  assert.ok(existsSync(DEFAULT_LANDMARK_MODEL_PATH));
  const detector = await loadLandmarkDetector();
  try {
    const { rgb } = await loadAstronaut();
    const [face] = await detector.detect(rgb, [ASTRONAUT_BOX]);
    const { points, reliability } = face;
    assert.ok(reliability.reliable, reliability.problems.join('; '));
    const box = ASTRONAUT_BOX;
    // Every point in the box widened by a fifth (the chin may sit just below the Haar box).
    for (const [x, y] of points) {
      assert.ok(x > box.x - 0.2 * box.width && x < box.x + 1.2 * box.width, `x ${x}`);
      assert.ok(y > box.y - 0.2 * box.height && y < box.y + 1.2 * box.height, `y ${y}`);
    }
    const y = (indices: number[]): number => centroid(points, indices)[1];
    const x = (indices: number[]): number => centroid(points, indices)[0];
    const eyes = [...partIndices('rightEye'), ...partIndices('leftEye')];
    const mouth = [...partIndices('outerLips'), ...partIndices('innerLips')];
    // Brows above the eyes above the nose tip above the mouth; the chin the lowest jaw point.
    assert.ok(y([...partIndices('rightBrow'), ...partIndices('leftBrow')]) < y(eyes));
    assert.ok(y(eyes) < points[30][1] && points[30][1] < y(mouth));
    const jawYs = partIndices('jaw').map((i) => points[i][1]);
    assert.ok(
      Math.max(...jawYs) - points[8][1] < 0.03 * box.height,
      'the chin is (about) the lowest jaw point',
    );
    assert.ok(points[8][1] > y(mouth));
    // The subject's right eye on the image left; the nose between the eyes; an upright face (small roll).
    assert.ok(x(partIndices('rightEye')) < points[30][0] && points[30][0] < x(partIndices('leftEye')));
    assert.ok(Math.abs(reliability.measures.roll) < 15, `roll ${reliability.measures.roll}`);
    // The eye distance is a plausible share of the box.
    assert.ok(reliability.measures.interocular > 0.35 && reliability.measures.interocular < 0.7);
  } finally {
    await detector.dispose();
  }
});
