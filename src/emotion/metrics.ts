/**
 * Classification metrics from a confusion matrix (rows: true class, columns: predicted class), pure.
 * A ratio whose denominator is 0 (a class never predicted, or absent from the data) is reported as 0,
 * as scikit-learn does with `zero_division=0`, so every value stays a finite number (and valid JSON).
 */

export interface ClassMetrics {
  /** Of the faces predicted as this class, the fraction that are (0 when none was predicted). */
  readonly precision: number;
  /** Of the faces of this class, the fraction predicted as it (0 when the class has no faces). */
  readonly recall: number;
  /** Harmonic mean of precision and recall (0 when both are 0). */
  readonly f1: number;
  /** Faces of this class in the data (the row sum). */
  readonly n: number;
}

export interface ClassificationMetrics {
  /** Faces counted. */
  readonly n: number;
  /** Faces whose predicted class is the true one. */
  readonly correct: number;
  /** correct / n (0 when n is 0). */
  readonly accuracy: number;
  /** One entry per class, in the matrix's order. */
  readonly perClass: readonly ClassMetrics[];
  /** Unweighted means of the per-class precision, recall and F1 over the classes present in the data. */
  readonly macro: { readonly precision: number; readonly recall: number; readonly f1: number };
  /** The confusion matrix the metrics were computed from. */
  readonly confusion: readonly (readonly number[])[];
}

/** A `classes` x `classes` matrix of zeros. */
export function emptyConfusion(classes: number): number[][] {
  if (!Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`Expected a positive integer for classes but received ${String(classes)}`);
  }
  return Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
}

/** Counts one prediction: `confusion[actual][predicted] += 1`. */
export function addPrediction(confusion: number[][], actual: number, predicted: number): void {
  const k = confusion.length;
  if (!Number.isInteger(actual) || actual < 0 || actual >= k) {
    throw new RangeError(`Expected a class index 0-${k - 1} for actual but received ${String(actual)}`);
  }
  if (!Number.isInteger(predicted) || predicted < 0 || predicted >= k) {
    throw new RangeError(`Expected a class index 0-${k - 1} for predicted but received ${String(predicted)}`);
  }
  confusion[actual][predicted]++;
}

/** The confusion matrix of paired true and predicted class indices. */
export function confusionMatrix(
  actual: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classes: number,
): number[][] {
  if (actual.length !== predicted.length) {
    throw new RangeError(
      `Expected as many predictions as true labels but received ${predicted.length} and ${actual.length}`,
    );
  }
  const confusion = emptyConfusion(classes);
  for (let i = 0; i < actual.length; i++) addPrediction(confusion, actual[i], predicted[i]);
  return confusion;
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

/** Accuracy, per-class precision / recall / F1 / support and their macro means. */
export function metricsFromConfusion(confusion: readonly (readonly number[])[]): ClassificationMetrics {
  const k = confusion.length;
  if (k === 0 || confusion.some((row) => row.length !== k)) {
    throw new RangeError(`Expected a square, non-empty confusion matrix but received ${k} rows`);
  }
  let n = 0;
  let correct = 0;
  const columnSums = new Array<number>(k).fill(0);
  for (let t = 0; t < k; t++) {
    for (let p = 0; p < k; p++) {
      const count = confusion[t][p];
      if (!Number.isInteger(count) || count < 0) {
        throw new RangeError(`Expected counts (integers >= 0) but received ${String(count)} at [${t}][${p}]`);
      }
      n += count;
      columnSums[p] += count;
      if (t === p) correct += count;
    }
  }
  const perClass = confusion.map((row, c): ClassMetrics => {
    const support = row.reduce((a, b) => a + b, 0);
    const precision = ratio(row[c], columnSums[c]);
    const recall = ratio(row[c], support);
    return { precision, recall, f1: ratio(2 * precision * recall, precision + recall), n: support };
  });
  const present = perClass.filter((m) => m.n > 0);
  const mean = (key: 'precision' | 'recall' | 'f1'): number =>
    ratio(
      present.reduce((a, m) => a + m[key], 0),
      present.length,
    );
  return {
    n,
    correct,
    accuracy: ratio(correct, n),
    perClass,
    macro: { precision: mean('precision'), recall: mean('recall'), f1: mean('f1') },
    confusion: confusion.map((row) => [...row]),
  };
}
