/**
 * `moodlens analyze` end to end on real photos, with the small fixture model (test/fixtures, made by
 * tools/make_tiny_emotion_model.py): the JSON shape, labelled copies, no-face images, bad inputs.
 * The accuracy of the shipped model is measured by `moodlens evaluate`, not here.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { EMOTION_COLORS } from '../src/draw/annotate.js';
import { EMOTION_LABELS } from '../src/emotion/labels.js';
import { readImage } from '../src/io/node/read-image.js';
import { assertAstronautBox } from './support/astronaut-face.js';
import { runCaptured } from './support/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ASTRONAUT = join(ROOT, 'examples', 'astronaut.png');
const MODEL = join(ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');

const run = runCaptured;

interface AnalyzedEntry {
  file: string;
  width: number;
  height: number;
  output?: string;
  faces: Array<{
    box: { x: number; y: number; width: number; height: number };
    emotion: { label: string; confidence: number; scores: Record<string, number> };
  }>;
}

void test('analyze --json: the astronaut face with a label, its confidence and 7 scores; a labelled copy', async () => {
  const out = await mkdtemp(join(tmpdir(), 'moodlens-analyze-'));
  try {
    const result = await run(['analyze', ASTRONAUT, '--json', '--model', MODEL, '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    const [entry] = JSON.parse(result.stdout) as AnalyzedEntry[];
    assert.equal(entry.file, ASTRONAUT);
    assert.deepEqual([entry.width, entry.height], [512, 512]);
    assert.equal(entry.faces.length, 1);
    const { box, emotion } = entry.faces[0];
    assertAstronautBox(box);
    assert.deepEqual(Object.keys(emotion.scores).sort(), [...EMOTION_LABELS].sort());
    const total = Object.values(emotion.scores).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 1) < 1e-5, `scores sum to ${total}`);
    assert.equal(emotion.confidence, Math.max(...Object.values(emotion.scores)));
    assert.equal(emotion.scores[emotion.label], emotion.confidence);

    // The labelled copy: same size, the box outline drawn in the label's colour, the face inside untouched.
    assert.equal(entry.output, join(out, 'predicted_astronaut.png'));
    const labelled = await readImage(entry.output);
    const original = await readImage(ASTRONAUT);
    assert.deepEqual([labelled.width, labelled.height], [512, 512]);
    const colour = EMOTION_COLORS[emotion.label as keyof typeof EMOTION_COLORS];
    const at = (img: typeof labelled, x: number, y: number) =>
      Array.from(
        img.data.subarray((y * img.width + x) * img.channels, (y * img.width + x) * img.channels + 3),
      );
    assert.deepEqual(at(labelled, box.x + (box.width >> 1), box.y + box.height - 1), [...colour]);
    assert.deepEqual(at(labelled, box.x + 40, box.y + 50), at(original, box.x + 40, box.y + 50));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

void test('analyze: no face is a normal result; bad inputs fail alone; --no-images writes nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-analyze-'));
  try {
    const blank = join(dir, 'blank.png');
    await sharp({ create: { width: 200, height: 150, channels: 3, background: '#7a8' } })
      .png()
      .toFile(blank);
    const text = join(dir, 'notes.png');
    await writeFile(text, 'not an image at all');
    const out = join(dir, 'out');
    const result = await run(['analyze', blank, text, ASTRONAUT, '--json', '--model', MODEL, '--out', out]);
    assert.equal(result.code, 1);
    const entries = JSON.parse(result.stdout) as Array<
      AnalyzedEntry | { file: string; error: { code: string } }
    >;
    assert.equal(entries.length, 3);
    assert.deepEqual((entries[0] as AnalyzedEntry).faces, []);
    assert.match(result.stderr, /no face found in .*blank\.png/);
    assert.equal((entries[1] as { error: { code: string } }).error.code, 'MOODLENS_ERR_NOT_AN_IMAGE');
    assert.equal((entries[2] as AnalyzedEntry).faces.length, 1);
    assert.deepEqual((await readdir(out)).sort(), ['predicted_astronaut.png', 'predicted_blank.png']);

    const quiet = join(dir, 'quiet');
    const none = await run(['analyze', ASTRONAUT, '--no-images', '--model', MODEL, '--out', quiet]);
    assert.equal(none.code, 0);
    assert.match(none.stdout, /astronaut\.png: 1 face \(512x512\)\n {2}face 1: \w+ \d+%/);
    await assert.rejects(readdir(quiet), /ENOENT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('analyze: usage errors exit 2, a model that is not ONNX exits 1 naming it', async () => {
  assert.equal((await run(['analyze'])).code, 2);
  assert.equal((await run(['analyze', ASTRONAUT, '--margin', '-1'])).code, 2);
  // A bad number for a Haar flag (under the learned detector any --min-neighbors is refused).
  assert.equal((await run(['analyze', ASTRONAUT, '--detector', 'haar', '--min-neighbors', 'x'])).code, 2);
  const bad = await run(['analyze', ASTRONAUT, '--model', ASTRONAUT]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /MOODLENS_ERR_MODEL_LOAD/);
  assert.match(bad.stderr, /astronaut\.png/);
});
