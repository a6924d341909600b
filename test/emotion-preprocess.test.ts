import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImage, type Box, type GrayImage } from '../src/core/image.js';
import { resizeGrayLinearExact } from '../src/image/resize.js';
import {
  cropFace,
  equalizeHist,
  faceCropSquare,
  scalingTable,
  toInputTensor,
  type FaceResample,
} from '../src/emotion/preprocess.js';
import {
  FER2013_CACHE,
  listFerFaces,
  loadAstronaut,
  mulberry32,
  readGrayFile,
} from './support/fer-scenes.js';
import { REPO_ROOT, requireOpenCv, runPythonJson } from './support/opencv.js';

const toBase64 = (image: GrayImage): string => Buffer.from(image.data).toString('base64');
const fromBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));

const EQUALIZE_SCRIPT = `
import base64, json, sys
import cv2, numpy as np
out = []
for im in json.load(sys.stdin):
    a = np.frombuffer(base64.b64decode(im["data"]), np.uint8).reshape(im["height"], im["width"])
    out.append(base64.b64encode(cv2.equalizeHist(a).tobytes()).decode())
print(json.dumps(out))
`;

function randomImage(width: number, height: number, seed: number, lo = 0, hi = 255): GrayImage {
  const random = mulberry32(seed);
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = lo + Math.floor(random() * (hi - lo + 1));
  return createImage(width, height, 1, data);
}

function countDiffs(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

void test('equalizeHist equals cv2.equalizeHist bit for bit on real FER faces and edge cases', async (t) => {
  if (!(await requireOpenCv(t))) return;
  const files = await listFerFaces();
  const faces: { name: string; image: GrayImage }[] = [];
  // 240 real faces spread over the classes (every 15th file in the fixed order).
  for (let i = 0; i < files.length && faces.length < 240; i += 15) {
    faces.push({ name: files[i], image: await readGrayFile(join(FER2013_CACHE, files[i])) });
  }
  const astronaut = (await loadAstronaut()).gray;
  const gradient = createImage(
    256,
    1,
    1,
    Uint8Array.from({ length: 256 }, (_, i) => i),
  );
  const synthetic: { name: string; image: GrayImage }[] = [
    { name: 'random 97x61', image: randomImage(97, 61, 1) },
    { name: 'random narrow 100..103', image: randomImage(64, 48, 2, 100, 103) },
    { name: 'random 0..1', image: randomImage(48, 48, 3, 0, 1) },
    { name: 'random 254..255', image: randomImage(48, 48, 4, 254, 255) },
    { name: 'one level 0', image: createImage(5, 3, 1, new Uint8Array(15)) },
    { name: 'one level 77', image: createImage(5, 3, 1, new Uint8Array(15).fill(77)) },
    { name: 'one level 255', image: createImage(1, 1, 1, new Uint8Array([255])) },
    { name: 'two pixels', image: createImage(2, 1, 1, new Uint8Array([3, 200])) },
    { name: 'gradient', image: gradient },
    { name: 'astronaut 512x512', image: astronaut },
  ];
  const all = [...faces, ...synthetic];
  const expected = (await runPythonJson(
    EQUALIZE_SCRIPT,
    all.map(({ image }) => ({ width: image.width, height: image.height, data: toBase64(image) })),
  )) as string[];
  const mismatches = all
    .map(({ name, image }, i) => ({
      name,
      diffs: countDiffs(equalizeHist(image).data, fromBase64(expected[i])),
    }))
    .filter((m) => m.diffs > 0);
  assert.equal(faces.length, 240);
  assert.deepEqual(mismatches, []);
  // OpenCV's single-level rule: the image comes back unchanged.
  assert.deepEqual([...equalizeHist(synthetic[5].image).data], new Array<number>(15).fill(77));
});

void test('faceCropSquare: centred square of side max(w, h) * (1 + 2 * margin), top-left rounded down', () => {
  assert.deepEqual(faceCropSquare({ x: 10, y: 20, width: 40, height: 40 }, 0), {
    x: 10,
    y: 20,
    width: 40,
    height: 40,
  });
  assert.deepEqual(faceCropSquare({ x: 10, y: 20, width: 40, height: 40 }, 0.25), {
    x: 0,
    y: 10,
    width: 60,
    height: 60,
  });
  // A tall box gives a square of its height, centred horizontally (past the left edge here).
  assert.deepEqual(faceCropSquare({ x: 0, y: 0, width: 30, height: 50 }, 0), {
    x: -10,
    y: 0,
    width: 50,
    height: 50,
  });
  // Side 11 around a 10 px box: the half-pixel offset goes to the top left.
  assert.deepEqual(faceCropSquare({ x: 5, y: 5, width: 10, height: 10 }, 0.05), {
    x: 4,
    y: 4,
    width: 11,
    height: 11,
  });
  assert.throws(() => faceCropSquare({ x: 0, y: 0, width: 10, height: 10 }, -0.1), {
    name: 'RangeError',
    message: 'Expected a number >= 0 for margin but received -0.1',
  });
  assert.throws(() => faceCropSquare({ x: 0, y: 0, width: 0, height: 10 }, 0), {
    name: 'RangeError',
    message: 'Expected a finite number > 0 for box.width but received 0',
  });
  assert.throws(
    () => faceCropSquare({ x: Number.NaN, y: 0, width: 10, height: 10 }, 0),
    /box\.x but received NaN/,
  );
});

void test('cropFace replicates edge pixels where the square leaves the image', () => {
  // Pixel (x, y) holds 10 * y + x.
  const image = createImage(4, 3, 1, Uint8Array.from([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]));
  const raw = (box: Box): number[] => [...cropFace(image, box, { size: 4, equalize: false }).data];
  assert.deepEqual(
    raw({ x: -2, y: -1, width: 4, height: 4 }),
    [0, 0, 0, 1, 0, 0, 0, 1, 10, 10, 10, 11, 20, 20, 20, 21],
  );
  assert.deepEqual(
    raw({ x: 2, y: 1, width: 4, height: 4 }),
    [12, 13, 13, 13, 22, 23, 23, 23, 22, 23, 23, 23, 22, 23, 23, 23],
  );
  assert.deepEqual(raw({ x: 10, y: 10, width: 4, height: 4 }), new Array<number>(16).fill(23));
  // A 4x3 box becomes a 4x4 square from y = -1: row 0 is repeated above the image.
  assert.deepEqual(
    raw({ x: 0, y: 0, width: 4, height: 3 }),
    [0, 1, 2, 3, 0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23],
  );
});

void test('cropFace of a whole 48x48 FER face is the face, equalized; small crops are enlarged bilinearly', async () => {
  const files = await listFerFaces();
  const face = await readGrayFile(join(FER2013_CACHE, files[0]));
  const whole = { x: 0, y: 0, width: 48, height: 48 };
  assert.deepEqual(cropFace(face, whole, { equalize: false }).data, face.data);
  assert.deepEqual(cropFace(face, whole).data, equalizeHist(face).data);
  for (const resample of ['area', 'bilinear'] as const) {
    const small = cropFace(face, { x: 10, y: 12, width: 20, height: 20 }, { resample, equalize: false });
    const inner = cropFace(face, { x: 10, y: 12, width: 20, height: 20 }, { size: 20, equalize: false });
    assert.deepEqual(small.data, resizeGrayLinearExact(inner, 48, 48).data, resample);
  }
  assert.throws(() => cropFace(face, whole, { size: 0 }), /positive integer for size but received 0/);
  assert.throws(
    () => cropFace(face, whole, { resample: 'cubic' as FaceResample }),
    /'area' or 'bilinear' for resample but received cubic/,
  );
});

const CROP_SCRIPT = `
import base64, json, sys
import cv2, numpy as np
job = json.load(sys.stdin)
img = np.frombuffer(base64.b64decode(job["data"]), np.uint8).reshape(job["height"], job["width"])
out = []
for c in job["crops"]:
    x, y, s = c["x"], c["y"], c["side"]
    top, left = max(0, -y), max(0, -x)
    bottom, right = max(0, y + s - img.shape[0]), max(0, x + s - img.shape[1])
    padded = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_REPLICATE)
    crop = padded[y + top:y + top + s, x + left:x + left + s]
    flag = cv2.INTER_AREA if c["resample"] == "area" else cv2.INTER_LINEAR_EXACT
    face = cv2.equalizeHist(cv2.resize(crop, (48, 48), interpolation=flag))
    out.append(base64.b64encode(face.tobytes()).decode())
print(json.dumps(out))
`;

void test('cropFace equals OpenCV (copyMakeBorder REPLICATE, resize, equalizeHist) on a real photo', async (t) => {
  if (!(await requireOpenCv(t))) return;
  const { gray } = await loadAstronaut();
  // The face OpenCV's cascade finds in the astronaut photo, then boxes cut by the top and left borders.
  const boxes: Box[] = [
    { x: 177, y: 66, width: 95, height: 95 },
    { x: 20, y: 10, width: 80, height: 80 },
    { x: 300, y: 400, width: 130, height: 130 },
    { x: 150, y: 40, width: 150, height: 150 },
  ];
  const margins = [0, 0.1, 0.25, 0.6];
  const cases: { box: Box; margin: number; resample: FaceResample }[] = [];
  for (const box of boxes) {
    for (const margin of margins)
      for (const resample of ['area', 'bilinear'] as const) cases.push({ box, margin, resample });
  }
  const expected = (await runPythonJson(CROP_SCRIPT, {
    width: gray.width,
    height: gray.height,
    data: toBase64(gray),
    crops: cases.map(({ box, margin, resample }) => {
      const square = faceCropSquare(box, margin);
      return { x: square.x, y: square.y, side: square.width, resample };
    }),
  })) as string[];
  const mismatches = cases
    .map((c, i) => ({ ...c, diffs: countDiffs(cropFace(gray, c.box, c).data, fromBase64(expected[i])) }))
    .filter((c) => c.diffs > 0);
  assert.ok(
    cases.some((c) => faceCropSquare(c.box, c.margin).y < 0),
    'some crop leaves the image',
  );
  assert.deepEqual(mismatches, []);
});

void test('toInputTensor scales pixels exactly as the training code (float32 tables from numpy)', async () => {
  const fixture = JSON.parse(
    await readFile(join(REPO_ROOT, 'test', 'fixtures', 'tiny-emotion.parity.json'), 'utf8'),
  ) as { scaling_tables: Record<'v1' | 'v2', number[]> };
  for (const scaling of ['v1', 'v2'] as const) {
    assert.deepEqual([...scalingTable(scaling)], fixture.scaling_tables[scaling].map(Math.fround), scaling);
  }
  assert.equal(scalingTable('v1')[255], 1);
  assert.equal(scalingTable('v2')[0], -1);
  assert.equal(scalingTable('v2')[255], 1);

  const a = randomImage(48, 48, 5);
  const b = randomImage(48, 48, 6);
  const tensor = toInputTensor([a, b], 'v2');
  assert.equal(tensor.length, 2 * 48 * 48);
  assert.equal(tensor[48 * 48 + 100], scalingTable('v2')[b.data[100]]);
  assert.equal(toInputTensor([], 'v1').length, 0);
  assert.throws(() => toInputTensor([a, randomImage(40, 48, 7)], 'v1'), {
    name: 'RangeError',
    message: 'Expected a 48x48 gray face for faces[1] but received 40x48 with 1 channels',
  });
  assert.throws(() => scalingTable('v3' as 'v1'), /'v1' or 'v2' for scaling but received v3/);
});
