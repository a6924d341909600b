import { isMoodLensError, type ErrorCode } from '../core/errors.js';
import type { Image } from '../core/image.js';
import { readImage } from '../io/node/read-image.js';
import type { CliIo } from './main.js';
import { Progress } from './progress.js';

/** The JSON entry of an input that failed: its path and the coded error. */
export interface FileError {
  readonly file: string;
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

/** What a per-image handler returns: the JSON entry for the file and its face count. */
export interface ImageOutcome<R> {
  readonly entry: R;
  readonly faces: number;
  /** Human-readable lines for stdout (without --json). */
  readonly text: string;
}

/** The JSON entry of an image read successfully by a command that lists its faces. */
export interface FaceListEntry<F> {
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly faces: readonly F[];
}

/**
 * The outcome of an image whose JSON entry is a {@link FaceListEntry}: the text is a header line
 * (`photo.jpg: 2 faces (640x480)`) followed by `lines` (each ending with a newline).
 */
export function faceListOutcome<F>(
  file: string,
  image: { readonly width: number; readonly height: number },
  faces: readonly F[],
  lines: string,
): ImageOutcome<FaceListEntry<F>> {
  const { width, height } = image;
  return {
    entry: { file, width, height, faces },
    faces: faces.length,
    text: `${file}: ${plural(faces.length, 'face')} (${width}x${height})\n${lines}`,
  };
}

export interface BatchSummary<R> {
  readonly results: Array<R | FileError>;
  readonly failed: number;
  readonly faces: number;
}

/**
 * Reads each input in turn and hands it to `handle`. A coded error belongs to its input (reported on
 * stderr and as a JSON error entry) and the others still run; anything else is a bug and propagates.
 * Shows progress on stderr for several inputs and ends with a count line.
 */
export async function processImages<R>(
  command: string,
  inputs: readonly string[],
  options: { readonly json: boolean; readonly maxPixels: number | undefined },
  io: CliIo,
  handle: (file: string, image: Image) => Promise<ImageOutcome<R>>,
): Promise<BatchSummary<R>> {
  const started = performance.now();
  const progress =
    inputs.length > 1
      ? new Progress({ total: inputs.length, write: io.stderr, isTTY: io.isTTY, label: command })
      : undefined;
  const results: Array<R | FileError> = [];
  let failed = 0;
  let faces = 0;
  for (const file of inputs) {
    try {
      const image = await readImage(
        file,
        options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels },
      );
      const outcome = await handle(file, image);
      results.push(outcome.entry);
      faces += outcome.faces;
      if (!options.json) {
        progress?.clear();
        io.stdout(outcome.text);
      }
    } catch (error) {
      if (!isMoodLensError(error)) throw error;
      failed++;
      results.push({ file, error: { code: error.code, message: error.message } });
      progress?.clear();
      io.stderr(`moodlens: ${file}: ${error.message} (${error.code})\n  ${error.hint}\n`);
    }
    progress?.tick();
  }
  progress?.finish();
  if (options.json) io.stdout(`${JSON.stringify(results, null, 2)}\n`);
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  io.stderr(
    `moodlens ${command}: ${plural(faces, 'face')} in ${plural(results.length - failed, 'image')}` +
      `${failed > 0 ? `, ${failed} failed` : ''} (${seconds} s)\n`,
  );
  return { results, failed, faces };
}

export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
