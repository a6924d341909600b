import type { GrayImage } from '../core/image.js';
import { DEFAULT_EMOTION_BATCH_SIZE, type EmotionClassifier } from '../emotion/classifier.js';
import { EMOTION_LABELS, type Emotion } from '../emotion/labels.js';
import {
  addPrediction,
  emptyConfusion,
  metricsFromConfusion,
  type ClassificationMetrics,
} from '../emotion/metrics.js';
import { cropFace, DEFAULT_CROP_FACE_OPTIONS, equalizeHist } from '../emotion/preprocess.js';
import { degrade, degradeSigma } from '../enhance/degrade.js';
import type { FaceEnhancer } from '../enhance/face-enhancer.js';
import { QualityTally } from '../enhance/quality.js';
import { restoreFaces, RESTORE_METHODS, type RestoreMethod } from '../enhance/restore.js';
import { loadEmotionClassifier, resolveEmotionModelPath } from '../io/node/emotion-model.js';
import { DEFAULT_ENHANCE_MODEL_PATH, loadFaceEnhancer } from '../io/node/enhance-model.js';
import { FER_USAGES, openFerDataset, type FerDataset, type FerUsage } from '../io/node/fer-dataset.js';
import {
  EXIT_OK,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
  type CommandOptionValues,
} from './main.js';
import { Progress } from './progress.js';

const MAX_BATCH = 1024;

/** Side of the faces evaluated: the emotion model's input (the only size MoodLens's classifier takes). */
const FACE_SIZE = DEFAULT_CROP_FACE_OPTIONS.size;

/** The factors --degrade accepts: the divisors of the face side from 2 on. */
const DEGRADE_FACTORS = Array.from({ length: FACE_SIZE - 1 }, (_, i) => i + 2).filter(
  (f) => FACE_SIZE % f === 0,
);

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
  --model FILE        ONNX emotion model, or a shipped one by name: default
                      (models/emotion/emotion.onnx, the default) or accurate
                      (models/emotion/emotion-ensemble.onnx)
  --batch N           Faces per inference, integer 1-${MAX_BATCH} (default ${DEFAULT_EMOTION_BATCH_SIZE})
  --flip-tta          Also classify each face mirrored and average the two (test-time
                      augmentation; twice the inference)
  --limit N           Only the first N faces, integer >= 1 (default: all); a
                      folder's files are taken in file-name order across classes
  --degrade F         Measure on low-resolution faces: each ${FACE_SIZE}x${FACE_SIZE} face is blurred
                      (Gaussian, sigma F/4) and averaged over FxF blocks, as the
                      super-resolution training degrades faces; F one of
                      ${DEGRADE_FACTORS.join(', ')}. The report adds the PSNR and SSIM of the
                      restored faces (before equalization) against the originals
  --enhance METHOD    How a degraded face is brought back to ${FACE_SIZE}x${FACE_SIZE} (needs --degrade):
                        none     the classifier's own enlargement (default)
                        bicubic  PyTorch's bicubic, rounded (FSRNet's input)
                        fsrnet   the FSRNet super-resolution model
  --enhance-model FILE
                      Super-resolution model for --enhance fsrnet (default: the shipped
                      models/enhance/fsrnet.onnx, which brings its specialists fsrnet-x2.onnx
                      and fsrnet-x4.onnx: each face goes to the one trained nearest its
                      enlargement; any other file runs alone)
  --json              Print one JSON object on stdout:
                        {"n", "accuracy", "perClass": {"angry": {"precision", "recall",
                        "f1", "n"}, ...}, "confusion": [[...]], "imagesPerSecond",
                        "degrade", "enhance", "psnr", "ssim", ...}
                      confusion rows are the true labels, columns the predicted
                      ones, both in the order of "labels"; "degrade", "enhance",
                      "psnr" (mean dB) and "ssim" (mean) are null without --degrade
  -h, --help          Show this help

Precision, recall or F1 with nothing to divide by (a class never predicted, or
absent) are reported as 0. Speed counts reading, preprocessing and inference.
Progress goes to stderr, so stdout holds only the results.

Exit codes: 0 evaluated, 1 the model or the data could not be read (a folder
or CSV of the wrong shape, a malformed CSV row, a damaged image), 2 usage error.

Examples:
  moodlens evaluate fer2013.csv --usage PrivateTest
  moodlens evaluate data/val --model my-model.onnx --json > report.json
  moodlens evaluate data/val --degrade 4 --enhance fsrnet
`;

const OPTIONS = {
  usage: { type: 'string' },
  model: { type: 'string' },
  batch: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  'flip-tta': { type: 'boolean' },
  degrade: { type: 'string' },
  enhance: { type: 'string' },
  'enhance-model': { type: 'string' },
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
  /** Degradation factor (--degrade), when faces are degraded. */
  readonly degrade: number | undefined;
  /** How degraded faces are restored: set exactly when `degrade` is. */
  readonly enhance: RestoreMethod | undefined;
  /** The super-resolution model, for `enhance` fsrnet. */
  readonly enhanceModel: string | undefined;
}

/** Parses `moodlens evaluate` arguments; throws a usage error (exit 2) naming the flag at fault. */
export function parseEvaluateArgs(args: readonly string[]): EvaluateArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, ['batch', 'limit', 'degrade']);
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
  const { degrade, enhance, enhanceModel } = parseDegradeFlags(values);
  return {
    data: positionals[0],
    usage,
    model: resolveEmotionModelPath(values.model),
    batch,
    limit,
    json: values.json === true,
    flipAverage: values['flip-tta'] === true,
    degrade,
    enhance,
    enhanceModel,
  };
}

function parseDegradeFlags(
  values: CommandOptionValues<typeof OPTIONS>,
): Pick<EvaluateArgs, 'degrade' | 'enhance' | 'enhanceModel'> {
  if (values.degrade === undefined) {
    if (values.enhance !== undefined) {
      throw usageError('--enhance needs --degrade F: it restores the degraded faces');
    }
    if (values['enhance-model'] !== undefined)
      throw usageError('--enhance-model needs --degrade F --enhance fsrnet');
    return { degrade: undefined, enhance: undefined, enhanceModel: undefined };
  }
  const degrade = parseNumberOption('--degrade', values.degrade, 'integer');
  if (!DEGRADE_FACTORS.includes(degrade)) {
    throw usageError(
      `Expected an integer >= 2 that divides the face side ${FACE_SIZE} for --degrade ` +
        `(${DEGRADE_FACTORS.join(', ')}) but received ${values.degrade}`,
    );
  }
  const method = values.enhance ?? 'none';
  if (!(RESTORE_METHODS as readonly string[]).includes(method)) {
    throw usageError(`Expected ${RESTORE_METHODS.join(', ')} for --enhance but received '${method}'`);
  }
  const enhance = method as RestoreMethod;
  const enhanceModel = values['enhance-model'];
  if (enhanceModel === '')
    throw usageError('Expected a path for --enhance-model but received an empty string');
  if (enhanceModel !== undefined && enhance !== 'fsrnet') {
    throw usageError(`--enhance-model applies to --enhance fsrnet, not --enhance ${enhance}`);
  }
  return {
    degrade,
    enhance,
    enhanceModel: enhance === 'fsrnet' ? (enhanceModel ?? DEFAULT_ENHANCE_MODEL_PATH) : undefined,
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
  /** The --degrade factor, or null. */
  readonly degrade: number | null;
  /** How degraded faces were restored, or null. */
  readonly enhance: RestoreMethod | null;
  /** The super-resolution model, with --enhance fsrnet; else null. */
  readonly enhanceModel: string | null;
  /** Mean PSNR (dB) of the restored faces against the originals, or null without --degrade. */
  readonly psnr: number | null;
  /** Mean SSIM of the restored faces against the originals, or null without --degrade. */
  readonly ssim: number | null;
}

/** How the faces are degraded and restored, for {@link evaluate}. */
export interface DegradeOptions {
  readonly degrade: number;
  readonly enhance: RestoreMethod;
  /** Required for `enhance` fsrnet. */
  readonly enhancer?: FaceEnhancer;
  readonly enhanceModel?: string;
}

/** `moodlens evaluate`: loads the model once, streams the faces through it in batches. */
export async function runEvaluate(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseEvaluateArgs(args);
  const dataset = await openFerDataset(parsed.data, { usage: parsed.usage, limit: parsed.limit });
  const classifier = await loadEmotionClassifier(parsed.model, {
    batchSize: parsed.batch,
    flipAverage: parsed.flipAverage,
  });
  let enhancer: FaceEnhancer | undefined;
  try {
    if (parsed.enhanceModel !== undefined) {
      enhancer = await loadFaceEnhancer(parsed.enhanceModel, { batchSize: parsed.batch });
    }
    const degradeOptions =
      parsed.degrade === undefined || parsed.enhance === undefined
        ? undefined
        : { degrade: parsed.degrade, enhance: parsed.enhance, enhancer, enhanceModel: parsed.enhanceModel };
    const report = await evaluate(dataset, classifier, parsed, io, degradeOptions);
    io.stdout(parsed.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    io.stderr(
      `moodlens evaluate: ${report.n} faces in ${report.seconds.toFixed(2)} s ` +
        `(${report.imagesPerSecond.toFixed(1)} images/s), accuracy ${percent(report.accuracy)}\n`,
    );
    return EXIT_OK;
  } finally {
    await enhancer?.dispose();
    await classifier.dispose();
  }
}

/**
 * Runs every face of `dataset` through the classifier and tallies the confusion matrix; with `degraded`,
 * each face is degraded and restored first, and the restored faces are measured against the originals.
 */
export async function evaluate(
  dataset: FerDataset,
  classifier: EmotionClassifier,
  options: { readonly batch: number; readonly model: string },
  io: CliIo,
  degraded?: DegradeOptions,
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
  let originals: GrayImage[] = [];
  const quality = new QualityTally();
  const flush = async (): Promise<void> => {
    if (degraded !== undefined) {
      const restored = await restoreFaces(faces, degraded.enhance, size, degraded.enhancer);
      restored.forEach((face, i) => quality.add(face, originals[i]));
      faces = restored.map(equalizeHist);
      originals = [];
    }
    const results = await classifier.classify(faces);
    results.forEach((result, i) => addPrediction(confusion, labels[i], EMOTION_LABELS.indexOf(result.label)));
    progress.tick(faces.length);
    faces = [];
    labels = [];
  };
  for await (const face of dataset.faces()) {
    // The dataset image is the face crop: the same cropFace as analyze, with the whole image as the box.
    const { width, height } = face.image;
    const whole = { x: 0, y: 0, width, height };
    if (degraded === undefined) faces.push(cropFace(face.image, whole, { margin: 0, size }));
    else {
      const original = cropFace(face.image, whole, { margin: 0, size, equalize: false });
      originals.push(original);
      faces.push(degrade(original, degraded.degrade));
    }
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
    degrade: degraded?.degrade ?? null,
    enhance: degraded?.enhance ?? null,
    enhanceModel: degraded?.enhanceModel ?? null,
    psnr: degraded === undefined ? null : quality.psnr,
    ssim: degraded === undefined ? null : quality.ssim,
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
    ...degradeLines(report),
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

/** The report lines about degradation and restoration (none without --degrade). */
function degradeLines(report: EvaluateReport): string[] {
  if (report.degrade === null || report.psnr === null || report.ssim === null) return [];
  const f = report.degrade;
  const small = FACE_SIZE / f;
  const how =
    report.enhance === 'fsrnet'
      ? `FSRNet (${report.enhanceModel ?? 'shipped model'})`
      : report.enhance === 'bicubic'
        ? 'bicubic'
        : "the classifier's own enlargement";
  return [
    `degraded  x${f}: blurred (sigma ${degradeSigma(f)}), ${FACE_SIZE}x${FACE_SIZE} -> ${small}x${small}`,
    `restored  by ${how}`,
    `quality   PSNR ${report.psnr.toFixed(2)} dB, SSIM ${report.ssim.toFixed(4)} (restored vs original, mean per face)`,
  ];
}

export const evaluateCommand: CliCommand = {
  name: 'evaluate',
  help: HELP,
  run: runEvaluate,
};
