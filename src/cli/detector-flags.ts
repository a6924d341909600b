import { availableParallelism } from 'node:os';
import {
  DEFAULT_DETECTOR,
  DETECTOR_KINDS,
  isDetectorKind,
  type DetectorKind,
} from '../detect/detector-kind.js';
import { DEFAULT_DETECT_OPTIONS, resolveDetectOptions, type DetectOptions } from '../detect/options.js';
import { DEFAULT_MAX_PIXELS } from '../io/node/read-image.js';
import { parseNumberOption, usageError, type CommandOptionValues } from './main.js';

/** The face-detector and image-reading flags every image command shares (detect, analyze, ...). */
export const DETECTOR_OPTIONS = {
  detector: { type: 'string' },
  'detector-model': { type: 'string' },
  'min-score': { type: 'string' },
  'fine-long-side': { type: 'string' },
  mirror: { type: 'boolean' },
  'scale-factor': { type: 'string' },
  'min-neighbors': { type: 'string' },
  'min-size': { type: 'string' },
  'max-size': { type: 'string' },
  cascade: { type: 'string' },
  'max-pixels': { type: 'string' },
  threads: { type: 'string' },
} as const;

export const DETECTOR_NUMERIC_OPTIONS = [
  'scale-factor',
  'min-neighbors',
  'min-size',
  'max-size',
  'max-pixels',
  'threads',
  'min-score',
  'fine-long-side',
] as const;

/** The flags that mean something to the Haar cascade only. */
const HAAR_ONLY_FLAGS = ['scale-factor', 'min-neighbors', 'cascade'] as const;
/** The flags that mean something to the learned detector only. */
const CNN_ONLY_FLAGS = ['detector-model', 'min-score'] as const;

/** Help lines of `--detector`, `--detector-model` and `--min-score` (commands without Haar flags use them too). */
export const DETECTOR_CHOICE_HELP = `  --detector NAME     Face detector: haar (OpenCV's Haar cascade, OpenCV-exact boxes) or cnn
                      (the learned detector: boxes mapped onto the Haar framing, each with
                      its "score" in --json) (default ${DEFAULT_DETECTOR}; see
                      training/checkpoints/detector/MODEL_CARD.md)
  --detector-model FILE
                      cnn: the detector ONNX file (default: the shipped
                      models/detector/face-detector.onnx)
  --min-score S       cnn: keep faces scoring at least S, a number from 0 to 1 (default: the
                      model's moodlens.score_threshold)`;

/**
 * Help lines for the shared flags, each with its default: `defaults` are the command's (OpenCV's for
 * `detect` and `landmarks`, APP_DETECT_OPTIONS for `analyze` and `video`).
 */
export function detectorHelp(D: Required<DetectOptions> = DEFAULT_DETECT_OPTIONS): string {
  return `${DETECTOR_CHOICE_HELP}
  --fine-long-side PX cnn: long side of the second pass, which adds small faces (default: the
                      model's, 640); 1024 finds more faces in crowds (WIDER FACE val AP hard
                      0.264 -> 0.371, medium 0.558 -> 0.610) at about 1.5x the time; 0: one
                      pass only
  --mirror            cnn: also run the passes on the mirror image and fuse the two views' faces
                      (threshold: the model's moodlens.mirror_score_threshold): about 2.2x
                      the time, fewer false faces at the same recall (see the model card)
  --scale-factor F    haar: step between scales of the search pyramid, above 1 and at most 4
                      (default ${D.scaleFactor}); smaller is slower and finds more
  --min-neighbors N   haar: overlapping raw hits a face needs, integer >= 0 (default ${D.minNeighbors});
                      higher gives fewer false faces
  --min-size PX       Smallest face side in pixels, integer >= 0 (default ${D.minSize}: no minimum)
  --max-size PX       Largest face side in pixels, integer >= 0 (default ${D.maxSize}: up to the image size)
  --cascade FILE      haar: OpenCV cascade XML to use (default: the shipped
                      haarcascade_frontalface_default.xml)
  --threads N         haar: threads for the scan; cnn: ONNX Runtime's threads inside one
                      inference; integer 1-8 (default: the cores available, at most 8);
                      results are identical for any count
  --max-pixels N      Refuse images with more than N pixels (width x height), integer >= 1,
                      checked before decoding (default ${DEFAULT_MAX_PIXELS})`;
}

/** Help lines for the shared flags with OpenCV's defaults. */
export const DETECTOR_HELP = detectorHelp();

export interface DetectorFlags {
  /** Which detector runs (--detector; default {@link DEFAULT_DETECTOR}). */
  readonly detector: DetectorKind;
  /** cnn: the detector model given (undefined: the shipped one). */
  readonly detectorModel: string | undefined;
  /** cnn: the score threshold given (undefined: the model's). */
  readonly minScore: number | undefined;
  /** cnn: the second pass's long side given (undefined: the model's; 0: no second pass). */
  readonly fineLongSide: number | undefined;
  /** cnn: true with --mirror (undefined: the detector's default, off). */
  readonly mirror: true | undefined;
  /** The scan's options; with cnn only `minSize` and `maxSize` apply. */
  readonly detectOptions: Required<DetectOptions>;
  readonly cascade: string | undefined;
  readonly maxPixels: number | undefined;
  readonly threads: number;
}

/** The detector-choice flags as given on a command line. */
export type DetectorChoiceValues = Pick<
  CommandOptionValues<typeof DETECTOR_OPTIONS>,
  'detector' | 'detector-model' | 'min-score'
>;

/** The detector choice of the flags: `--detector`, `--detector-model` and `--min-score`, checked. */
export interface DetectorChoice {
  readonly detector: DetectorKind;
  readonly detectorModel: string | undefined;
  readonly minScore: number | undefined;
}

/**
 * Checks `--detector`, `--detector-model` and `--min-score` (and that no flag of the other detector is
 * given: `haarFlagsGiven` lists the Haar-only flags present); throws a usage error (exit 2) naming the flag.
 */
export function parseDetectorChoice(
  values: DetectorChoiceValues,
  haarFlagsGiven: readonly string[] = [],
): DetectorChoice {
  const raw = values.detector ?? DEFAULT_DETECTOR;
  if (!isDetectorKind(raw)) {
    throw usageError(`Expected ${DETECTOR_KINDS.join(' or ')} for --detector but received '${raw}'`);
  }
  const detector: DetectorKind = raw;
  if (detector === 'cnn' && haarFlagsGiven.length > 0) {
    throw usageError(
      `${haarFlagsGiven.map((f) => `--${f}`).join(', ')} ${haarFlagsGiven.length === 1 ? 'applies' : 'apply'} ` +
        'to --detector haar only (the learned detector has no cascade scan' +
        `${values.detector === undefined ? `; the default detector is ${DEFAULT_DETECTOR}` : ''})`,
    );
  }
  if (detector === 'haar') {
    const given = CNN_ONLY_FLAGS.filter((flag) => values[flag] !== undefined);
    if (given.length > 0) {
      throw usageError(
        `${given.map((f) => `--${f}`).join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to --detector cnn only` +
          `${values.detector === undefined ? ` (the default detector is ${DEFAULT_DETECTOR})` : ''}`,
      );
    }
  }
  if (values['detector-model'] === '') {
    throw usageError('Expected a file path for --detector-model but received an empty string');
  }
  let minScore: number | undefined;
  if (values['min-score'] !== undefined) {
    minScore = parseNumberOption('--min-score', values['min-score']);
    if (!(minScore >= 0 && minScore <= 1)) {
      throw usageError(`Expected a number from 0 to 1 for --min-score but received ${values['min-score']}`);
    }
  }
  return { detector, detectorModel: values['detector-model'], minScore };
}

/**
 * Checks the shared flags; throws a usage error (exit 2) naming the flag, the expectation and the value.
 * Flags not given take `defaults` (OpenCV's unless the command has its own).
 */
export function parseDetectorFlags(
  values: CommandOptionValues<typeof DETECTOR_OPTIONS>,
  defaults: Required<DetectOptions> = DEFAULT_DETECT_OPTIONS,
): DetectorFlags {
  const choice = parseDetectorChoice(
    values,
    HAAR_ONLY_FLAGS.filter((flag) => values[flag] !== undefined),
  );
  const given = {
    scaleFactor: detectOption('--scale-factor', 'scaleFactor', values['scale-factor'], 'number'),
    minNeighbors: detectOption('--min-neighbors', 'minNeighbors', values['min-neighbors'], 'integer'),
    minSize: detectOption('--min-size', 'minSize', values['min-size'], 'integer'),
    maxSize: detectOption('--max-size', 'maxSize', values['max-size'], 'integer'),
  };
  const detectOptions = resolveDetectOptions({
    scaleFactor: given.scaleFactor ?? defaults.scaleFactor,
    minNeighbors: given.minNeighbors ?? defaults.minNeighbors,
    minSize: given.minSize ?? defaults.minSize,
    maxSize: given.maxSize ?? defaults.maxSize,
  });
  let maxPixels: number | undefined;
  if (values['max-pixels'] !== undefined) {
    maxPixels = parseNumberOption('--max-pixels', values['max-pixels'], 'integer');
    if (maxPixels < 1) {
      throw usageError(`Expected a positive integer for --max-pixels but received ${values['max-pixels']}`);
    }
  }
  let threads = Math.min(availableParallelism(), 8);
  if (values.threads !== undefined) {
    threads = parseNumberOption('--threads', values.threads, 'integer');
    if (threads < 1 || threads > 8) {
      throw usageError(`Expected an integer from 1 to 8 for --threads but received ${values.threads}`);
    }
  }
  if (values.cascade === '')
    throw usageError('Expected a file path for --cascade but received an empty string');
  return {
    ...choice,
    fineLongSide: parseFineLongSide(values['fine-long-side'], choice.detector),
    mirror: parseMirror(values.mirror, choice.detector),
    detectOptions,
    cascade: values.cascade,
    maxPixels,
    threads,
  };
}

/** `--mirror`: with the learned detector only. */
function parseMirror(given: boolean | undefined, detector: DetectorKind): true | undefined {
  if (given !== true) return undefined;
  if (detector !== 'cnn') throw usageError('--mirror applies to --detector cnn only');
  return true;
}

/** `--fine-long-side`: 0 or an integer from 64 to 4096, with the learned detector only. */
function parseFineLongSide(raw: string | undefined, detector: DetectorKind): number | undefined {
  if (raw === undefined) return undefined;
  if (detector !== 'cnn') throw usageError('--fine-long-side applies to --detector cnn only');
  const value = parseNumberOption('--fine-long-side', raw, 'integer');
  if (value !== 0 && (value < 64 || value > 4096)) {
    throw usageError(`Expected 0 or an integer from 64 to 4096 for --fine-long-side but received ${raw}`);
  }
  return value;
}

/** Parses one detector option and checks its range with `resolveDetectOptions`, reported under the flag. */
function detectOption(
  flag: string,
  key: keyof DetectOptions,
  raw: string | undefined,
  kind: 'number' | 'integer',
): number | undefined {
  if (raw === undefined) return undefined;
  const value = parseNumberOption(flag, raw, kind);
  try {
    resolveDetectOptions({ [key]: value });
  } catch (error) {
    if (error instanceof RangeError) {
      const message = error.message.includes(` for ${key} `)
        ? error.message.replace(` for ${key} `, ` for ${flag} `)
        : `${flag}: ${error.message}`;
      throw usageError(message);
    }
    throw error;
  }
  return value;
}
