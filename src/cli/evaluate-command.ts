import type { GrayImage } from '../core/image.js';
import { DEFAULT_EMOTION_BATCH_SIZE, type EmotionClassifier } from '../emotion/classifier.js';
import { EMOTION_LABELS, type Emotion } from '../emotion/labels.js';
import {
  addPrediction,
  emptyConfusion,
  metricsFromConfusion,
  type ClassificationMetrics,
} from '../emotion/metrics.js';
import { cropFace } from '../emotion/preprocess.js';
import { DEFAULT_EMOTION_MODEL_PATH, loadEmotionClassifier } from '../io/node/emotion-model.js';
import { FER_USAGES, openFerDataset, type FerDataset, type FerUsage } from '../io/node/fer-dataset.js';
import {
  EXIT_OK,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
} from './main.js';
import { Progress } from './progress.js';

const MAX_BATCH = 1024;

const HELP = `Usage: moodlens evaluate <folder | fer2013.csv> [options]

Measures the emotion model on labelled faces: accuracy, per-class precision,
recall, F1 and count, the confusion matrix and the speed. Each face goes
through the same preprocessing as in analyze, the whole image being the face
crop (made square by repeating edge pixels if needed, resized to 48x48 unless
it is already, histogram-equalized, scaled as the model's metadata says).

Data, in either FER-2013 form:
  <folder>            <folder>/<emotion>/*.jpg|png, one folder per emotion:
                      ${EMOTION_LABELS.join(', ')}
  fer2013.csv         columns emotion,pixels,Usage (48x48 faces, 2304 pixels each)

Options:
  --usage SPLIT       CSV rows to use: ${FER_USAGES.join(', ')} or all
                      (default PublicTest; all rows when the CSV has no Usage column)
  --model FILE        ONNX emotion model (default: the shipped
                      models/emotion/emotion.onnx)
  --batch N           Faces per inference, integer 1-${MAX_BATCH} (default ${DEFAULT_EMOTION_BATCH_SIZE})
  --flip-tta          Also classify each face mirrored and average the two (test-time
                      augmentation; twice the inference)
  --limit N           Only the first N faces, integer >= 1 (default: all); a
                      folder's files are taken in file-name order across classes
  --json              Print one JSON object on stdout:
                        {"n", "accuracy", "perClass": {"angry": {"precision", "recall",
                        "f1", "n"}, ...}, "confusion": [[...]], "imagesPerSecond", ...}
                      confusion rows are the true labels, columns the predicted
                      ones, both in the order of "labels"
  -h, --help          Show this help

Precision, recall or F1 with nothing to divide by (a class never predicted, or
absent) are reported as 0. Speed counts reading, preprocessing and inference.
Progress goes to stderr, so stdout holds only the results.

Exit codes: 0 evaluated, 1 the model or the data could not be read (a folder
or CSV of the wrong shape, a malformed CSV row, a damaged image), 2 usage error.

Examples:
  moodlens evaluate fer2013.csv --usage PrivateTest
  moodlens evaluate data/val --model my-model.onnx --json > report.json
`;

const OPTIONS = {
  usage: { type: 'string' },
  model: { type: 'string' },
  batch: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  'flip-tta': { type: 'boolean' },
} as const;

/** The parsed and checked arguments of `moodlens evaluate`. */
export interface EvaluateArgs {
  readonly data: string;
  readonly usage: FerUsage | 'all' | undefined;
  readonly model: string;
  readonly batch: number;
  readonly limit: number | undefined;
  readonly json: boolean;
  readonly flipAverage: boolean;
}

/** Parses `moodlens evaluate` arguments; throws a usage error (exit 2) naming the flag at fault. */
export function parseEvaluateArgs(args: readonly string[]): EvaluateArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, ['batch', 'limit']);
  if (positionals.length === 0) throw usageError('No data set given (an image folder or fer2013.csv)');
  if (positionals.length > 1) {
    throw usageError(`Expected one data set but received ${positionals.length}: ${positionals.join(' ')}`);
  }
  let usage: FerUsage | 'all' | undefined;
  if (values.usage !== undefined) {
    const match = [...FER_USAGES, 'all' as const].find(
      (u) => u.toLowerCase() === values.usage?.toLowerCase(),
    );
    if (match === undefined) {
      throw usageError(`Expected ${FER_USAGES.join(', ')} or all for --usage but received '${values.usage}'`);
    }
    usage = match;
  }
  let batch = DEFAULT_EMOTION_BATCH_SIZE;
  if (values.batch !== undefined) {
    batch = parseNumberOption('--batch', values.batch, 'integer');
    if (batch < 1 || batch > MAX_BATCH) {
      throw usageError(`Expected an integer from 1 to ${MAX_BATCH} for --batch but received ${values.batch}`);
    }
  }
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = parseNumberOption('--limit', values.limit, 'integer');
    if (limit < 1) throw usageError(`Expected a positive integer for --limit but received ${values.limit}`);
  }
  if (values.model === '') throw usageError('Expected a file path for --model but received an empty string');
  return {
    data: positionals[0],
    usage,
    model: values.model ?? DEFAULT_EMOTION_MODEL_PATH,
    batch,
    limit,
    json: values.json === true,
    flipAverage: values['flip-tta'] === true,
  };
}

/** The report `moodlens evaluate --json` prints. */
export interface EvaluateReport {
  readonly data: string;
  readonly usage: FerUsage | 'all' | null;
  readonly model: string;
  readonly labels: readonly Emotion[];
  readonly n: number;
  readonly accuracy: number;
  readonly perClass: Readonly<Record<Emotion, { precision: number; recall: number; f1: number; n: number }>>;
  readonly macro: ClassificationMetrics['macro'];
  readonly confusion: readonly (readonly number[])[];
  readonly seconds: number;
  readonly imagesPerSecond: number;
}

/** `moodlens evaluate`: loads the model once, streams the faces through it in batches. */
export async function runEvaluate(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseEvaluateArgs(args);
  const dataset = await openFerDataset(parsed.data, { usage: parsed.usage, limit: parsed.limit });
  const classifier = await loadEmotionClassifier(parsed.model, {
    batchSize: parsed.batch,
    flipAverage: parsed.flipAverage,
  });
  try {
    const report = await evaluate(dataset, classifier, parsed, io);
    io.stdout(parsed.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    io.stderr(
      `moodlens evaluate: ${report.n} faces in ${report.seconds.toFixed(2)} s ` +
        `(${report.imagesPerSecond.toFixed(1)} images/s), accuracy ${percent(report.accuracy)}\n`,
    );
    return EXIT_OK;
  } finally {
    await classifier.dispose();
  }
}

/** Runs every face of `dataset` through the classifier and tallies the confusion matrix. */
export async function evaluate(
  dataset: FerDataset,
  classifier: EmotionClassifier,
  options: { readonly batch: number; readonly model: string },
  io: CliIo,
): Promise<EvaluateReport> {
  const classes = EMOTION_LABELS.length;
  const confusion = emptyConfusion(classes);
  const progress = new Progress({
    total: dataset.size,
    write: io.stderr,
    isTTY: io.isTTY,
    label: 'evaluate',
  });
  const size = classifier.info.inputSize;
  const started = performance.now();
  let faces: GrayImage[] = [];
  let labels: number[] = [];
  const flush = async (): Promise<void> => {
    const results = await classifier.classify(faces);
    results.forEach((result, i) => addPrediction(confusion, labels[i], EMOTION_LABELS.indexOf(result.label)));
    progress.tick(faces.length);
    faces = [];
    labels = [];
  };
  for await (const face of dataset.faces()) {
    // The dataset image is the face crop: the same cropFace as analyze, with the whole image as the box.
    const { width, height } = face.image;
    faces.push(cropFace(face.image, { x: 0, y: 0, width, height }, { margin: 0, size }));
    labels.push(face.label);
    if (faces.length === options.batch) await flush();
  }
  if (faces.length > 0) await flush();
  progress.finish();
  const seconds = (performance.now() - started) / 1000;
  const metrics = metricsFromConfusion(confusion);
  const perClass = {} as Record<Emotion, { precision: number; recall: number; f1: number; n: number }>;
  EMOTION_LABELS.forEach((emotion, c) => {
    const { precision, recall, f1, n } = metrics.perClass[c];
    perClass[emotion] = { precision, recall, f1, n };
  });
  return {
    data: dataset.path,
    usage: dataset.usage ?? null,
    model: options.model,
    labels: EMOTION_LABELS,
    n: metrics.n,
    accuracy: metrics.accuracy,
    perClass,
    macro: metrics.macro,
    confusion: metrics.confusion,
    seconds,
    imagesPerSecond: seconds > 0 ? metrics.n / seconds : 0,
  };
}

function percent(value: number): string {
  return `${(value * 100).toFixed(2)}%`;
}

/** The human-readable report. */
export function formatReport(report: EvaluateReport): string {
  const name = report.usage === null ? report.data : `${report.data} (${report.usage})`;
  const correct = report.confusion.reduce((a, row, i) => a + row[i], 0);
  const lines = [
    `data      ${name}`,
    `model     ${report.model}`,
    `faces     ${report.n}`,
    `accuracy  ${percent(report.accuracy)} (${correct} of ${report.n})`,
    '',
    `${'emotion'.padEnd(10)}${['precision', 'recall', 'f1', 'n'].map((h) => h.padStart(10)).join('')}`,
  ];
  for (const emotion of report.labels) {
    const m = report.perClass[emotion];
    lines.push(
      emotion.padEnd(10) +
        [m.precision, m.recall, m.f1].map((v) => v.toFixed(4).padStart(10)).join('') +
        String(m.n).padStart(10),
    );
  }
  lines.push(
    'macro avg'.padEnd(10) +
      [report.macro.precision, report.macro.recall, report.macro.f1]
        .map((v) => v.toFixed(4).padStart(10))
        .join('') +
      String(report.n).padStart(10),
    '',
    'confusion matrix (rows: true label, columns: predicted)',
  );
  const width = Math.max(
    ...report.labels.map((l) => l.length + 1),
    ...report.confusion.flat().map((v) => String(v).length + 1),
  );
  lines.push(`${'true'.padEnd(10)}${report.labels.map((l) => l.padStart(width)).join('')}`);
  report.confusion.forEach((row, i) => {
    lines.push(report.labels[i].padEnd(10) + row.map((v) => String(v).padStart(width)).join(''));
  });
  lines.push(
    '',
    `speed     ${report.imagesPerSecond.toFixed(1)} images/s (${report.n} faces in ${report.seconds.toFixed(2)} s: ` +
      'reading, preprocessing and inference)',
    '',
  );
  return lines.join('\n');
}

export const evaluateCommand: CliCommand = {
  name: 'evaluate',
  help: HELP,
  run: runEvaluate,
};
