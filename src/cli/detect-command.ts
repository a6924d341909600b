import type { Box } from '../core/image.js';
import { isMoodLensError, type ErrorCode } from '../core/errors.js';
import { DEFAULT_DETECT_OPTIONS, resolveDetectOptions, type DetectOptions } from '../detect/options.js';
import { availableParallelism } from 'node:os';
import { ParallelFaceDetector } from '../io/node/parallel-detector.js';
import { DEFAULT_MAX_PIXELS, readImage } from '../io/node/read-image.js';
import {
  EXIT_FAILURE,
  EXIT_OK,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
} from './main.js';
import { Progress } from './progress.js';

/** One entry of `moodlens detect --json`: an image's faces, or why it could not be read. */
export type DetectFileResult =
  | {
      readonly file: string;
      readonly width: number;
      readonly height: number;
      readonly faces: readonly { readonly box: Box }[];
    }
  | { readonly file: string; readonly error: { readonly code: ErrorCode; readonly message: string } };

const D = DEFAULT_DETECT_OPTIONS;

const HELP = `Usage: moodlens detect <image...> [options]

Finds faces in each image with OpenCV's Haar cascade (same results as
CascadeClassifier.detectMultiScale) and prints their boxes in image pixels.

Options:
  --json              Print one JSON array on stdout:
                        [{"file", "width", "height", "faces": [{"box": {"x", "y", "width", "height"}}]}]
                      a file that failed appears as {"file", "error": {"code", "message"}}
  --scale-factor F    Step between scales of the search pyramid, above 1 and at most 4
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
                      checked before decoding (default ${DEFAULT_MAX_PIXELS})
  -h, --help          Show this help

Progress goes to stderr (a bar on a terminal when there are several images,
otherwise a final count line), so stdout holds only the results.

Exit codes: 0 every image was read, 1 some image failed, 2 usage error.

Examples:
  moodlens detect photo.jpg
  moodlens detect --json --min-size 40 shots/*.png > faces.json
`;

const OPTIONS = {
  json: { type: 'boolean' },
  'scale-factor': { type: 'string' },
  'min-neighbors': { type: 'string' },
  'min-size': { type: 'string' },
  'max-size': { type: 'string' },
  cascade: { type: 'string' },
  'max-pixels': { type: 'string' },
  threads: { type: 'string' },
} as const;

const NUMERIC_OPTIONS = [
  'scale-factor',
  'min-neighbors',
  'min-size',
  'max-size',
  'max-pixels',
  'threads',
] as const;

/** The parsed and checked arguments of `moodlens detect`. */
export interface DetectArgs {
  readonly inputs: readonly string[];
  readonly json: boolean;
  readonly detectOptions: Required<DetectOptions>;
  readonly cascade: string | undefined;
  readonly maxPixels: number | undefined;
  readonly threads: number;
}

/** Parses `moodlens detect` arguments; throws a usage error (exit 2) naming the flag at fault. */
export function parseDetectArgs(args: readonly string[]): DetectArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, NUMERIC_OPTIONS);
  if (positionals.length === 0) throw usageError('No input images given');

  const detectOptions = resolveDetectOptions({
    scaleFactor: detectOption('--scale-factor', 'scaleFactor', values['scale-factor'], 'number'),
    minNeighbors: detectOption('--min-neighbors', 'minNeighbors', values['min-neighbors'], 'integer'),
    minSize: detectOption('--min-size', 'minSize', values['min-size'], 'integer'),
    maxSize: detectOption('--max-size', 'maxSize', values['max-size'], 'integer'),
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
    inputs: positionals,
    json: values.json === true,
    detectOptions,
    cascade: values.cascade,
    maxPixels,
    threads,
  };
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

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function formatBox(box: Box, index: number): string {
  return `  face ${index + 1}: x=${box.x} y=${box.y} width=${box.width} height=${box.height}\n`;
}

/** `moodlens detect`: loads the detector once, then reads and scans each input in turn. */
export async function runDetect(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseDetectArgs(args);
  const started = performance.now();
  // A cascade that cannot load fails the whole command (runCli reports it with its code and exit code).
  const detector = await ParallelFaceDetector.create({
    cascadePath: parsed.cascade,
    threads: parsed.threads,
  });
  try {
    return await detectAll(parsed, detector, io, started);
  } finally {
    await detector.close();
  }
}

async function detectAll(
  parsed: DetectArgs,
  detector: ParallelFaceDetector,
  io: CliIo,
  started: number,
): Promise<number> {
  const progress =
    parsed.inputs.length > 1
      ? new Progress({ total: parsed.inputs.length, write: io.stderr, isTTY: io.isTTY, label: 'detect' })
      : undefined;
  const results: DetectFileResult[] = [];
  let failed = 0;
  let faceCount = 0;

  for (const file of parsed.inputs) {
    let result: DetectFileResult;
    try {
      const image = await readImage(
        file,
        parsed.maxPixels === undefined ? {} : { maxPixels: parsed.maxPixels },
      );
      const boxes = await detector.detect(image, parsed.detectOptions);
      const faces = boxes.map((b) => ({ box: { x: b.x, y: b.y, width: b.width, height: b.height } }));
      result = { file, width: image.width, height: image.height, faces };
      faceCount += faces.length;
      if (!parsed.json) {
        progress?.clear();
        io.stdout(
          `${file}: ${plural(faces.length, 'face')} (${image.width}x${image.height})\n` +
            faces.map((f, i) => formatBox(f.box, i)).join(''),
        );
      }
    } catch (error) {
      // Coded errors belong to this input and the others still run; anything else is a bug and propagates.
      if (!isMoodLensError(error)) throw error;
      failed++;
      result = { file, error: { code: error.code, message: error.message } };
      progress?.clear();
      io.stderr(`moodlens: ${file}: ${error.message} (${error.code})\n  ${error.hint}\n`);
    }
    results.push(result);
    progress?.tick();
  }
  progress?.finish();

  if (parsed.json) io.stdout(`${JSON.stringify(results, null, 2)}\n`);
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  io.stderr(
    `moodlens detect: ${plural(faceCount, 'face')} in ${plural(results.length - failed, 'image')}` +
      `${failed > 0 ? `, ${failed} failed` : ''} (${seconds} s)\n`,
  );
  return failed > 0 ? EXIT_FAILURE : EXIT_OK;
}

export const detectCommand: CliCommand = {
  name: 'detect',
  help: HELP,
  run: runDetect,
};
