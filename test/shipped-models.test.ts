/**
 * `--model default|accurate`: the shipped emotion models by name, for users whose copy of MoodLens lives in
 * node_modules rather than in the working directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { createImage } from '../src/core/image.js';
import {
  ACCURATE_EMOTION_MODEL_PATH,
  DEFAULT_EMOTION_MODEL_PATH,
  loadEmotionClassifier,
  resolveEmotionModelPath,
} from '../src/io/node/emotion-model.js';
import { loadModelQuality } from '../src/io/node/model-card.js';
import { REPO_ROOT } from './support/opencv.js';

void test('default and accurate name the shipped files; anything else is a path', () => {
  assert.equal(resolveEmotionModelPath(undefined), DEFAULT_EMOTION_MODEL_PATH);
  assert.equal(resolveEmotionModelPath('default'), DEFAULT_EMOTION_MODEL_PATH);
  assert.equal(resolveEmotionModelPath('accurate'), ACCURATE_EMOTION_MODEL_PATH);
  assert.equal(basename(ACCURATE_EMOTION_MODEL_PATH), 'emotion-ensemble.onnx');
  assert.equal(resolveEmotionModelPath('models/x.onnx'), 'models/x.onnx');
});

void test('a file called accurate in the working directory wins over the name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-model-name-'));
  const before = process.cwd();
  try {
    await writeFile(join(dir, 'accurate'), 'not a model');
    process.chdir(dir);
    assert.equal(resolveEmotionModelPath('accurate'), 'accurate');
  } finally {
    process.chdir(before);
    await rm(dir, { recursive: true, force: true });
  }
});

void test('the accurate model loads by name and classifies real faces as PyTorch does', async () => {
  // the real PublicTest faces (preprocessed) and PyTorch's logits that its export wrote beside it
  const parity = JSON.parse(
    await readFile(join(REPO_ROOT, 'models/emotion/emotion-ensemble.parity.json'), 'utf8'),
  ) as { faces: { pixels: number[]; logits: number[] }[] };
  const faces = parity.faces.map((f) => createImage(48, 48, 1, Uint8Array.from(f.pixels)));
  const classifier = await loadEmotionClassifier('accurate');
  try {
    // its logits, not just its answers: the default model would give other logits
    const logits = await classifier.logits(faces);
    parity.faces.forEach((face, i) => {
      face.logits.forEach((expected, k) => {
        assert.ok(Math.abs((logits[i * 7 + k] ?? NaN) - expected) <= 1e-4, `face ${i} class ${k}`);
      });
    });
  } finally {
    await classifier.dispose();
  }
});

void test("a shipped model's card by name gives that model's own figures", async () => {
  const accurate = await loadModelQuality('accurate');
  const fast = await loadModelQuality('default');
  const card = JSON.parse(
    await readFile(join(REPO_ROOT, 'models/emotion/emotion-ensemble.json'), 'utf8'),
  ) as {
    publicTest: { accuracy: number };
  };
  assert.ok(accurate !== undefined && fast !== undefined);
  assert.equal(accurate.accuracy, card.publicTest.accuracy);
  assert.ok(accurate.name.startsWith('emotion-ensemble.onnx'));
  assert.ok(accurate.accuracy > fast.accuracy);
});
