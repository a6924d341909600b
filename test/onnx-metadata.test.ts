import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isMoodLensError } from '../src/core/errors.js';
import { EMOTION_LABELS } from '../src/emotion/labels.js';
import { readOnnxMetadata } from '../src/emotion/onnx-metadata.js';
import { REPO_ROOT } from './support/opencv.js';

const TINY_MODEL = join(REPO_ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');

// A small protobuf writer, to build ModelProto messages field by field.
function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
const tag = (field: number, wire: number): number[] => varint(field * 8 + wire);
const lengthDelimited = (field: number, payload: readonly number[]): number[] => [
  ...tag(field, 2),
  ...varint(payload.length),
  ...payload,
];
const text = (field: number, value: string): number[] =>
  lengthDelimited(field, [...new TextEncoder().encode(value)]);
const entry = (key: string, value: string): number[] =>
  lengthDelimited(14, [...text(1, key), ...text(2, value)]);

/** Asserts `fn` throws MOODLENS_ERR_MODEL_LOAD with a message matching every pattern. */
function assertModelLoadError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isMoodLensError(error), `expected a MoodLensError, got ${String(error)}`);
    assert.equal(error.code, 'MOODLENS_ERR_MODEL_LOAD');
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

void test('readOnnxMetadata reads the tiny model’s metadata_props, IR version and opset', async () => {
  const info = readOnnxMetadata(await readFile(TINY_MODEL), TINY_MODEL);
  assert.equal(info.irVersion, 7);
  assert.equal(info.producerName, 'pytorch');
  assert.equal(info.opsetVersion, 13);
  assert.deepEqual(JSON.parse(info.metadata['moodlens.labels']), [...EMOTION_LABELS]);
  assert.equal(info.metadata['moodlens.input_size'], '48');
  assert.equal(info.metadata['moodlens.scaling'], 'v2');
  assert.equal(info.metadata['moodlens.preprocessing'], 'gray,equalize_hist,resize48');
  assert.equal(info.metadata['moodlens.outputs'], 'logits');
  assert.equal(info.metadata['moodlens.arch'], 'tiny_random_test_net');
  assert.ok('moodlens.val_accuracy' in info.metadata);
});

void test('readOnnxMetadata skips every wire type, keeps UTF-8 and the last of a repeated key', () => {
  const bytes = Uint8Array.from([
    ...tag(1, 0),
    ...varint(8), // ir_version
    ...entry('moodlens.scaling', 'v1'), // metadata before the graph
    ...tag(5, 0),
    ...varint(2 ** 40), // model_version, a large varint
    ...tag(99, 1),
    ...[1, 2, 3, 4, 5, 6, 7, 8], // unknown fixed64
    ...tag(98, 5),
    ...[1, 2, 3, 4], // unknown fixed32
    ...lengthDelimited(7, new Array<number>(300).fill(0xff)), // "graph": skipped unread
    ...lengthDelimited(8, [...text(1, 'com.microsoft'), ...tag(2, 0), 1]),
    ...lengthDelimited(8, [...text(1, ''), ...tag(2, 0), 17]),
    ...text(2, 'hand-made'),
    ...entry('note', 'émotion ✓'),
    ...lengthDelimited(14, [...text(2, 'value first'), ...text(1, 'order'), ...tag(3, 0), 5]),
    ...entry('moodlens.scaling', 'v2'),
  ]);
  const info = readOnnxMetadata(bytes, 'hand-made.onnx');
  assert.deepEqual(info, {
    irVersion: 8,
    producerName: 'hand-made',
    producerVersion: '',
    opsetVersion: 17,
    metadata: { 'moodlens.scaling': 'v2', note: 'émotion ✓', order: 'value first' },
  });
});

void test('readOnnxMetadata: bytes that are not ONNX give MOODLENS_ERR_MODEL_LOAD saying what arrived', () => {
  const encode = (s: string): Uint8Array => new TextEncoder().encode(s);
  assertModelLoadError(
    () =>
      readOnnxMetadata(
        encode('<!DOCTYPE html>\n<html><body>404 Not Found</body></html>'),
        'https://x/m.onnx',
      ),
    /^Not an ONNX model: https:\/\/x\/m\.onnx is an HTML page \(\d+ bytes\)/,
  );
  assertModelLoadError(
    () => readOnnxMetadata(encode('\n  <html lang="en"><head><title>Sign in</title>'), 'models/emotion.onnx'),
    /models\/emotion\.onnx is an HTML page/,
  );
  const lfs =
    'version https://git-lfs.github.com/spec/v1\n' +
    'oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 1234567\n';
  assertModelLoadError(
    () => readOnnxMetadata(encode(lfs), 'emotion.onnx'),
    /emotion\.onnx is a Git LFS pointer/,
    /git lfs pull/,
  );
  assertModelLoadError(
    () => readOnnxMetadata(new Uint8Array(0), 'empty.onnx'),
    /empty\.onnx is empty \(0 bytes\)/,
  );
  assertModelLoadError(
    () => readOnnxMetadata(Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]), 'best.pt'),
    /best\.pt is a ZIP archive/,
    /PyTorch/,
  );
  assertModelLoadError(
    () => readOnnxMetadata(Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]), 'model.h5'),
    /model\.h5 is an HDF5 file/,
  );
  assertModelLoadError(() => readOnnxMetadata(encode('{"error": "not found"}'), 'm.onnx'), /is JSON text/);
  assertModelLoadError(
    () => readOnnxMetadata(encode('these are not weights\n'.repeat(5)), 'notes.txt'),
    /notes\.txt \(110 bytes\) is text starting "these are not weights/,
  );
  assertModelLoadError(
    () => readOnnxMetadata(Uint8Array.from([0xff, 0xfe, 0x00, 0x13, 0x37, 0x00, 0x42, 0x99, 0x01]), 'r.bin'),
    /r\.bin \(9 bytes\) is binary data starting with bytes ff fe 00 13 37 00 42 99/,
  );
});

void test('readOnnxMetadata: a truncated or incomplete model is reported as damaged', async () => {
  const model = new Uint8Array(await readFile(TINY_MODEL));
  assertModelLoadError(
    () => readOnnxMetadata(model.subarray(0, 1000), 'cut.onnx'),
    /^Not an ONNX model: cut\.onnx \(1000 bytes\) is truncated or damaged: a \d+-byte field runs \d+ bytes past the end at byte \d+$/,
  );
  // A header without a graph is not a model.
  assertModelLoadError(
    () => readOnnxMetadata(Uint8Array.from([...tag(1, 0), 7, ...entry('k', 'v')]), 'nograph.onnx'),
    /nograph\.onnx .* no graph field/,
  );
  // A group wire type (never used by ONNX).
  assertModelLoadError(
    () => readOnnxMetadata(Uint8Array.from([...tag(1, 0), 7, ...tag(9, 3)]), 'group.onnx'),
    /wire type 3 is not used by ONNX at byte 2/,
  );
  assert.throws(() => readOnnxMetadata('model' as unknown as Uint8Array, 'm'), {
    name: 'TypeError',
    message: 'Expected a Uint8Array for the bytes of m but received string',
  });
});
