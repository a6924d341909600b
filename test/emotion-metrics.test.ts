import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addPrediction,
  confusionMatrix,
  emptyConfusion,
  metricsFromConfusion,
} from '../src/emotion/metrics.js';

const close = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} != ${expected}`);

void test('confusionMatrix counts (true, predicted) pairs, rows true, columns predicted', () => {
  const confusion = confusionMatrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3);
  assert.deepEqual(confusion, [
    [1, 1, 0],
    [0, 1, 0],
    [1, 0, 2],
  ]);
  assert.throws(
    () => confusionMatrix([0, 1], [0], 3),
    /as many predictions as true labels but received 1 and 2/,
  );
  assert.throws(() => addPrediction(emptyConfusion(3), 3, 0), /class index 0-2 for actual but received 3/);
  assert.throws(
    () => addPrediction(emptyConfusion(3), 0, -1),
    /class index 0-2 for predicted but received -1/,
  );
  assert.throws(() => emptyConfusion(0), /positive integer for classes but received 0/);
});

void test('metricsFromConfusion: accuracy, precision, recall, F1, support and macro means (hand-computed)', () => {
  // Class 2 is absent from the data but predicted once; class 3 is absent and never predicted.
  const m = metricsFromConfusion([
    [5, 1, 0, 0],
    [2, 3, 1, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ]);
  assert.equal(m.n, 12);
  assert.equal(m.correct, 8);
  close(m.accuracy, 8 / 12, 'accuracy');
  const p0 = 5 / 7;
  const r0 = 5 / 6;
  const p1 = 3 / 4;
  const r1 = 3 / 6;
  close(m.perClass[0].precision, p0, 'precision 0');
  close(m.perClass[0].recall, r0, 'recall 0');
  close(m.perClass[0].f1, (2 * p0 * r0) / (p0 + r0), 'f1 0');
  close(m.perClass[1].f1, (2 * p1 * r1) / (p1 + r1), 'f1 1');
  assert.deepEqual(
    m.perClass.map((c) => c.n),
    [6, 6, 0, 0],
  );
  // Nothing to divide by: 0, never NaN.
  assert.deepEqual(m.perClass[2], { precision: 0, recall: 0, f1: 0, n: 0 });
  assert.deepEqual(m.perClass[3], { precision: 0, recall: 0, f1: 0, n: 0 });
  // Macro means over the classes present in the data (0 and 1).
  close(m.macro.precision, (p0 + p1) / 2, 'macro precision');
  close(m.macro.recall, (r0 + r1) / 2, 'macro recall');
  close(m.macro.f1, (m.perClass[0].f1 + m.perClass[1].f1) / 2, 'macro f1');
});

void test('metricsFromConfusion: perfect, empty and malformed matrices', () => {
  const perfect = metricsFromConfusion([
    [3, 0],
    [0, 4],
  ]);
  assert.equal(perfect.accuracy, 1);
  assert.deepEqual(perfect.macro, { precision: 1, recall: 1, f1: 1 });
  const empty = metricsFromConfusion(emptyConfusion(7));
  assert.equal(empty.n, 0);
  assert.equal(empty.accuracy, 0);
  assert.deepEqual(empty.macro, { precision: 0, recall: 0, f1: 0 });
  assert.throws(
    () => metricsFromConfusion([[1, 2]]),
    /square, non-empty confusion matrix but received 1 rows/,
  );
  assert.throws(() => metricsFromConfusion([]), /square, non-empty/);
  assert.throws(
    () =>
      metricsFromConfusion([
        [1, -1],
        [0, 1],
      ]),
    /counts \(integers >= 0\) but received -1 at \[0\]\[1\]/,
  );
  // The returned matrix is a copy.
  const source = [
    [1, 0],
    [0, 1],
  ];
  const m = metricsFromConfusion(source);
  source[0][0] = 99;
  assert.equal(m.confusion[0][0], 1);
});
