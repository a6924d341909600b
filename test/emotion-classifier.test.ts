import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { test } from 'node:test';
import { isMoodLensError } from '../src/core/errors.js';
import { createImage, type GrayImage } from '../src/core/image.js';
import type { InferenceBackend } from '../src/emotion/backend.js';
import { EmotionClassifier, parseEmotionModelMetadata, softmax } from '../src/emotion/classifier.js';
import { EMOTION_LABELS } from '../src/emotion/labels.js';
import { mirrorHorizontal, scalingTable, toInputTensor } from '../src/emotion/preprocess.js';
import { DEFAULT_EMOTION_MODEL_PATH, loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { OnnxNodeBackend } from '../src/io/node/onnx-backend.js';
import { REPO_ROOT } from './support/opencv.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
const TINY_MODEL = join(FIXTURES, 'tiny-emotion.onnx');

/** The parity file layout of tools/make_tiny_emotion_model.py and training's export.py --parity-out. */
interface ParityFixture {
  readonly scaling: 'v1' | 'v2';
  readonly labels: string[];
  readonly tolerance: number;
  readonly faces: { source: string; label: number; pixels: number[]; input?: number[]; logits: number[] }[];
}

async function readParity(path: string): Promise<ParityFixture> {
  return JSON.parse(await readFile(path, 'utf8')) as ParityFixture;
}

const facesOf = (fixture: ParityFixture): GrayImage[] =>
  fixture.faces.map((f) => createImage(48, 48, 1, Uint8Array.from(f.pixels)));

const TINY_METADATA = {
  'moodlens.labels': JSON.stringify(EMOTION_LABELS),
  'moodlens.input_size': '48',
  'moodlens.scaling': 'v1',
  'moodlens.preprocessing': 'gray,equalize_hist,resize48',
  'moodlens.outputs': 'logits',
};

/** A backend that records its inputs and returns the logits it is given, batch by batch. */
class FakeBackend implements InferenceBackend {
  readonly inputs: { input: Float32Array; batch: number }[] = [];
  disposed = 0;
  constructor(private readonly logitsOf: (faceIndex: number) => number[]) {}
  private seen = 0;
  run(input: Float32Array, batch: number): Promise<Float32Array> {
    this.inputs.push({ input: input.slice(), batch });
    const out: number[] = [];
    for (let i = 0; i < batch; i++) out.push(...this.logitsOf(this.seen++));
    return Promise.resolve(Float32Array.from(out));
  }
  dispose(): Promise<void> {
    this.disposed++;
    return Promise.resolve();
  }
}

async function assertModelLoadRejects(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isMoodLensError(error), `expected a MoodLensError, got ${String(error)}`);
    assert.equal(error.code, 'MOODLENS_ERR_MODEL_LOAD');
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

void test('onnxruntime-node reproduces the PyTorch logits of the tiny model on real FER faces (1e-4)', async () => {
  const fixture = await readParity(join(FIXTURES, 'tiny-emotion.parity.json'));
  const faces = facesOf(fixture);
  assert.equal(faces.length, 7);
  for (const batchSize of [32, 3, 1]) {
    const classifier = await loadEmotionClassifier(TINY_MODEL, { batchSize });
    try {
      assert.equal(classifier.info.scaling, fixture.scaling);
      const logits = await classifier.logits(faces);
      let worst = 0;
      fixture.faces.forEach((face, i) => {
        face.logits.forEach(
          (expected, k) => (worst = Math.max(worst, Math.abs(logits[i * 7 + k] - expected))),
        );
      });
      assert.ok(worst <= fixture.tolerance, `max |onnxruntime - torch| = ${worst} (batch ${batchSize})`);
    } finally {
      await classifier.dispose();
    }
  }
});

void test('a shipped model reproduces its export parity file (skipped until models/emotion/ has one)', async (t) => {
  const dir = join(REPO_ROOT, 'models', 'emotion');
  const names = existsSync(dir) ? await readdir(dir) : [];
  const pairs = names
    .filter((n) => n.endsWith('.onnx') && names.includes(n.replace(/\.onnx$/, '.parity.json')))
    .map((n) => ({ model: join(dir, n), parity: join(dir, n.replace(/\.onnx$/, '.parity.json')) }));
  if (pairs.length === 0) {
    t.skip('no models/emotion/<name>.onnx with a <name>.parity.json beside it');
    return;
  }
  for (const { model, parity } of pairs) {
    const fixture = await readParity(parity);
    const faces = facesOf(fixture);
    const classifier = await loadEmotionClassifier(model);
    try {
      assert.deepEqual(classifier.labels, fixture.labels);
      const input = toInputTensor(faces, classifier.info.scaling);
      fixture.faces.forEach((face, i) => {
        if (face.input === undefined) return;
        const ours = input.subarray(i * 2304, (i + 1) * 2304);
        assert.deepEqual([...ours], face.input.map(Math.fround), `${model}: input of ${face.source}`);
      });
      const logits = await classifier.logits(faces);
      let worst = 0;
      fixture.faces.forEach((face, i) => {
        face.logits.forEach(
          (expected, k) => (worst = Math.max(worst, Math.abs(logits[i * 7 + k] - expected))),
        );
      });
      assert.ok(worst <= fixture.tolerance, `${model}: max |onnxruntime - torch| = ${worst}`);
    } finally {
      await classifier.dispose();
    }
  }
});

void test('classify: softmax probabilities summing to 1, the arg-max label, labels from the model metadata', async () => {
  const fixture = await readParity(join(FIXTURES, 'tiny-emotion.parity.json'));
  const classifier = await loadEmotionClassifier(TINY_MODEL);
  try {
    assert.deepEqual(classifier.labels, EMOTION_LABELS);
    assert.equal(classifier.info.inputSize, 48);
    assert.equal(classifier.info.arch, 'tiny_random_test_net');
    assert.equal(classifier.info.valAccuracy, undefined); // "nan" in the fixture
    const results = await classifier.classify(facesOf(fixture));
    assert.equal(results.length, fixture.faces.length);
    results.forEach((result, i) => {
      assert.deepEqual(Object.keys(result.scores), [...EMOTION_LABELS]);
      const values = Object.values(result.scores);
      assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - 1) < 1e-12);
      const torch = fixture.faces[i].logits;
      const best = torch.indexOf(Math.max(...torch));
      assert.equal(result.label, EMOTION_LABELS[best]);
      assert.equal(result.confidence, Math.max(...values));
      const expected = softmax(torch);
      EMOTION_LABELS.forEach((emotion, k) =>
        assert.ok(Math.abs(result.scores[emotion] - expected[k]) < 1e-4),
      );
    });
    assert.deepEqual(await classifier.classify([]), []);
  } finally {
    await classifier.dispose();
  }
  await assert.rejects(classifier.classify([]), /has been disposed/);
  await classifier.dispose(); // twice is fine
});

void test('EmotionClassifier maps logits by the model’s own label order, scales, batches and owns its backend', async () => {
  // A model whose outputs come in reverse FER order: logit 0 is neutral.
  const reversed = [...EMOTION_LABELS].reverse();
  const backend = new FakeBackend((i) => (i === 0 ? [5, 0, 0, 0, 0, 0, 0] : [0, 0, 0, 0, 0, 0, 9]));
  const classifier = await EmotionClassifier.create({
    backend,
    metadata: { ...TINY_METADATA, 'moodlens.labels': JSON.stringify(reversed) },
    batchSize: 2,
  });
  const white = createImage(48, 48, 1, new Uint8Array(2304).fill(255));
  const black = createImage(48, 48, 1, new Uint8Array(2304));
  const results = await classifier.classify([white, black, white]);
  assert.deepEqual(
    results.map((r) => r.label),
    ['neutral', 'angry', 'angry'],
  );
  assert.ok(results[0].scores.neutral > 0.95 && results[1].scores.angry > 0.99);
  assert.deepEqual(
    backend.inputs.map((b) => b.batch),
    [2, 1],
  );
  assert.equal(backend.inputs[0].input[0], 1); // v1: 255 -> 1
  assert.equal(backend.inputs[0].input[2304], 0);
  assert.equal(backend.inputs[0].input[2304], scalingTable('v1')[0]);
  await classifier.dispose();
  await classifier.dispose();
  assert.equal(backend.disposed, 1);

  const short = await EmotionClassifier.create({
    backend: new FakeBackend(() => [1, 2]),
    metadata: TINY_METADATA,
  });
  await assertModelLoadRejects(short.classify([white]), /returned 2 values for 1 faces; expected 7/);
  await assert.rejects(
    EmotionClassifier.create({ backend, metadata: TINY_METADATA, batchSize: 0 }),
    /positive integer for batchSize but received 0/,
  );
});

void test('parseEmotionModelMetadata refuses missing or unusable entries, naming the model, key and value', () => {
  const without = (key: string): Record<string, string> =>
    Object.fromEntries(Object.entries(TINY_METADATA).filter(([k]) => k !== key));
  assert.throws(
    () => parseEmotionModelMetadata(without('moodlens.scaling'), 'm.onnx'),
    (error: unknown) =>
      isMoodLensError(error) &&
      error.code === 'MOODLENS_ERR_MODEL_LOAD' &&
      /^Emotion model m\.onnx: its ONNX metadata has no 'moodlens\.scaling' entry \(found: moodlens\.labels, /.test(
        error.message,
      ),
  );
  assert.throws(
    () => parseEmotionModelMetadata({}, 'bare.onnx'),
    /no 'moodlens\.labels' entry \(found: no metadata\)/,
  );
  assert.throws(
    () => parseEmotionModelMetadata({ ...TINY_METADATA, 'moodlens.labels': '["happy","sad"]' }),
    /JSON array of the 7 emotions .* but received \["happy","sad"\]/,
  );
  assert.throws(
    () => parseEmotionModelMetadata({ ...TINY_METADATA, 'moodlens.labels': 'angry,disgust' }),
    /but received angry,disgust/,
  );
  assert.throws(
    () => parseEmotionModelMetadata({ ...TINY_METADATA, 'moodlens.scaling': 'imagenet' }),
    /expected v1 or v2 for 'moodlens\.scaling' but received 'imagenet'/,
  );
  assert.throws(
    () => parseEmotionModelMetadata({ ...TINY_METADATA, 'moodlens.input_size': '64' }),
    /asks for 'gray,equalize_hist,resize48' with input size 64/,
  );
  assert.throws(
    () => parseEmotionModelMetadata({ ...TINY_METADATA, 'moodlens.preprocessing': 'gray,resize48' }),
    /asks for 'gray,resize48'/,
  );
  assert.throws(
    () => parseEmotionModelMetadata({ ...TINY_METADATA, 'moodlens.outputs': 'probabilities' }),
    /expected 'logits' for 'moodlens\.outputs'/,
  );
  const info = parseEmotionModelMetadata({ ...TINY_METADATA, 'moodlens.val_accuracy': '0.6712' });
  assert.equal(info.valAccuracy, 0.6712);
});

void test('OnnxNodeBackend: missing, directory, HTML, LFS and wrong-signature models give MOODLENS_ERR_MODEL_LOAD', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-onnx-'));
  try {
    const missing = join(dir, 'missing.onnx');
    await assertModelLoadRejects(
      OnnxNodeBackend.load(missing),
      new RegExp(`Model not found: .*missing\\.onnx: no such file`),
    );
    await assertModelLoadRejects(OnnxNodeBackend.load(dir), /is a directory/);
    const html = join(dir, 'page.onnx');
    await writeFile(html, '<!doctype html><html><body>Moved</body></html>');
    await assertModelLoadRejects(loadEmotionClassifier(html), /page\.onnx is an HTML page/);
    const lfs = join(dir, 'lfs.onnx');
    await writeFile(lfs, 'version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n');
    await assertModelLoadRejects(loadEmotionClassifier(lfs), /lfs\.onnx is a Git LFS pointer/);
    await assertModelLoadRejects(
      OnnxNodeBackend.load(TINY_MODEL, { inputName: 'image' }),
      /has inputs \[input\] and outputs \[logits\]; expected an input 'image' and an output 'logits'/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('OnnxNodeBackend.run checks the batch and the input length; exposes the model metadata', async () => {
  const backend = await OnnxNodeBackend.load(TINY_MODEL);
  try {
    assert.deepEqual(backend.sampleShape, [1, 48, 48]);
    assert.equal(backend.model.metadata['moodlens.scaling'], 'v2');
    const out = await backend.run(new Float32Array(2 * 2304), 2);
    assert.equal(out.length, 14);
    await assert.rejects(backend.run(new Float32Array(2304), 2), {
      name: 'RangeError',
      message: 'Expected 4608 values for a batch of 2 [1, 48, 48] inputs but received 2304',
    });
    await assert.rejects(backend.run(new Float32Array(0), 0), /positive integer for batch but received 0/);
  } finally {
    await backend.dispose();
  }
  await assert.rejects(backend.run(new Float32Array(2304), 1), /has been disposed/);
});

void test('the default emotion model path is resolved from the package, not the working directory', async () => {
  assert.ok(isAbsolute(DEFAULT_EMOTION_MODEL_PATH));
  assert.equal(DEFAULT_EMOTION_MODEL_PATH, join(REPO_ROOT, 'models', 'emotion', 'emotion.onnx'));
  if (existsSync(DEFAULT_EMOTION_MODEL_PATH)) {
    const classifier = await loadEmotionClassifier();
    await classifier.dispose();
  } else {
    await assertModelLoadRejects(loadEmotionClassifier(), /models\/emotion\/emotion\.onnx: no such file/);
  }
});

void test('flipAverage: each face scores as the mean of itself and its mirror image', async () => {
  const fixture = await readParity(join(FIXTURES, 'tiny-emotion.parity.json'));
  const faces = facesOf(fixture).slice(0, 4);
  const mirrored = faces.map(mirrorHorizontal);
  assert.deepEqual(mirrorHorizontal(mirrored[0]).data, faces[0].data);
  assert.notDeepEqual(mirrored[0].data, faces[0].data);
  const plain = await loadEmotionClassifier(TINY_MODEL);
  const averaged = await loadEmotionClassifier(TINY_MODEL, { flipAverage: true });
  try {
    const [a, b, both] = await Promise.all([
      plain.classify(faces),
      plain.classify(mirrored),
      averaged.classify(faces),
    ]);
    for (let i = 0; i < faces.length; i++) {
      for (const emotion of EMOTION_LABELS) {
        const expected = (a[i].scores[emotion] + b[i].scores[emotion]) / 2;
        assert.ok(Math.abs(both[i].scores[emotion] - expected) < 1e-12, `${emotion} of face ${i}`);
      }
      assert.equal(both[i].confidence, both[i].scores[both[i].label]);
    }
  } finally {
    await plain.dispose();
    await averaged.dispose();
  }
});
