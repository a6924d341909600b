/**
 * The learned face detector (issue 21, src/detect/cnn) and `moodlens evaluate-detector`. The model tests
 * use the session's exported checkpoint (training/checkpoints/detector/face-detector.onnx, epoch 24); the
 * shipped draft (models/detector/face-detector.onnx) is evaluate-detector's default.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImage, type Box, type Image } from '../src/core/image.js';
import { OrtDetectorBackend, type CnnDetectorBackend } from '../src/detect/cnn/backend.js';
import { CnnBoxDetector } from '../src/detect/cnn/box-detector.js';
import { CnnFaceDetector } from '../src/detect/cnn/detector.js';
import { parseCnnDetectorMetadata } from '../src/detect/cnn/model-info.js';
import {
  decodeDetections,
  iouCorners,
  nonMaximumSuppression,
  type Corners,
} from '../src/detect/cnn/decode.js';
import { averagePrecision, detectionErrors, evaluateDetections } from '../src/detect/cnn/evaluation.js';
import { detectorInput } from '../src/detect/cnn/preprocess.js';
import { mirrorImage } from '../src/image/mirror.js';
import { parseBoxes } from '../src/cli/evaluate-detector-command.js';
import { loadCnnFaceDetector } from '../src/io/node/cnn-detector-model.js';
import { readImage } from '../src/io/node/read-image.js';
import { writeImage } from '../src/io/node/write-image.js';
import { runCaptured as run } from './support/cli.js';
import { REPO_ROOT } from './support/opencv.js';

const ASTRONAUT = join(REPO_ROOT, 'examples', 'astronaut.png');
const MODEL = join(REPO_ROOT, 'models', 'detector', 'face-detector.onnx');
const EMOTION = join(REPO_ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
const SHIPPED = join(REPO_ROOT, 'models', 'detector', 'face-detector.onnx');
const PARITY = join(REPO_ROOT, 'test', 'fixtures', 'face-detector.parity.json');
/** The Haar box of the astronaut's face (OpenCV's defaults). */
const ASTRONAUT_BOX: Box = { x: 177, y: 66, width: 95, height: 95 };

function corners(b: Box): Corners {
  return { x1: b.x, y1: b.y, x2: b.x + b.width, y2: b.y + b.height };
}

function crop(image: Image, x: number, y: number, width: number, height: number): Image<3> {
  const out = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const from = ((y + row) * image.width + x + col) * image.channels;
      out.set(image.data.subarray(from, from + 3), (row * width + col) * 3);
    }
  }
  return createImage(width, height, 3, out);
}

void test('NMS keeps the best box of each overlapping group, highest score first, ties in input order', () => {
  const boxes: Corners[] = [
    { x1: 0, y1: 0, x2: 10, y2: 10 },
    { x1: 1, y1: 0, x2: 11, y2: 10 }, // IoU 9/11 with the first
    { x1: 50, y1: 50, x2: 60, y2: 60 },
    { x1: 5, y1: 0, x2: 15, y2: 10 }, // IoU 1/3 with the first, 6/14 with the second
  ];
  // The fourth box (IoU 0.43 with the second) goes at IoU 0.4 and stays at 0.45.
  assert.deepEqual(nonMaximumSuppression(boxes, [0.5, 0.9, 0.7, 0.6], 0.4), [1, 2]);
  assert.deepEqual(nonMaximumSuppression(boxes, [0.5, 0.9, 0.7, 0.6], 0.45), [1, 2, 3]);
  assert.deepEqual(nonMaximumSuppression(boxes, [0.8, 0.8, 0.8, 0.8], 0.4), [0, 2, 3]);
  assert.ok(Math.abs(iouCorners(boxes[0], boxes[1]) - 9 / 11) < 1e-12);
  assert.equal(iouCorners(boxes[0], boxes[2]), 0);
});

void test('decoding maps boxes and keypoints to image pixels, applies the threshold, minimum size and NMS', () => {
  // Four anchors in input pixels (scale 2: the image is half the input's size).
  const scores = Float32Array.from([0.9, 0.3, 0.8, 0.7]);
  const boxes = Float32Array.from(
    [
      [20, 20, 60, 60],
      [100, 100, 140, 140],
      [22, 20, 62, 60],
      [100, 10, 110, 20],
    ].flat(),
  );
  const kps = new Float32Array(40);
  for (let i = 0; i < 40; i++) kps[i] = 2 * i;
  const faces = decodeDetections(
    { scores, boxes, kps },
    { scoreThreshold: 0.5, nmsIou: 0.4, scale: 2, imageWidth: 100, imageHeight: 100, minSize: 0 },
  );
  assert.equal(faces.length, 2);
  assert.deepEqual(faces[0].corners, { x1: 10, y1: 10, x2: 30, y2: 30 });
  assert.deepEqual(faces[0].box, { x: 10, y: 10, width: 20, height: 20 });
  assert.equal(faces[0].score, scores[0]);
  assert.deepEqual(faces[0].keypoints, [
    [0, 1],
    [2, 3],
    [4, 5],
    [6, 7],
    [8, 9],
  ]);
  assert.deepEqual(faces[1].box, { x: 50, y: 5, width: 5, height: 5 });
  assert.deepEqual(faces[1].keypoints[0], [30, 31]);
  const big = decodeDetections(
    { scores, boxes, kps },
    { scoreThreshold: 0.5, nmsIou: 0.4, scale: 2, imageWidth: 100, imageHeight: 100, minSize: 6 },
  );
  assert.deepEqual(
    big.map((f) => f.score),
    [scores[0]],
  );
});

void test('pre-processing: long side resized (area when shrinking), padded to a multiple of 32, 0-255 RGB', () => {
  const gray = createImage(4, 2, 1, Uint8Array.from([0, 100, 200, 50, 10, 20, 30, 40]));
  const input = detectorInput(gray, 2);
  assert.equal(input.scale, 0.5);
  assert.deepEqual([input.resizedWidth, input.resizedHeight, input.width, input.height], [2, 1, 32, 32]);
  const plane = 32 * 32;
  // Each output pixel averages a 2x2 block; gray is repeated on R, G and B; the rest is zero padding.
  for (const c of [0, 1, 2]) {
    assert.equal(input.data[c * plane], 32); // (0 + 100 + 10 + 20) / 4 = 32.5, rounded half to even
    assert.equal(input.data[c * plane + 1], 80); // (200 + 50 + 30 + 40) / 4
    assert.equal(input.data[c * plane + 2], 0);
    assert.equal(input.data[c * plane + 32], 0);
  }
});

void test('AP, recall and precision on synthetic detections', () => {
  // 3 faces; detections by score: TP, FP, TP  ->  precision 1, 1/2, 2/3 at recall 1/3, 1/3, 2/3.
  assert.ok(
    Math.abs(
      averagePrecision(
        [
          { tp: true, score: 0.9 },
          { tp: false, score: 0.8 },
          { tp: true, score: 0.7 },
        ],
        3,
      ) -
        (1 / 3 + (1 / 3) * (2 / 3)),
    ) < 1e-12,
  );
  const face = { x: 0, y: 0, width: 10, height: 10 };
  const figures = evaluateDetections(
    [
      {
        faces: [face, { x: 50, y: 50, width: 10, height: 10 }],
        detections: [
          { box: { x: 1, y: 0, width: 10, height: 10 }, score: 0.9 }, // IoU 90/110
          { box: { x: 0, y: 1, width: 10, height: 10 }, score: 0.8 }, // the same face again: FP
          { box: { x: 50, y: 50, width: 10, height: 10 }, score: 0.3 }, // under the min score
        ],
      },
      { faces: [], detections: [{ box: face, score: 0.95 }] },
    ],
    0.5,
    0.5,
  );
  assert.deepEqual(
    { ...figures, ap: undefined },
    {
      iou: 0.5,
      minScore: 0.5,
      minFace: 0,
      images: 2,
      faces: 2,
      detections: 3,
      truePositives: 1,
      falsePositives: 2,
      recall: 0.5,
      precision: 1 / 3,
      ap: undefined,
    },
  );
  // All four by score: FP, TP, FP, TP -> (1/2 - 0) * 1/2 + (1 - 1/2) * 2/4.
  assert.ok(Math.abs(figures.ap - 0.5) < 1e-12);
});

void test('faces under the minimum size are ignored: neither missed nor held against the detector', () => {
  const big = { x: 0, y: 0, width: 40, height: 40 };
  const small = { x: 100, y: 100, width: 10, height: 10 };
  const image = {
    faces: [big, small],
    detections: [
      { box: big, score: 0.9 }, // finds the counted face
      { box: { x: 101, y: 100, width: 10, height: 10 }, score: 0.8 }, // on the small face: dropped
      { box: { x: 200, y: 0, width: 8, height: 8 }, score: 0.7 }, // tiny, elsewhere: dropped
      { box: { x: 200, y: 100, width: 40, height: 40 }, score: 0.6 }, // a false face of counted size
    ],
  };
  const ignoring = evaluateDetections([image], 0.4, 0.5, 20);
  assert.equal(ignoring.faces, 1);
  assert.equal(ignoring.detections, 2);
  assert.equal(ignoring.truePositives, 1);
  assert.equal(ignoring.falsePositives, 1);
  assert.equal(ignoring.minFace, 20);
  assert.deepEqual(detectionErrors(image, 0.4, 0.5, 20), {
    falseDetections: [{ box: { x: 200, y: 100, width: 40, height: 40 }, score: 0.6 }],
    missedFaces: [],
  });
  // without the size rule the small face is found and the tiny detection is a false one
  assert.deepEqual(detectionErrors(image, 0.4, 0.5), {
    falseDetections: [
      { box: { x: 200, y: 0, width: 8, height: 8 }, score: 0.7 },
      { box: { x: 200, y: 100, width: 40, height: 40 }, score: 0.6 },
    ],
    missedFaces: [],
  });
  // over a 0.85 score only the big face's detection stays: the small face is missed unless ignored
  assert.deepEqual(detectionErrors(image, 0.4, 0.85).missedFaces, [small]);
  assert.deepEqual(detectionErrors(image, 0.4, 0.85, 20).missedFaces, []);
  const counting = evaluateDetections([image], 0.4, 0.5);
  assert.equal(counting.faces, 2);
  assert.equal(counting.truePositives, 2);
  assert.equal(counting.falsePositives, 2);
});

void test('the boxes JSON: shape checked with coded errors naming the entry', () => {
  assert.deepEqual(
    parseBoxes({ 'a.png': [[1, 2, 3, 4]], 'b.png': [] }, 'b.json'),
    new Map([
      ['a.png', [{ x: 1, y: 2, width: 3, height: 4 }]],
      ['b.png', []],
    ]),
  );
  for (const bad of [[], null, { 'a.png': {} }, { 'a.png': [[1, 2, 3]] }, { 'a.png': [[1, 2, 0, 4]] }]) {
    assert.throws(() => parseBoxes(bad, 'b.json'), { code: 'MOODLENS_ERR_INVALID_DATASET' });
  }
});

void test('the shipped model gives what PyTorch gives on the same input (test/fixtures/face-detector.parity.json)', async () => {
  const { readFile } = await import('node:fs/promises');
  // Written by `python -m moodlens_train.detector.export ... --parity-out` from the checkpoint the model was
  // exported from: DetectorExport in PyTorch on a fixed 320x416 input, its top-scoring anchors and score sum.
  const reference = JSON.parse(await readFile(PARITY, 'utf8')) as {
    model: string;
    input: { height: number; width: number };
    anchors: number;
    score_sum: number;
    top: { index: number; score: number; box: number[]; kps: number[] }[];
  };
  assert.equal(reference.model, 'face-detector.onnx');
  const backend = await OrtDetectorBackend.open(
    () => import('onnxruntime-node'),
    new Uint8Array(await readFile(SHIPPED)),
    SHIPPED,
    { intraOpNumThreads: 1, interOpNumThreads: 1 },
  );
  try {
    const { height: h, width: w } = reference.input;
    const data = new Float32Array(3 * h * w);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 256;
    const out = await backend.run(data, h, w);
    assert.equal(out.scores.length, reference.anchors);
    assert.ok(reference.top.length >= 5);
    for (const { index, score, box, kps } of reference.top) {
      assert.ok(Math.abs(out.scores[index] - score) < 1e-4, `score of anchor ${index}`);
      box.forEach((v, k) => assert.ok(Math.abs(out.boxes[4 * index + k] - v) < 1e-3, `box ${index}[${k}]`));
      kps.forEach((v, k) => assert.ok(Math.abs(out.kps[10 * index + k] - v) < 1e-3, `kps ${index}[${k}]`));
    }
    const sum = out.scores.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - reference.score_sum) < 1e-2, `sum of scores ${sum}`);
  } finally {
    await backend.dispose();
  }
});

/** A detector model's metadata, as export.py writes it, with `extra` keys added. */
function detectorMetadata(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'moodlens.format': 'moodlens-detector/1',
    'moodlens.task': 'face_detection',
    'moodlens.long_side': '416',
    'moodlens.score_threshold': '0.5',
    'moodlens.nms_iou': '0.4',
    'moodlens.strides': '8,16,32',
    ...extra,
  };
}

/**
 * A backend that records the input sizes it is given and answers, per call, one anchor box given in image
 * pixels (scaled to the input here, as the model's are): the first call a 200 px face, later calls a
 * 30 px face elsewhere and a copy of the 200 px one (which the fine pass must not add).
 */
function recordingBackend(imageLong: number): { backend: CnnDetectorBackend; sizes: number[][] } {
  const sizes: number[][] = [];
  const backend: CnnDetectorBackend = {
    run: (_input, height, width) => {
      sizes.push([height, width]);
      const scale = (sizes.length === 1 ? 416 : 640) / imageLong;
      const image =
        sizes.length === 1
          ? [[100, 100, 300, 300]]
          : [
              [500, 400, 530, 430],
              [101, 100, 301, 300],
            ];
      return Promise.resolve({
        scores: Float32Array.from(image.map(() => 0.9)),
        boxes: Float32Array.from(image.flat().map((v) => v * scale)),
        kps: new Float32Array(10 * image.length),
      });
    },
    dispose: () => Promise.resolve(),
  };
  return { backend, sizes };
}

void test('a model with a fine pass runs it for small faces only, and skips it when the minimum size rules them out', async () => {
  const fine = { 'moodlens.fine_long_side': '640', 'moodlens.fine_max_face': '32' };
  assert.deepEqual(parseCnnDetectorMetadata(detectorMetadata(fine), 'm').finePass, {
    longSide: 640,
    maxFace: 32,
  });
  assert.equal(parseCnnDetectorMetadata(detectorMetadata(), 'm').finePass, undefined);
  const bads: Record<string, string>[] = [
    { 'moodlens.fine_long_side': '640' },
    { 'moodlens.fine_max_face': '32' },
    { ...fine, 'moodlens.fine_long_side': '400' },
    { ...fine, 'moodlens.fine_max_face': '0' },
  ];
  for (const bad of bads) {
    assert.throws(() => parseCnnDetectorMetadata(detectorMetadata(bad), 'm'), {
      code: 'MOODLENS_ERR_MODEL_LOAD',
    });
  }
  const image = createImage(800, 600, 3);
  const detectWith = async (options: { minSize?: number; finePass?: boolean }) => {
    const { backend, sizes } = recordingBackend(800);
    const detector = CnnFaceDetector.create({ backend, metadata: detectorMetadata(fine) });
    const faces = await detector.detect(image, options);
    await detector.close();
    return { sizes, boxes: faces.map((f) => f.box) };
  };
  // 800x600 -> 416x312 (input 416x320), then 640x480: the 30 px face is 15.6 px at 416 (< 32), added; the
  // 200 px copy (104 px at 416) is not.
  const both = await detectWith({});
  assert.deepEqual(both.sizes, [
    [320, 416],
    [480, 640],
  ]);
  assert.deepEqual(both.boxes, [
    { x: 100, y: 100, width: 200, height: 200 },
    { x: 500, y: 400, width: 30, height: 30 },
  ]);
  // The fine pass adds faces under 32 / 0.52 = 61.5 px: a minimum of 62 px leaves it nothing to add.
  const skipped = await detectWith({ minSize: 62 });
  assert.deepEqual(skipped.sizes, [[320, 416]]);
  assert.deepEqual((await detectWith({ minSize: 61 })).sizes.length, 2);
  assert.deepEqual((await detectWith({ finePass: false })).sizes, [[320, 416]]);

  // Through CnnBoxDetector (what every surface runs) the minimum applies to the framed box, whose side may
  // exceed the square root of the area by up to 10% (framing scale 1.2 here): the fine pass is skipped only
  // when 1.1 x 1.2 x 61.5 = 81.2 px is under the minimum, so the web page's 64 px skips it at 1 : 1.
  const viaBoxes = async (minSize: number, scale: string) => {
    const { backend, sizes } = recordingBackend(800);
    const metadata = detectorMetadata({ ...fine, 'moodlens.haar_framing': `0,0,${scale}` });
    const boxes = new CnnBoxDetector(CnnFaceDetector.create({ backend, metadata }));
    const found = await boxes.detect(image, { minSize });
    await boxes.close();
    return { sizes, sides: found.map((b) => b.width) };
  };
  assert.deepEqual(await viaBoxes(82, '1.2'), { sizes: [[320, 416]], sides: [240] });
  assert.deepEqual(await viaBoxes(30, '1.2'), {
    sizes: [
      [320, 416],
      [480, 640],
    ],
    sides: [240, 36],
  });
  assert.equal((await viaBoxes(81, '1.2')).sizes.length, 2);
  assert.equal((await viaBoxes(64, '1')).sizes.length, 2);
  assert.equal((await viaBoxes(68, '1')).sizes.length, 1);

  // fineLongSide sets the second pass's size (the CLI's --fine-long-side), 0 turns it off; it must exceed the
  // first pass's, and a model without a fine pass has none to set.
  const sizesWith = async (fineLongSide: number) => {
    const { backend, sizes } = recordingBackend(800);
    const detector = CnnFaceDetector.create({ backend, metadata: detectorMetadata(fine), fineLongSide });
    await detector.detect(image);
    await detector.close();
    return { sizes, finePass: detector.finePass };
  };
  assert.deepEqual(await sizesWith(1024), {
    sizes: [
      [320, 416],
      [768, 1024],
    ],
    finePass: { longSide: 1024, maxFace: 32 },
  });
  assert.deepEqual(await sizesWith(0), { sizes: [[320, 416]], finePass: undefined });
  const { backend } = recordingBackend(800);
  for (const bad of [416, 300, 700.5]) {
    assert.throws(
      () => CnnFaceDetector.create({ backend, metadata: detectorMetadata(fine), fineLongSide: bad }),
      {
        code: 'MOODLENS_ERR_INVALID_ARGUMENT',
      },
    );
  }
  assert.throws(() => CnnFaceDetector.create({ backend, metadata: detectorMetadata(), fineLongSide: 1024 }), {
    code: 'MOODLENS_ERR_MODEL_LOAD',
  });
});

void test('a model with a coarse pass adds only the faces too large for the first pass, unless told not to run it', async () => {
  const coarse = { 'moodlens.coarse_long_side': '256', 'moodlens.coarse_min_face': '250' };
  assert.deepEqual(parseCnnDetectorMetadata(detectorMetadata(coarse), 'm').coarsePass, {
    longSide: 256,
    minFace: 250,
  });
  assert.equal(parseCnnDetectorMetadata(detectorMetadata(), 'm').coarsePass, undefined);
  const bads: Record<string, string>[] = [
    { 'moodlens.coarse_long_side': '256' },
    { 'moodlens.coarse_min_face': '250' },
    { ...coarse, 'moodlens.coarse_long_side': '416' },
    { ...coarse, 'moodlens.coarse_long_side': '16' },
    { ...coarse, 'moodlens.coarse_min_face': '-1' },
  ];
  for (const bad of bads) {
    assert.throws(() => parseCnnDetectorMetadata(detectorMetadata(bad), 'm'), {
      code: 'MOODLENS_ERR_MODEL_LOAD',
    });
  }
  // The first pass (long side 416) finds nothing; the coarse pass (256) finds a 700x560 face, 325 px at 416
  // (over 250: added), and a 100 px one, 52 px at 416 (the first pass's to find: not added).
  const image = createImage(800, 600, 3);
  const detectWith = async (options: { coarsePass?: boolean }, maxSize?: number) => {
    const sizes: number[][] = [];
    const backend: CnnDetectorBackend = {
      run: (_input, height, width) => {
        sizes.push([height, width]);
        const scale = Math.max(height, width) >= 400 ? 416 / 800 : 256 / 800;
        const found =
          scale < 0.5
            ? [
                [50, 20, 750, 580],
                [600, 50, 700, 150],
              ]
            : [];
        return Promise.resolve({
          scores: Float32Array.from(found.map(() => 0.9)),
          boxes: Float32Array.from(found.flat().map((v) => v * scale)),
          kps: new Float32Array(10 * found.length),
        });
      },
      dispose: () => Promise.resolve(),
    };
    const detector = CnnFaceDetector.create({ backend, metadata: detectorMetadata(coarse) });
    if (maxSize !== undefined) {
      // through CnnBoxDetector, whose maxSize applies to the framed box
      const framed = await new CnnBoxDetector(detector, options).detect(image, { maxSize });
      await detector.close();
      return { sizes, boxes: framed.map(({ x, y, width, height }) => ({ x, y, width, height })) };
    }
    const faces = await detector.detect(image, options);
    await detector.close();
    return { sizes, boxes: faces.map((f) => f.box) };
  };
  const found = await detectWith({});
  assert.deepEqual(found.sizes, [
    [320, 416],
    [192, 256],
  ]);
  assert.equal(found.boxes.length, 1);
  const [box] = found.boxes;
  assert.ok(
    box !== undefined && Math.abs(box.x - 50) < 1 && Math.abs(box.width - 700) < 1,
    JSON.stringify(box),
  );
  assert.deepEqual(await detectWith({ coarsePass: false }), { sizes: [[320, 416]], boxes: [] });
  // A maximum size under every face the coarse pass can add (over 250 px at 416: 481 px here) skips it; a
  // larger one keeps it, and the 700x560 face is kept or dropped by its framed side, 630 px.
  assert.deepEqual(await detectWith({}, 480), { sizes: [[320, 416]], boxes: [] });
  const under = await detectWith({}, 600);
  assert.deepEqual(under, {
    sizes: [
      [320, 416],
      [192, 256],
    ],
    boxes: [],
  });
  const kept = await detectWith({}, 640);
  assert.equal(kept.boxes.length, 1);
  assert.equal(kept.sizes.length, 2);
});

void test('mirroring an image reverses each row, all channels together', () => {
  const rgb = createImage(
    3,
    2,
    3,
    Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]),
  );
  assert.deepEqual(
    Array.from(mirrorImage(rgb).data),
    [7, 8, 9, 4, 5, 6, 1, 2, 3, 16, 17, 18, 13, 14, 15, 10, 11, 12],
  );
  const gray = createImage(2, 1, 1, Uint8Array.from([0, 255]));
  assert.deepEqual(Array.from(mirrorImage(mirrorImage(gray)).data), [0, 255]);
});

void test('the mirror view fuses the two views as training does: pairs by their mean, lone faces at half', async () => {
  // As training/tests/test_detector.py's mirror test: a 100 px photo whose right column is marked, so the
  // backend knows a mirror image (marked on the left). The photo view has a face at x 5-35 (0.9) and a
  // false face at x 60-80 (0.7); the mirror view the face only, at x 63-93 (0.7), i.e. 7-37 mapped back.
  const pixels = new Uint8Array(100 * 100 * 3);
  for (let y = 0; y < 100; y++) pixels.fill(255, (y * 100 + 99) * 3, (y * 100 + 100) * 3);
  const image = createImage(100, 100, 3, pixels);
  const kps = [10, 40, 30, 40, 20, 50, 12, 60, 28, 60];
  const scale = 416 / 100;
  const views: boolean[] = [];
  const backend: CnnDetectorBackend = {
    run: (input) => {
      const mirrored = input[0] > 0;
      views.push(mirrored);
      const found = mirrored
        ? [{ score: 0.7, box: [63, 31, 93, 71], kps: kps.map((v, i) => (i % 2 === 0 ? v + 55 : v)) }]
        : [
            { score: 0.9, box: [5, 30, 35, 70], kps },
            { score: 0.7, box: [60, 10, 80, 30], kps: kps.map((v) => v + 55) },
          ];
      return Promise.resolve({
        scores: Float32Array.from(found.map((f) => f.score)),
        boxes: Float32Array.from(found.flatMap((f) => f.box.map((v) => v * scale))),
        kps: Float32Array.from(found.flatMap((f) => f.kps.map((v) => v * scale))),
      });
    },
    dispose: () => Promise.resolve(),
  };
  const metadata = detectorMetadata({ 'moodlens.mirror_score_threshold': '0.4' });
  assert.equal(parseCnnDetectorMetadata(metadata, 'm').mirrorScoreThreshold, 0.4);
  assert.equal(CnnFaceDetector.create({ backend, metadata }).defaults.mirror, false); // off unless asked
  const detector = CnnFaceDetector.create({ backend, metadata, mirror: true });
  assert.equal(detector.defaults.scoreThreshold, 0.4);
  const [face, ...rest] = await detector.detect(image);
  assert.deepEqual(views, [false, true]);
  assert.equal(rest.length, 0); // the false face alone: 0.35, under 0.4
  const close = (a: number, b: number) => Math.abs(a - b) < 1e-4;
  assert.ok(close(face.score, 0.8), String(face.score));
  const c = face.corners;
  assert.ok(close(c.x1, 6) && close(c.y1, 30.5) && close(c.x2, 36) && close(c.y2, 70.5), JSON.stringify(c));
  // the mirror view's keypoints come back with left and right swapped (see the Python test)
  const xs = face.keypoints.map(([x]) => x);
  [12.5, 32.5, 22.5, 14.5, 30.5].forEach((x, i) => assert.ok(close(xs[i], x), JSON.stringify(xs)));
  assert.equal((await detector.detect(image, { scoreThreshold: 0.3 })).length, 2);
  // without the mirror view: one view, and the model's own threshold (0.5) for it
  views.length = 0;
  assert.deepEqual(
    (await detector.detect(image, { mirror: false })).map((f) => f.score),
    [Float32Array.from([0.9])[0], Float32Array.from([0.7])[0]],
  );
  assert.deepEqual(views, [false]);
  await detector.close();

  // A model measured without it refuses the mirror view, naming the key.
  const plain = CnnFaceDetector.create({ backend, metadata: detectorMetadata() });
  await assert.rejects(plain.detect(image, { mirror: true }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'MOODLENS_ERR_INVALID_ARGUMENT');
    assert.match(error.message, /moodlens\.mirror_score_threshold/);
    return true;
  });
  assert.throws(() => CnnFaceDetector.create({ backend, metadata: detectorMetadata(), mirror: true }), {
    code: 'MOODLENS_ERR_INVALID_ARGUMENT',
  });
  assert.throws(
    () => parseCnnDetectorMetadata(detectorMetadata({ 'moodlens.mirror_score_threshold': '2' }), 'm'),
    {
      code: 'MOODLENS_ERR_MODEL_LOAD',
    },
  );
});

void test('on the astronaut photo the learned detector finds one face, on the Haar box', async () => {
  const detector = await loadCnnFaceDetector(MODEL);
  try {
    assert.equal(detector.longSide, 416);
    assert.equal(detector.defaults.scoreThreshold, detector.info.scoreThreshold);
    const faces = await detector.detect(await readImage(ASTRONAUT));
    assert.equal(faces.length, 1);
    const [face] = faces;
    const iou = iouCorners(corners(face.box), corners(ASTRONAUT_BOX));
    assert.ok(iou >= 0.4, `IoU ${iou} with the Haar box`);
    assert.ok(face.score >= detector.info.scoreThreshold && face.score <= 1);
    // The keypoints in the box, eyes above the nose above the mouth, the image-left eye on the left.
    const [eyeL, eyeR, nose, mouthL, mouthR] = face.keypoints;
    for (const [x, y] of face.keypoints) {
      assert.ok(x > face.corners.x1 && x < face.corners.x2 && y > face.corners.y1 && y < face.corners.y2);
    }
    assert.ok(eyeL[0] < eyeR[0] && mouthL[0] < mouthR[0]);
    assert.ok(Math.max(eyeL[1], eyeR[1]) < nose[1] && nose[1] < Math.min(mouthL[1], mouthR[1]));
  } finally {
    await detector.close();
  }
  await assert.rejects(detector.detect(createImage(8, 8, 1)), /closed/);
});

void test('the library entry gives the learned detector as the README shows: framed boxes with scores, in the pipeline', async () => {
  const lib = await import('../src/index.js');
  assert.equal(lib.DEFAULT_DETECTOR, 'cnn');
  const image = await lib.readImage(ASTRONAUT);
  const detector = new lib.CnnBoxDetector(await lib.loadCnnFaceDetector());
  const classifier = await lib.loadEmotionClassifier();
  try {
    const boxes = await detector.detect(image);
    assert.equal(boxes.length, 1);
    assert.ok(iouCorners(corners(boxes[0]), corners(ASTRONAUT_BOX)) >= 0.5);
    const faces = await new lib.EmotionPipeline(detector, classifier).analyze(image);
    assert.equal(faces.length, 1);
    assert.equal(faces[0].score, boxes[0].score);
    assert.equal(faces[0].emotion.label, 'happy');
  } finally {
    await detector.close();
    await classifier.dispose();
  }
});

void test('a model that is not a face detector is refused with MOODLENS_ERR_MODEL_LOAD', async () => {
  await assert.rejects(loadCnnFaceDetector(EMOTION), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'MOODLENS_ERR_MODEL_LOAD');
    assert.match(error.message, /not a MoodLens face detector/);
    return true;
  });
  await assert.rejects(loadCnnFaceDetector(ASTRONAUT), { code: 'MOODLENS_ERR_MODEL_LOAD' });
  await assert.rejects(loadCnnFaceDetector(join(REPO_ROOT, 'no-such.onnx')), {
    code: 'MOODLENS_ERR_MODEL_LOAD',
  });
});

void test('moodlens evaluate-detector on photos cut from the astronaut with known boxes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-evaldet-'));
  try {
    const photos = join(dir, 'photos');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(photos);
    const astronaut = await readImage(ASTRONAUT);
    const shifted = (dx: number, dy: number): number[] => [
      ASTRONAUT_BOX.x - dx,
      ASTRONAUT_BOX.y - dy,
      95,
      95,
    ];
    // a, b: the face, labelled; c: the face, labelled in the wrong place (a miss and a false detection);
    // d: no face, labelled as none; e: no face, with a face labelled (a miss).
    await writeImage(join(photos, 'a.png'), crop(astronaut, 100, 0, 300, 300));
    await writeImage(join(photos, 'b.png'), crop(astronaut, 60, 20, 320, 260));
    await writeImage(join(photos, 'c.png'), crop(astronaut, 120, 30, 280, 240));
    await writeImage(join(photos, 'd.png'), crop(astronaut, 0, 330, 180, 180));
    await writeImage(join(photos, 'e.png'), crop(astronaut, 0, 330, 180, 180));
    const boxes = {
      'a.png': [shifted(100, 0)],
      'b.png': [shifted(60, 20)],
      'c.png': [[0, 0, 40, 40]],
      'd.png': [],
      'e.png': [[20, 20, 60, 60]],
    };
    const boxesPath = join(dir, 'boxes.json');
    await writeFile(boxesPath, JSON.stringify(boxes));
    // 4 labelled faces, 3 detections (a, b, c), 2 of them on a labelled face.
    const cnn = await run(['evaluate-detector', photos, '--boxes', boxesPath, '--model', MODEL, '--json']);
    assert.equal(cnn.code, 0, cnn.stderr);
    // the default minimum score is the model's own threshold (chosen on val when it was exported)
    const modelThreshold = (await loadCnnFaceDetector(MODEL)).info.scoreThreshold;
    const report = JSON.parse(cnn.stdout) as Record<string, unknown>;
    assert.deepEqual(
      { ...report, ap: undefined, perImage: undefined },
      {
        detector: 'cnn',
        model: MODEL,
        iou: 0.5,
        minScore: modelThreshold,
        minFace: 0,
        images: 5,
        faces: 4,
        detections: 3,
        truePositives: 2,
        falsePositives: 1,
        recall: 0.5,
        precision: 2 / 3,
        ap: undefined,
        perImage: undefined,
      },
    );
    // per image: counts, the missed faces, and the false detections with their scores
    const perImage = report.perImage as {
      file: string;
      faces: number;
      detections: number;
      truePositives: number;
      falseDetections: { box: number[]; score: number }[];
      missedFaces: number[][];
    }[];
    assert.deepEqual(
      perImage.map(({ falseDetections, ...rest }) => ({ ...rest, falseDetections: falseDetections.length })),
      [
        { file: 'a.png', faces: 1, detections: 1, truePositives: 1, falseDetections: 0, missedFaces: [] },
        { file: 'b.png', faces: 1, detections: 1, truePositives: 1, falseDetections: 0, missedFaces: [] },
        {
          file: 'c.png',
          faces: 1,
          detections: 1,
          truePositives: 0,
          falseDetections: 1,
          missedFaces: [[0, 0, 40, 40]],
        },
        { file: 'd.png', faces: 0, detections: 0, truePositives: 0, falseDetections: 0, missedFaces: [] },
        {
          file: 'e.png',
          faces: 1,
          detections: 0,
          truePositives: 0,
          falseDetections: 0,
          missedFaces: [[20, 20, 60, 60]],
        },
      ],
    );
    // c's false detection is the astronaut's face (c is cut at 120, 30), scored over the threshold
    const [falseFace] = perImage[2].falseDetections;
    assert.ok(falseFace.score >= modelThreshold);
    assert.ok(Math.abs(falseFace.box[0] - (ASTRONAUT_BOX.x - 120)) < 25, JSON.stringify(falseFace));
    assert.ok(Math.abs(falseFace.box[1] - (ASTRONAUT_BOX.y - 30)) < 25, JSON.stringify(falseFace));
    assert.ok(typeof report.ap === 'number' && report.ap > 0 && report.ap <= 0.5);

    // Every labelled face (95 px) under --min-face: none counts, and the detections on them count neither way
    // (only c's, on the face labelled elsewhere, stays a false one).
    const small = await run([
      'evaluate-detector',
      photos,
      '--boxes',
      boxesPath,
      '--model',
      MODEL,
      '--min-face',
      '100',
      '--json',
    ]);
    assert.equal(small.code, 0, small.stderr);
    const ignoring = JSON.parse(small.stdout) as { faces: number; minFace: number; truePositives: number };
    assert.equal(ignoring.minFace, 100);
    assert.equal(ignoring.faces, 0);
    assert.equal(ignoring.truePositives, 0);
    const badFace = await run(['evaluate-detector', photos, '--boxes', boxesPath, '--min-face', '-1']);
    assert.equal(badFace.code, 2);
    assert.match(badFace.stderr, /--min-face/);

    const haar = await run(['evaluate-detector', photos, '--boxes', boxesPath, '--detector', 'haar']);
    assert.equal(haar.code, 0, haar.stderr);
    assert.match(haar.stdout, /recall 50\.0% \(2\/4\), precision 66\.7% \(2\/3\)/);
    assert.match(
      haar.stdout,
      /2 image\(s\) with errors, most first: c\.png \(1 false, 1 missed\), e\.png \(0 false, 1 missed\) \(--json/,
    );

    // Coded errors: no folder, bad JSON, an image without an entry; usage errors exit 2.
    const noDir = await run([
      'evaluate-detector',
      join(dir, 'none'),
      '--boxes',
      boxesPath,
      '--detector',
      'haar',
    ]);
    assert.equal(noDir.code, 1);
    assert.match(noDir.stderr, /MOODLENS_ERR_FILE_NOT_FOUND/);
    await writeFile(join(dir, 'bad.json'), '{"a.png": [[1, 2');
    const badJson = await run([
      'evaluate-detector',
      photos,
      '--boxes',
      join(dir, 'bad.json'),
      '--detector',
      'haar',
    ]);
    assert.equal(badJson.code, 1);
    assert.match(badJson.stderr, /not JSON \(MOODLENS_ERR_INVALID_DATASET\)/);
    await writeFile(join(dir, 'short.json'), JSON.stringify({ ...boxes, 'e.png': undefined }));
    const missing = await run([
      'evaluate-detector',
      photos,
      '--boxes',
      join(dir, 'short.json'),
      '--detector',
      'haar',
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /have no entry in the boxes file: e\.png/);
    // Without --model the shipped detector (models/detector/face-detector.onnx) is measured.
    const shipped = await run(['evaluate-detector', photos, '--boxes', boxesPath, '--json']);
    assert.equal(shipped.code, 0, shipped.stderr);
    const badIou = await run([
      'evaluate-detector',
      photos,
      '--boxes',
      boxesPath,
      '--detector',
      'haar',
      '--iou',
      '0',
    ]);
    assert.equal(badIou.code, 2);
    const help = await run(['evaluate-detector', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /"group\.jpg": \[\[120, 40, 64, 70\]/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
