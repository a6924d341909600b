import { availableParallelism } from 'node:os';
import { DEFAULT_DETECT_OPTIONS, resolveDetectOptions, type DetectOptions } from '../detect/options.js';
import { DEFAULT_MAX_PIXELS } from '../io/node/read-image.js';
import { parseNumberOption, usageError, type CommandOptionValues } from './main.js';

/** The face-detector and image-reading flags every image command shares (detect, analyze, ...). */
export const DETECTOR_OPTIONS = {
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
] as const;

/**
 * Help lines for the shared flags, each with its default: `defaults` are the command's (OpenCV's for
 * `detect` and `landmarks`, APP_DETECT_OPTIONS for `analyze` and `video`).
 */
export function detectorHelp(D: Required<DetectOptions> = DEFAULT_DETECT_OPTIONS): string {
  return `  --scale-factor F    Step between scales of the search pyramid, above 1 and at most 4
                      (default ${D.scaleFactor}); smaller is slower and finds more
  --min-neighbors N   Overlapping raw hits a face needs, integer >= 0 (default ${D.minNeighbors});
                      higher gives fewer false faces
  --min-size PX       Smallest face side in pixels, integer >= 0 (default ${D.minSize}: no minimum)
  --max-size PX       Largest face side in pixels, integer >= 0 (default ${D.maxSize}: up to the image size)
  --cascade FILE      OpenCV cascade XML to use (default: the shipped
                      haarcascade_frontalface_default.xml)
  --threads N         Threads for the scan, integer 1-8 (default: the cores available, at most 8);
                      results are identical for any count
  --max-pixels N      Refuse images with more than N pixels (width x height), integer >= 1,
                      checked before decoding (default ${DEFAULT_MAX_PIXELS})`;
}

/** Help lines for the shared flags with OpenCV's defaults. */
export const DETECTOR_HELP = detectorHelp();

export interface DetectorFlags {
  readonly detectOptions: Required<DetectOptions>;
  readonly cascade: string | undefined;
  readonly maxPixels: number | undefined;
  readonly threads: number;
}

/**
 * Checks the shared flags; throws a usage error (exit 2) naming the flag, the expectation and the value.
 * Flags not given take `defaults` (OpenCV's unless the command has its own).
 */
export function parseDetectorFlags(
  values: CommandOptionValues<typeof DETECTOR_OPTIONS>,
  defaults: Required<DetectOptions> = DEFAULT_DETECT_OPTIONS,
): DetectorFlags {
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
  return { detectOptions, cascade: values.cascade, maxPixels, threads };
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
