/**
 * A corpus of bad inputs, made at test time in a folder of its own: damaged and mislabelled images and
 * videos, paths that cannot be read (missing, a folder, a symlink loop, a dangling link, a name too long)
 * and bad session records, each with the MoodLens error code it must give.
 */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { ErrorCode } from '../../src/core/errors.js';
import { pngBomb } from './png.js';

export interface BadInput {
  /** The file name as given on the command line (inside the corpus folder). */
  readonly name: string;
  readonly code: ErrorCode;
  /** Whether the file has bytes an HTTP client could upload (paths that cannot be read have none). */
  readonly uploadable: boolean;
}

export interface BadCorpus {
  readonly dir: string;
  /** A small photo with one face: the input that must still succeed beside the bad ones. */
  readonly goodImage: string;
  readonly images: readonly BadInput[];
  readonly videos: readonly BadInput[];
  readonly records: readonly BadInput[];
}

/** A name over the 255 bytes a file name may have on Linux file systems. */
export const LONG_NAME = `${'n'.repeat(300)}`;

/** The same seeded damage every run: `count` bytes past `from`, each with one bit flipped. */
export function flipBits(bytes: Uint8Array, count: number, from: number, seed = 7): Uint8Array {
  const out = new Uint8Array(bytes);
  let state = seed;
  const next = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = 0; i < count; i++) {
    const at = from + Math.floor(next() * (out.length - 2 - from));
    out[at] ^= 1 << Math.floor(next() * 8);
  }
  return out;
}

function sosEnd(jpeg: Uint8Array): number {
  for (let i = 0; i + 3 < jpeg.length; i++) {
    if (jpeg[i] === 0xff && jpeg[i + 1] === 0xda) return i + 2 + ((jpeg[i + 2] << 8) | jpeg[i + 3]);
  }
  throw new Error('no SOS marker');
}

/** Writes the corpus into `dir` (which must exist and be empty). */
export async function makeBadCorpus(dir: string, astronautPng: string, clip: string): Promise<BadCorpus> {
  const at = (name: string): string => join(dir, name);
  const photo = sharp(astronautPng).resize(256);
  const png = await photo.clone().png().toBuffer();
  const jpeg = await photo.clone().jpeg({ quality: 90 }).toBuffer();
  await writeFile(at('good.png'), png);

  const images: BadInput[] = [];
  const file = async (name: string, bytes: Uint8Array | string, code: ErrorCode, list: BadInput[]) => {
    await writeFile(at(name), bytes);
    list.push({ name, code, uploadable: true });
  };
  const unreadable = async (kind: 'png' | 'mp4' | 'csv', list: BadInput[]) => {
    await mkdir(at(`a-folder.${kind}`));
    list.push({ name: `a-folder.${kind}`, code: 'MOODLENS_ERR_NOT_A_FILE', uploadable: false });
    list.push({ name: `missing.${kind}`, code: 'MOODLENS_ERR_FILE_NOT_FOUND', uploadable: false });
    await symlink(`loop-b.${kind}`, at(`loop-a.${kind}`));
    await symlink(`loop-a.${kind}`, at(`loop-b.${kind}`));
    list.push({ name: `loop-a.${kind}`, code: 'MOODLENS_ERR_FILE_NOT_FOUND', uploadable: false });
    await symlink(join(dir, 'nowhere', 'x'), at(`dangling.${kind}`));
    list.push({ name: `dangling.${kind}`, code: 'MOODLENS_ERR_FILE_NOT_FOUND', uploadable: false });
    list.push({ name: `${LONG_NAME}.${kind}`, code: 'MOODLENS_ERR_FILE_NOT_FOUND', uploadable: false });
  };

  await file('empty.png', new Uint8Array(0), 'MOODLENS_ERR_EMPTY_INPUT', images);
  await file('text.png', 'not a picture\n', 'MOODLENS_ERR_NOT_AN_IMAGE', images);
  await file(
    'drawing.svg',
    '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
    'MOODLENS_ERR_NOT_AN_IMAGE',
    images,
  );
  await file('truncated.png', png.subarray(0, png.length >> 1), 'MOODLENS_ERR_CORRUPT_IMAGE', images);
  await file('header-only.png', png.subarray(0, 40), 'MOODLENS_ERR_CORRUPT_IMAGE', images);
  await file(
    'truncated.jpg',
    jpeg.subarray(0, Math.floor(jpeg.length * 0.7)),
    'MOODLENS_ERR_CORRUPT_IMAGE',
    images,
  );
  await file('bit-flipped.jpg', flipBits(jpeg, 40, sosEnd(jpeg)), 'MOODLENS_ERR_CORRUPT_IMAGE', images);
  await file('bomb.png', pngBomb(20_000, 20_000), 'MOODLENS_ERR_TOO_MANY_PIXELS', images);
  await unreadable('png', images);

  const videos: BadInput[] = [];
  const mp4 = await readFile(clip);
  await file('empty.mp4', new Uint8Array(0), 'MOODLENS_ERR_EMPTY_INPUT', videos);
  await file('text.mp4', 'not a video\n', 'MOODLENS_ERR_NOT_A_VIDEO', videos);
  await file('photo.mp4', png, 'MOODLENS_ERR_NOT_A_VIDEO', videos);
  await file('header-only.mp4', mp4.subarray(0, 2048), 'MOODLENS_ERR_NOT_A_VIDEO', videos);
  await unreadable('mp4', videos);

  const records: BadInput[] = [];
  await file('empty.csv', '', 'MOODLENS_ERR_EMPTY_INPUT', records);
  await file('not-records.csv', 'name,age\nada,36\n', 'MOODLENS_ERR_INVALID_FRAMES', records);
  await file('broken.json', '[{"frame": 0, ', 'MOODLENS_ERR_INVALID_FRAMES', records);
  await file('binary.csv', png, 'MOODLENS_ERR_INVALID_FRAMES', records);
  await unreadable('csv', records);

  return { dir, goodImage: 'good.png', images, videos, records };
}
