/**
 * The files a `queue add` names: folders expanded (recursively, sorted, hidden entries skipped) into the
 * photos and videos they hold, each path made absolute, and each file's sha256.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { MoodLensError } from '../core/errors.js';
import { inputFileError } from '../io/node/file-errors.js';

export type InputKind = 'photo' | 'video';

export interface QueueInput {
  /** Absolute path. */
  readonly file: string;
  readonly kind: InputKind;
}

const PHOTO_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.bmp']);
const VIDEO_EXTENSIONS = new Set([
  '.mp4',
  '.m4v',
  '.mov',
  '.mkv',
  '.webm',
  '.avi',
  '.mpg',
  '.mpeg',
  '.ts',
  '.wmv',
  '.flv',
  '.3gp',
  '.ogv',
]);

/**
 * Photo or video by extension; undefined for anything else. (GIF counts as a photo, as in `analyze`;
 * queue an animated GIF's frames with `moodlens video` instead.)
 */
export function inputKind(file: string): InputKind | undefined {
  const ext = extname(file).toLowerCase();
  if (PHOTO_EXTENSIONS.has(ext)) return 'photo';
  if (VIDEO_EXTENSIONS.has(ext)) return 'video';
  return undefined;
}

async function walk(folder: string, out: QueueInput[]): Promise<void> {
  const entries = await readdir(folder, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(folder, entry.name);
    if (entry.isDirectory()) await walk(path, out);
    else if (entry.isFile()) {
      const kind = inputKind(path);
      if (kind !== undefined) out.push({ file: path, kind });
    }
  }
}

/**
 * The inputs behind the paths given: a file is taken whatever its extension (an unknown one is queued as
 * a photo, so the worker reports what it is), a folder gives the photos and videos under it.
 * @throws MoodLensError `MOODLENS_ERR_FILE_NOT_FOUND` for a path that does not exist.
 */
export async function expandInputs(paths: readonly string[], cwd = process.cwd()): Promise<QueueInput[]> {
  const out: QueueInput[] = [];
  for (const given of paths) {
    const path = resolve(cwd, given);
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      throw inputFileError(given, error);
    }
    if (info.isDirectory()) await walk(path, out);
    else out.push({ file: path, kind: inputKind(path) ?? 'photo' });
  }
  // One job per file, even when it is named twice (directly and through its folder).
  const seen = new Set<string>();
  return out.filter((input) => !seen.has(input.file) && seen.add(input.file));
}

/**
 * The sha256 of a file's bytes, in hex.
 * @throws MoodLensError `MOODLENS_ERR_FILE_NOT_FOUND` (or NOT_A_FILE) when it cannot be read.
 */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (error) {
    throw inputFileError(file, error);
  }
  return hash.digest('hex');
}

/**
 * Checks that the file at `file` still has the content it was queued with.
 * @throws MoodLensError `MOODLENS_ERR_QUEUE_FILE_CHANGED`, or FILE_NOT_FOUND.
 */
export async function verifyFile(file: string, sha256: string): Promise<void> {
  const actual = await sha256File(file);
  if (actual !== sha256) {
    throw new MoodLensError(
      'MOODLENS_ERR_QUEUE_FILE_CHANGED',
      `File changed since it was queued: ${file} (sha256 ${actual.slice(0, 12)}..., queued ${sha256.slice(0, 12)}...)`,
    );
  }
}
