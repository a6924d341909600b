/**
 * The Haar engine's parts on their own: XML and cascade reading, the pyramid, grouping, bit-exact
 * resize and rotated integrals against OpenCV, every cascade Debian ships against OpenCV, and the
 * worker-thread detector against the single-threaded one.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createImage, type GrayImage } from '../src/core/image.js';
import { parseCascadeXml } from '../src/detect/cascade.js';
import { HaarFaceDetector } from '../src/detect/detector.js';
import { groupRectangles } from '../src/detect/group.js';
import { tiltedIntegralInto } from '../src/detect/integral.js';
import { pyramidLevels } from '../src/detect/scales.js';
import { parseXml } from '../src/detect/xml.js';
import { resizeGrayLinearExact } from '../src/image/resize.js';
import { DEFAULT_CASCADE_PATH } from '../src/io/node/cascade-file.js';
import { ParallelFaceDetector } from '../src/io/node/parallel-detector.js';
import { loadAstronaut, mulberry32, writeGrayPng } from './support/fer-scenes.js';
import { openCvGate, PYTHON, runOpenCv } from './support/opencv.js';

const run = promisify(execFile);
const CASCADE_DIRS = ['/usr/share/opencv4/haarcascades', '/usr/share/opencv4/lbpcascades'];

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function randomGray(width: number, height: number, seed: number): GrayImage {
  const next = mulberry32(seed);
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(next() * 256);
  return createImage(width, height, 1, data);
}

async function gate(t: { skip: (m: string) => void }): Promise<boolean> {
  const g = await openCvGate();
  if (g.action === 'fail') assert.fail(g.reason);
  if (g.action === 'skip') {
    t.skip(g.reason);
    return false;
  }
  return true;
}

void test('parseXml reads elements, attributes and text, skipping comments and declarations', () => {
  const doc = parseXml('<?xml version="1.0"?><!-- c <x> --><a k="v &amp; w"><b>1 2</b><c/>t&lt;</a>');
  const a = doc.children[0];
  assert.equal(a.name, 'a');
  assert.equal(a.attributes.k, 'v & w');
  assert.deepEqual(
    a.children.map((c) => c.name),
    ['b', 'c'],
  );
  assert.equal(a.children[0].text, '1 2');
  assert.equal(a.text, 't<');
  assert.throws(() => parseXml('<a><b></a>'), /does not match/);
  assert.throws(() => parseXml('<a>'), /Unclosed/);
});

void test('the shipped cascade parses to 25 stages, 2913 stumps and a 24x24 window', () => {
  const cascade = parseCascadeXml(readFileSync(DEFAULT_CASCADE_PATH, 'utf8'));
  assert.equal(cascade.featureType, 'HAAR');
  assert.equal(cascade.windowWidth, 24);
  assert.equal(cascade.windowHeight, 24);
  assert.equal(cascade.stageThreshold.length, 25);
  assert.equal(cascade.nodeFeature.length, 2913);
  assert.equal(cascade.maxNodesPerTree, 1);
  // OpenCV subtracts 1e-5 (as float32) from the first stage's -5.0425500869750977.
  assert.equal(cascade.stageThreshold[0], Math.fround(Math.fround(-5.0425500869750977) - Math.fround(1e-5)));
});

void test('bad cascades are refused with MOODLENS_ERR_INVALID_CASCADE naming the source', () => {
  const bad: Array<[string, RegExp]> = [
    ['not xml at all <', /not well-formed|no <opencv_storage>/],
    ['<opencv_storage></opencv_storage>', /no <opencv_storage>|root/],
    [
      '<opencv_storage><c type_id="opencv-haar-classifier"><size>20 20</size></c></opencv_storage>',
      /pre-2\.0/,
    ],
    [
      '<opencv_storage><cascade><stageType>BOOST</stageType><featureType>HOG</featureType></cascade></opencv_storage>',
      /HOG is not supported/,
    ],
  ];
  for (const [xml, message] of bad) {
    assert.throws(
      () => parseCascadeXml(xml, 'bad.xml'),
      (error: Error & { code?: string }) =>
        error.name === 'MoodLensError' &&
        error.code === 'MOODLENS_ERR_INVALID_CASCADE' &&
        error.message.includes('bad.xml') &&
        message.test(error.message),
    );
  }
  // A cascade whose node names a feature that does not exist.
  const broken = readFileSync(DEFAULT_CASCADE_PATH, 'utf8').replace(
    /<internalNodes>\s*0 -1 0 /,
    '<internalNodes>0 -1 99999 ',
  );
  assert.throws(() => parseCascadeXml(broken, 'broken.xml'), /feature that does not exist/);
});

void test('pyramidLevels follows OpenCV: float scales, stride 2 below scale 2, min/max filters', () => {
  const levels = pyramidLevels(640, 480, 24, 24, 1.1, 0, 0);
  assert.equal(levels[0].scale, 1);
  assert.deepEqual([levels[0].width, levels[0].height, levels[0].step], [640, 480, 2]);
  assert.equal(levels[1].scale, Math.fround(1.1));
  assert.ok(levels.every((l) => l.step === (l.scale >= 2 ? 1 : 2)));
  const last = levels[levels.length - 1];
  assert.ok(last.windowHeight <= 480 && Math.round(24 * last.scale * 1.1) > 480);
  const filtered = pyramidLevels(640, 480, 24, 24, 1.1, 60, 120);
  assert.ok(filtered.length > 0 && filtered.every((l) => l.windowWidth >= 60 && l.windowWidth <= 120));
  // minSize == maxSize that no level hits: OpenCV keeps the single closest level.
  const single = pyramidLevels(640, 480, 24, 24, 1.1, 61, 61);
  assert.equal(single.length, 1);
  assert.ok(Math.abs(single[0].windowWidth - 61) <= 3);
  assert.deepEqual(pyramidLevels(20, 20, 24, 24, 1.1, 0, 0), []);
});

void test('groupRectangles merges neighbours, drops thin groups and boxes inside stronger ones', () => {
  const face = (dx: number, dy: number, s = 100) => ({ x: 50 + dx, y: 40 + dy, width: s, height: s });
  const cluster = [face(0, 0), face(2, 1), face(-2, 0), face(1, -1)];
  assert.deepEqual(groupRectangles(cluster, 3), [{ x: 50, y: 40, width: 100, height: 100, neighbors: 4 }]);
  assert.deepEqual(groupRectangles(cluster.slice(0, 3), 3), []);
  // A small, weakly supported group inside a big, well supported one disappears.
  const inner = [0, 1, 2, 3].map((d) => ({ x: 80 + d, y: 70, width: 30, height: 30 }));
  const outer = Array.from({ length: 8 }, (_, d) => face(d % 3, 0));
  const grouped = groupRectangles([...outer, ...inner], 3);
  assert.equal(grouped.length, 1);
  assert.equal(grouped[0].neighbors, 8);
  assert.equal(groupRectangles(cluster, 0).length, 4);
});

void test('resize and the rotated integral match OpenCV bit for bit', async (t) => {
  if (!(await gate(t))) return;
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-resize-'));
  try {
    const src = randomGray(157, 113, 7);
    await writeGrayPng(src, join(dir, 'src.png'));
    const sizes: Array<[number, number]> = [
      [143, 103],
      [100, 71],
      [78, 56],
      [31, 23],
      [157, 113],
    ];
    const py = [
      'import cv2, sys, json, numpy as np',
      `g = cv2.imread(${JSON.stringify(join(dir, 'src.png'))}, cv2.IMREAD_GRAYSCALE)`,
      `sizes = ${JSON.stringify(sizes)}`,
      'out = [cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR_EXACT).ravel().tolist() for w, h in sizes]',
      's, q, tl = cv2.integral3(g[:40, :50], sdepth=cv2.CV_32S, sqdepth=cv2.CV_64F)',
      'print(json.dumps({"resized": out, "tilted": tl.ravel().tolist()}))',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', py], { maxBuffer: 64 << 20 });
    const reference = JSON.parse(stdout) as { resized: number[][]; tilted: number[] };
    sizes.forEach(([w, h], i) => {
      const ours = resizeGrayLinearExact(src, w, h);
      assert.deepEqual(Array.from(ours.data), reference.resized[i], `resize to ${w}x${h}`);
    });
    const crop = new Uint8Array(50 * 40);
    for (let y = 0; y < 40; y++) crop.set(src.data.subarray(y * 157, y * 157 + 50), y * 50);
    const tilted = new Int32Array(51 * 41);
    tiltedIntegralInto(crop, 50, 40, 51, tilted);
    assert.deepEqual(Array.from(tilted), reference.tilted);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('every Haar and LBP cascade Debian ships gives OpenCV raw hits exactly (trees, tilted, LBP)', async (t) => {
  if (!(await gate(t))) return;
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-cascades-'));
  try {
    const { gray } = await loadAstronaut();
    const small = resizeGrayLinearExact(gray, 256, 256); // keeps the run short; still finds the face
    const image = join(dir, 'astronaut-256.png');
    await writeGrayPng(small, image);
    const cascades = CASCADE_DIRS.flatMap((d) =>
      readdirSync(d)
        .filter((f) => f.endsWith('.xml'))
        .map((f) => join(d, f)),
    ).filter((f) => !readFileSync(f, 'utf8').includes('opencv-haar-classifier'));
    assert.ok(cascades.length >= 20, `found ${cascades.length} cascades`);
    for (const cascade of cascades) {
      const reference = await runOpenCv({ cascade, images: [image], minNeighbors: 0 });
      const xml = readFileSync(cascade, 'utf8');
      const theirs = reference.results[0].boxes.map((b) => b.join(',')).sort();
      // Both engines: the WebAssembly kernel (stump cascades) and the TypeScript path.
      for (const engine of ['wasm', 'js'] as const) {
        const detector = HaarFaceDetector.fromXml(xml, cascade, engine);
        const ours = detector
          .detect(small, { minNeighbors: 0 })
          .map((b) => [b.x, b.y, b.width, b.height].join(','))
          .sort();
        assert.deepEqual(ours, theirs, `${cascade} (${engine} engine)`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('stump cascades get the WebAssembly kernel; tree cascades use the TypeScript path', () => {
  const stumps = HaarFaceDetector.fromXml(readFileSync(DEFAULT_CASCADE_PATH, 'utf8'));
  assert.equal(stumps.engine, 'wasm');
  assert.equal(HaarFaceDetector.fromXml(readFileSync(DEFAULT_CASCADE_PATH, 'utf8'), 'x', 'js').engine, 'js');
  const tree = '/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml';
  if (CASCADE_DIRS.length > 0 && readdirSafe(CASCADE_DIRS[0]).includes('haarcascade_frontalface_alt2.xml')) {
    assert.equal(HaarFaceDetector.fromXml(readFileSync(tree, 'utf8')).engine, 'js');
  }
});

void test('the worker-thread detector answers exactly as the single-threaded one', async () => {
  const { rgb } = await loadAstronaut();
  const single = HaarFaceDetector.fromXml(readFileSync(DEFAULT_CASCADE_PATH, 'utf8'));
  const parallel = await ParallelFaceDetector.create({ threads: 3 });
  try {
    for (const options of [{}, { minNeighbors: 0 }, { scaleFactor: 1.2, minSize: 40 }]) {
      assert.deepEqual(await parallel.detect(rgb, options), single.detect(rgb, options));
    }
    // The astronaut's face: one box around x 177-272, y 66-161 (OpenCV's answer).
    assert.deepEqual(await parallel.detect(rgb), [{ x: 177, y: 66, width: 95, height: 95 }]);
  } finally {
    await parallel.close();
  }
});
