import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MoodLensError } from '../../core/errors.js';
import { createImage, type GrayImage } from '../../core/image.js';
import { EMOTION_LABELS, isEmotion } from '../../emotion/labels.js';
import { toGray } from '../../image/gray.js';
import { readImage } from './read-image.js';

/**
 * Labelled face sets for evaluation, in either form FER-2013 is distributed:
 *
 * - an image folder `<root>/<emotion>/*.{jpg,jpeg,png}` with one sub-folder per emotion name
 *   (`angry`, `disgust`, `fear`, `happy`, `sad`, `surprise`, `neutral`; any subset);
 * - the original `fer2013.csv`: a header naming the columns `emotion`, `pixels` and (optionally) `Usage`,
 *   then one row per face (emotion 0-6, 2,304 space-separated pixels 0-255 of a 48x48 face, row-major,
 *   and its split: Training, PublicTest or PrivateTest), read line by line, never whole.
 */

export type FerUsage = 'Training' | 'PublicTest' | 'PrivateTest';
export const FER_USAGES: readonly FerUsage[] = ['Training', 'PublicTest', 'PrivateTest'];

export interface LabelledFace {
  /** The face, gray: 48x48 from the CSV; the file's own size from a folder. */
  readonly image: GrayImage;
  /** FER-2013 class index, 0-6 (`EMOTION_LABELS[label]`). */
  readonly label: number;
  /** The image file, or `<csv>:<line>`. */
  readonly source: string;
}

export interface FerDatasetOptions {
  /**
   * CSV only: the rows of one split, or `'all'`. Default: PublicTest when the CSV has a Usage column
   * (the validation split: never report Training rows by accident), otherwise all rows.
   */
  readonly usage?: FerUsage | 'all';
  /**
   * At most this many faces: the first ones in the CSV's row order, or in file-name order across the class
   * folders of an image folder (FER's file names are random ids, so the classes come mixed).
   */
  readonly limit?: number;
}

export interface FerDataset {
  readonly kind: 'folder' | 'csv';
  readonly path: string;
  /** The split read (CSV with a Usage column), else undefined. */
  readonly usage: FerUsage | 'all' | undefined;
  /** Number of faces `faces()` yields (after the usage filter and the limit). */
  readonly size: number;
  /** The faces, streamed; each call starts again from the beginning. */
  faces(): AsyncGenerator<LabelledFace>;
}

const FER_SIDE = 48;
const FER_PIXELS = FER_SIDE * FER_SIDE;
const IMAGE_EXTENSIONS = /\.(jpe?g|png)$/i;
/** Images decoded ahead of the consumer in a folder. */
const READ_AHEAD = 8;

const LAYOUT_HELP =
  'expected an image folder <root>/<emotion>/*.jpg|png with emotion folders ' +
  `${EMOTION_LABELS.join(', ')}, or a fer2013.csv with columns emotion,pixels,Usage`;

/** A data set in the wrong shape (exit 1); the expected layout is in the message and the hint. */
function layoutError(message: string): MoodLensError {
  return new MoodLensError('MOODLENS_ERR_INVALID_DATASET', message);
}

/** A usage filter that cannot apply to this data set: the caller's mistake (exit 2). */
function usageFilterError(message: string): MoodLensError {
  return new MoodLensError('MOODLENS_ERR_INVALID_ARGUMENT', message);
}

/** A row whose pixels or label cannot be read: the data is damaged (exit 1). */
function rowError(path: string, line: number, message: string): MoodLensError {
  return new MoodLensError(
    'MOODLENS_ERR_INVALID_DATASET',
    `Malformed row in ${path} line ${line}: ${message}`,
  );
}

/**
 * Opens a labelled data set (image folder or fer2013.csv), checks its layout and counts its faces.
 * @throws MoodLensError `MOODLENS_ERR_FILE_NOT_FOUND` (no such path), `MOODLENS_ERR_INVALID_DATASET`
 *   (an unknown class folder, no faces, a CSV without the needed columns, `usage` on a folder).
 *   Malformed CSV rows and undecodable images fail later, from `faces()`, naming the line or file.
 */
export async function openFerDataset(path: string, options: FerDatasetOptions = {}): Promise<FerDataset> {
  const { limit } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new RangeError(`Expected a positive integer for limit but received ${String(limit)}`);
  }
  const info = await stat(path).catch((cause: unknown) => {
    throw new MoodLensError('MOODLENS_ERR_FILE_NOT_FOUND', `Data set not found: ${path}`, { cause });
  });
  if (info.isDirectory()) {
    if (options.usage !== undefined) {
      throw usageFilterError(`The usage filter applies to a fer2013.csv, not to the image folder ${path}`);
    }
    return openFolder(path, limit);
  }
  return openCsv(path, options.usage, limit);
}

async function openFolder(root: string, limit: number | undefined): Promise<FerDataset> {
  const entries = await readdir(root, { withFileTypes: true });
  const folders = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  const unknown = folders.filter((name) => !isEmotion(name)).sort();
  if (unknown.length > 0) {
    throw layoutError(
      `Unknown class folder${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')} in ${root}: ` +
        LAYOUT_HELP,
    );
  }
  const files: { path: string; name: string; label: number }[] = [];
  for (const [label, emotion] of EMOTION_LABELS.entries()) {
    if (!folders.includes(emotion)) continue;
    const names = await readdir(join(root, emotion));
    for (const name of names) {
      if (IMAGE_EXTENSIONS.test(name) && !name.startsWith('.')) {
        files.push({ path: join(root, emotion, name), name, label });
      }
    }
  }
  if (files.length === 0) throw layoutError(`No face images in ${root}: ${LAYOUT_HELP}`);
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.label - b.label));
  const chosen = limit === undefined ? files : files.slice(0, limit);
  return {
    kind: 'folder',
    path: root,
    usage: undefined,
    size: chosen.length,
    faces: () => readFolderFaces(chosen),
  };
}

async function* readFolderFaces(
  files: readonly { path: string; label: number }[],
): AsyncGenerator<LabelledFace> {
  const decode = async (file: { path: string; label: number }): Promise<LabelledFace> => ({
    image: toGray(await readImage(file.path)),
    label: file.label,
    source: file.path,
  });
  const pending: Promise<LabelledFace>[] = [];
  let next = 0;
  const fill = (): void => {
    while (pending.length < READ_AHEAD && next < files.length) {
      const job = decode(files[next++]);
      job.catch(() => undefined); // reported when awaited below, in order; never unhandled meanwhile
      pending.push(job);
    }
  };
  fill();
  while (pending.length > 0) {
    const face = await pending.shift();
    if (face === undefined) break;
    fill();
    yield face;
  }
}

interface CsvColumns {
  readonly emotion: number;
  readonly pixels: number;
  readonly usage: number | undefined;
  readonly count: number;
}

/** Splits a CSV line into fields, removing surrounding double quotes (the fields hold no commas). */
function splitFields(line: string): string[] {
  return line.split(',').map((f) => {
    const t = f.trim();
    return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
  });
}

/** The lines of a text file, streamed; the file is closed when the loop ends, early or not. */
async function* csvLines(path: string): AsyncGenerator<string> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    yield* lines;
  } finally {
    lines.close();
    stream.destroy();
  }
}

async function readHeader(path: string): Promise<CsvColumns> {
  let header: string | undefined;
  for await (const line of csvLines(path)) {
    header = line.replace(/^\uFEFF/, '');
    break;
  }
  const fields = header === undefined ? [] : splitFields(header).map((f) => f.toLowerCase());
  const emotion = fields.indexOf('emotion');
  const pixels = fields.indexOf('pixels');
  const usage = fields.indexOf('usage');
  if (emotion < 0 || pixels < 0) {
    const what =
      header === undefined
        ? 'is empty'
        : `starts with ${JSON.stringify(header.slice(0, 60))}${header.length > 60 ? '...' : ''}`;
    throw layoutError(`Not a labelled data set: ${path} ${what}; ${LAYOUT_HELP}`);
  }
  return { emotion, pixels, usage: usage < 0 ? undefined : usage, count: fields.length };
}

async function openCsv(
  path: string,
  requested: FerUsage | 'all' | undefined,
  limit: number | undefined,
): Promise<FerDataset> {
  const columns = await readHeader(path);
  if (requested !== undefined && requested !== 'all' && columns.usage === undefined) {
    throw usageFilterError(
      `${path} has no Usage column, so its rows cannot be filtered by usage (${requested})`,
    );
  }
  const usage = columns.usage === undefined ? undefined : (requested ?? 'PublicTest');
  // Counting pass (for progress and --limit): cheap, only the Usage field is looked at.
  let count = 0;
  let lineNumber = 0;
  for await (const line of csvLines(path)) {
    lineNumber++;
    if (lineNumber === 1 || line.trim() === '') continue;
    if (usage === undefined || usage === 'all' || usageOf(line, columns) === usage) count++;
    if (limit !== undefined && count >= limit) break;
  }
  if (count === 0) {
    throw layoutError(
      usage !== undefined && usage !== 'all'
        ? `No ${usage} rows in ${path} (choose another usage: ${FER_USAGES.join(', ')} or all)`
        : `No rows in ${path}`,
    );
  }
  return { kind: 'csv', path, usage, size: count, faces: () => readCsvFaces(path, columns, usage, count) };
}

function usageOf(line: string, columns: CsvColumns): string | undefined {
  if (columns.usage === undefined) return undefined;
  // The Usage column is usually the last: avoid splitting 2,304 pixels just to read it.
  if (columns.usage === columns.count - 1) {
    const last = line.slice(line.lastIndexOf(',') + 1).trim();
    return last.replace(/^"(.*)"$/, '$1');
  }
  return splitFields(line)[columns.usage];
}

async function* readCsvFaces(
  path: string,
  columns: CsvColumns,
  usage: FerUsage | 'all' | undefined,
  count: number,
): AsyncGenerator<LabelledFace> {
  let lineNumber = 0;
  let yielded = 0;
  for await (const line of csvLines(path)) {
    lineNumber++;
    if (lineNumber === 1 || line.trim() === '') continue;
    const fields = splitFields(line);
    if (fields.length !== columns.count) {
      throw rowError(
        path,
        lineNumber,
        `expected ${columns.count} comma-separated fields like the header but found ${fields.length}`,
      );
    }
    if (usage !== undefined && usage !== 'all' && fields[columns.usage ?? 0] !== usage) continue;
    const labelText = fields[columns.emotion];
    const label = /^\d+$/.test(labelText) ? Number(labelText) : -1;
    if (label < 0 || label >= EMOTION_LABELS.length) {
      throw rowError(
        path,
        lineNumber,
        `emotion '${labelText}' is not a class index 0-${EMOTION_LABELS.length - 1}`,
      );
    }
    yield {
      image: parsePixels(fields[columns.pixels], path, lineNumber),
      label,
      source: `${path}:${lineNumber}`,
    };
    if (++yielded >= count) return;
  }
}

function parsePixels(text: string, path: string, line: number): GrayImage {
  const values = text.trim().split(/\s+/);
  if (values.length !== FER_PIXELS) {
    throw rowError(
      path,
      line,
      `expected ${FER_PIXELS} pixel values (${FER_SIDE}x${FER_SIDE}) but found ${text.trim() === '' ? 0 : values.length}`,
    );
  }
  const data = new Uint8Array(FER_PIXELS);
  for (let i = 0; i < FER_PIXELS; i++) {
    const v = values[i];
    const n = /^\d{1,3}$/.test(v) ? Number(v) : 256;
    if (n > 255) throw rowError(path, line, `pixel ${i + 1} is '${v}', not an integer 0-255`);
    data[i] = n;
  }
  return createImage(FER_SIDE, FER_SIDE, 1, data);
}
