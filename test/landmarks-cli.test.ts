/**
 * `moodlens landmarks` and the landmark options of `moodlens analyze`, end to end on the astronaut photo,
 * with the fixture models (test/fixtures: the untrained landmark model, same graph and metadata as the
 * shipped one, and the tiny emotion model). What they check is plumbing: shapes, flags, fallbacks, files.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_DETECTOR } from '../src/detect/detector-kind.js';
import { hasDefaultLandmarkModel } from '../src/io/node/landmark-model.js';
import { readImage } from '../src/io/node/read-image.js';
import { ASTRONAUT_HAAR_BOX, assertAstronautBox, boxText } from './support/astronaut-face.js';
import { runCaptured as run } from './support/cli.js';
import { REPO_ROOT } from './support/opencv.js';

const ASTRONAUT = join(REPO_ROOT, 'examples', 'astronaut.png');
const LANDMARKS = join(REPO_ROOT, 'test', 'fixtures', 'landmarks-untrained.onnx');
const EMOTION = join(REPO_ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
/** Haar's box of her face (exact under --detector haar; other detectors' boxes are compared by overlap). */
const ASTRONAUT_BOX = ASTRONAUT_HAAR_BOX;

interface LandmarksEntry {
  file: string;
  width: number;
  height: number;
  faces: {
    box: typeof ASTRONAUT_BOX;
    landmarks: [number, number][];
    reliable: boolean;
    problems?: string[];
  }[];
}

interface AnalyzeEntry {
  file: string;
  output?: string;
  faces: {
    box: typeof ASTRONAUT_BOX;
    emotion: { label: string; confidence: number; scores: Record<string, number> };
    landmarks?: [number, number][];
    alignment?: { method: string; reason?: string; angle?: number; scale?: number };
  }[];
}

const isPoint = (p: unknown): boolean =>
  Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number' && Number.isFinite(v));

void test('landmarks --json: one entry per image, 68 [x, y] per face in image pixels, with the verdict', async () => {
  const result = await run([
    'landmarks',
    '--json',
    '--model',
    LANDMARKS,
    ASTRONAUT,
    join(REPO_ROOT, 'nope.png'),
  ]);
  assert.equal(result.code, 1, result.stderr);
  const [entry, failed] = JSON.parse(result.stdout) as [
    LandmarksEntry,
    { file: string; error: { code: string } },
  ];
  assert.deepEqual(Object.keys(entry), ['file', 'width', 'height', 'faces']);
  assert.deepEqual([entry.file, entry.width, entry.height], [ASTRONAUT, 512, 512]);
  assert.equal(entry.faces.length, 1);
  const [face] = entry.faces;
  assertAstronautBox(face.box);
  assert.equal(face.landmarks.length, 68);
  assert.ok(face.landmarks.every(isPoint));
  // Near the face: the model's outputs lie in its crop square around the box (for Haar's 95 px box:
  // 40 px left of it to 40 right, 30 above it to 59 below).
  const { x: bx, y: by, width: side } = face.box;
  const reach = side / ASTRONAUT_BOX.width;
  for (const [x, y] of face.landmarks) {
    assert.ok(
      x > bx - 40 * reach && x < bx + 135 * reach && y > by - 30 * reach && y < by + 154 * reach,
      `point ${x},${y} outside the crop square of ${JSON.stringify(face.box)}`,
    );
  }
  // The untrained model's points are not a face: flagged, with the failed checks named.
  assert.equal(face.reliable, false);
  assert.ok((face.problems ?? []).length > 0);
  assert.equal(failed.error.code, 'MOODLENS_ERR_FILE_NOT_FOUND');

  const text = await run(['landmarks', '--model', LANDMARKS, ASTRONAUT]);
  assert.equal(text.code, 0);
  assert.match(
    text.stdout,
    new RegExp(
      `astronaut\\.png: 1 face \\(512x512\\)\\n {2}face 1 at ${boxText(face.box)}: 68 points, unreliable \\(`,
    ),
  );
  assert.match(text.stdout, /\n {4}jaw: +(-?[\d.]+,-?[\d.]+ ){16}-?[\d.]+,-?[\d.]+\n/);
  assert.match(text.stdout, /\n {4}innerLips: /);
});

void test('landmarks: a model that is not a landmark model, a missing shipped model, usage errors', async () => {
  const emotion = await run(['landmarks', '--model', EMOTION, ASTRONAUT]);
  assert.equal(emotion.code, 1);
  assert.match(emotion.stderr, /tiny-emotion\.onnx: .*it is an emotion model \(MOODLENS_ERR_MODEL_LOAD\)/);
  if (!hasDefaultLandmarkModel()) {
    const missing = await run(['landmarks', ASTRONAUT]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /needs the landmark model, which is not installed at .*landmarks\.onnx; give one with --model FILE/,
    );
  }
  assert.equal((await run(['landmarks'])).code, 2);
  assert.equal((await run(['landmarks', ASTRONAUT, '--model', ''])).code, 2);
  const help = await run(['landmarks', '--help']);
  assert.equal(help.code, 0);
  for (const flag of ['--json', '--model', '--min-neighbors', '--threads'])
    assert.ok(help.stdout.includes(flag), flag);
  assert.match((await run(['--help'])).stdout, /landmarks +Find faces and their 68 landmarks/);
});

void test('analyze with a landmark model: landmarks and alignment in --json; --no-align is the box crop', async () => {
  // The untrained model's points fail the false-face check: without --keep-all-faces the face is dropped.
  const dropped = await run([
    'analyze',
    ASTRONAUT,
    '--json',
    '--no-images',
    '--model',
    EMOTION,
    '--landmark-model',
    LANDMARKS,
  ]);
  assert.equal(dropped.code, 0, dropped.stderr);
  const [droppedEntry] = JSON.parse(dropped.stdout) as (AnalyzeEntry & {
    rejected: { box: unknown; problems: string[] }[];
  })[];
  assert.deepEqual(droppedEntry.faces, []);
  const box = droppedEntry.rejected[0].box as typeof ASTRONAUT_BOX;
  assertAstronautBox(box);
  assert.ok(droppedEntry.rejected[0].problems.length > 0);

  const base = ['analyze', ASTRONAUT, '--json', '--no-images', '--model', EMOTION, '--keep-all-faces'];
  const aligned = await run([...base, '--landmark-model', LANDMARKS]);
  assert.equal(aligned.code, 0, aligned.stderr);
  const [entry] = JSON.parse(aligned.stdout) as AnalyzeEntry[];
  const [face] = entry.faces;
  assert.deepEqual(face.box, box, 'the box the check rejected, kept');
  assert.equal(face.landmarks?.length, 68);
  assert.ok(face.landmarks?.every(isPoint));
  // The untrained model's points fail the checks: the plain box crop, and why.
  assert.equal(face.alignment?.method, 'box');
  assert.match(face.alignment?.reason ?? '', /^unreliable landmarks: /);

  const plain = await run([...base, '--landmark-model', LANDMARKS, '--no-align']);
  assert.equal(plain.code, 0, plain.stderr);
  const [plainEntry] = JSON.parse(plain.stdout) as AnalyzeEntry[];
  // No alignment (the landmarks still ran, for the false-face check); "enhanced" is always said,
  // "restoration" under --enhance auto (a 95 px face is neither restored nor enlarged by default).
  assert.deepEqual(Object.keys(plainEntry.faces[0]), [
    'box',
    // The learned detector's faces have their score (the default detector's).
    ...(DEFAULT_DETECTOR === 'cnn' ? ['score'] : []),
    'emotion',
    'landmarks',
    'enhanced',
    'restoration',
    'faceCheck',
  ]);
  const { enhanced, restoration } = plainEntry.faces[0] as { enhanced?: boolean; restoration?: string };
  assert.equal(enhanced, false);
  assert.equal(restoration, 'none');
  // The fallback is exactly the box crop: same scores.
  assert.deepEqual(plainEntry.faces[0].emotion, face.emotion);

  const human = await run([
    'analyze',
    ASTRONAUT,
    '--no-images',
    '--model',
    EMOTION,
    '--landmark-model',
    LANDMARKS,
    '--keep-all-faces',
  ]);
  assert.match(
    human.stdout,
    new RegExp(`face 1: \\w+ \\d+% .* at ${boxText(box)}, box crop \\(unreliable landmarks: `),
  );

  const badTemplate = await run([...base, '--landmark-model', LANDMARKS, '--template', EMOTION]);
  assert.equal(badTemplate.code, 1);
  assert.match(badTemplate.stderr, /Alignment template .*tiny-emotion\.onnx is not JSON/);
  assert.equal((await run([...base, '--landmark-model', ''])).code, 2);
});

void test('analyze --draw-landmarks draws the 68 points on the labelled copy', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-landmarks-cli-'));
  try {
    const args = [
      'analyze',
      ASTRONAUT,
      '--json',
      '--model',
      EMOTION,
      '--landmark-model',
      LANDMARKS,
      '--keep-all-faces',
    ];
    const plain = await run([...args, '--out', join(dir, 'plain')]);
    const drawn = await run([...args, '--out', join(dir, 'drawn'), '--draw-landmarks']);
    assert.equal(drawn.code, 0, drawn.stderr);
    const [plainEntry] = JSON.parse(plain.stdout) as AnalyzeEntry[];
    const [drawnEntry] = JSON.parse(drawn.stdout) as AnalyzeEntry[];
    const a = await readImage(plainEntry.output as string);
    const b = await readImage(drawnEntry.output as string);
    let changed = 0;
    let nearPoint = 0;
    const points = drawnEntry.faces[0].landmarks ?? [];
    for (let y = 0; y < a.height; y++) {
      for (let x = 0; x < a.width; x++) {
        const o = (y * a.width + x) * a.channels;
        if (a.data[o] !== b.data[o] || a.data[o + 1] !== b.data[o + 1] || a.data[o + 2] !== b.data[o + 2]) {
          changed++;
          if (points.some(([px, py]) => Math.hypot(px - x, py - y) <= 3)) nearPoint++;
        }
      }
    }
    assert.ok(changed > 0, 'the points changed pixels');
    assert.equal(nearPoint, changed, 'only pixels at the points changed');
    // Without a landmark model drawing has nothing to draw: a named error, not a silent no-op.
    if (!hasDefaultLandmarkModel()) {
      const none = await run(['analyze', ASTRONAUT, '--no-images', '--model', EMOTION, '--draw-landmarks']);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /--draw-landmarks needs the landmark model/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('analyze --rotated-search keeps the upright face first and merges its turned duplicates', async () => {
  // The rotated search's merging is measured on the cascade's boxes: haar pinned.
  const result = await run([
    'analyze',
    '--detector',
    'haar',
    ASTRONAUT,
    '--json',
    '--no-images',
    '--model',
    EMOTION,
    '--rotated-search',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const [entry] = JSON.parse(result.stdout) as AnalyzeEntry[];
  assert.deepEqual(entry.faces[0].box, ASTRONAUT_BOX);
  // The turned copies find the face again: merged, no second box on it. (They may find other, false,
  // faces elsewhere: the search is an option for that reason.)
  const centre = (b: typeof ASTRONAUT_BOX): [number, number] => [b.x + b.width / 2, b.y + b.height / 2];
  const [fx, fy] = centre(ASTRONAUT_BOX);
  const others = entry.faces.slice(1).filter((f) => {
    const [x, y] = centre(f.box);
    return Math.hypot(x - fx, y - fy) < ASTRONAUT_BOX.width;
  });
  assert.deepEqual(others, []);
});
