/**
 * The face300w landmark set (870 Helen crops, 256x256, human 300-W labels): unpacked once from the shared
 * archive into .cache/face300w, as the FER-2013 cache is.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import type { Box, GrayImage } from '../../src/core/image.js';
import { toGray } from '../../src/image/gray.js';
import { loadFaceDetector } from '../../src/io/node/cascade-file.js';
import { readImage } from '../../src/io/node/read-image.js';
import type { Point } from '../../src/landmarks/points.js';
import { REPO_ROOT } from './opencv.js';

/** The face300w archive beside the clone; override with MOODLENS_FACE300W_ARCHIVE. */
export const FACE300W_ARCHIVE =
  process.env.MOODLENS_FACE300W_ARCHIVE ??
  join(REPO_ROOT, '..', 'shared', 'data', 'face300w', 'face300w-train.tar.gz');

/** Unpacked once here (git-ignored). */
export const FACE300W_CACHE = join(REPO_ROOT, '.cache', 'face300w');

/**
 * The face300w folder (landmarks.json + images/): `dir` when given, else MOODLENS_FACE300W, else the
 * archive unpacked into .cache/face300w once (atomic: extracted aside, then renamed into place).
 */
export async function ensureFace300w(dir = process.env.MOODLENS_FACE300W): Promise<string> {
  if (dir !== undefined) {
    if (!existsSync(join(dir, 'landmarks.json')))
      throw new Error(`face300w not found: ${dir}/landmarks.json`);
    return dir;
  }
  if (existsSync(join(FACE300W_CACHE, 'landmarks.json'))) return FACE300W_CACHE;
  if (!existsSync(FACE300W_ARCHIVE)) {
    throw new Error(`face300w archive not found: ${FACE300W_ARCHIVE} (give --data DIR or MOODLENS_FACE300W)`);
  }
  await mkdir(dirname(FACE300W_CACHE), { recursive: true });
  const scratch = await mkdtemp(join(dirname(FACE300W_CACHE), 'face300w-unpack-'));
  try {
    await promisify(execFile)('tar', ['xzf', FACE300W_ARCHIVE, '-C', scratch]);
    await rename(join(scratch, 'face300w'), FACE300W_CACHE).catch((error: unknown) => {
      if (!existsSync(FACE300W_CACHE)) throw error;
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return FACE300W_CACHE;
}

interface Face300wItem {
  readonly image: string;
  readonly points: [number, number][];
}

export interface LabelledFace {
  readonly index: number;
  readonly name: string;
  readonly gray: GrayImage;
  readonly truth: readonly Point[];
  /** The largest Haar box (defaults 1.1 / 3), as training picks it; undefined when none. */
  readonly box: Box | undefined;
}

/**
 * The faces of face300w, each with its largest Haar box: the held-out tenth (indices 0, 10, 20, ..., as
 * training holds them out), all, or those whose index `which` accepts.
 */
export async function loadFace300w(
  dir: string,
  which: 'heldout' | 'all' | ((index: number) => boolean),
): Promise<LabelledFace[]> {
  const meta = JSON.parse(await readFile(join(dir, 'landmarks.json'), 'utf8')) as { items: Face300wItem[] };
  const detector = await loadFaceDetector();
  const faces: LabelledFace[] = [];
  for (const [index, item] of meta.items.entries()) {
    if (which === 'heldout' ? index % 10 !== 0 : which !== 'all' && !which(index)) continue;
    const gray = toGray(await readImage(join(dir, item.image)));
    const boxes = detector.detect(gray);
    const box =
      boxes.length === 0
        ? undefined
        : boxes.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
    faces.push({ index, name: item.image, gray, truth: item.points, box });
  }
  return faces;
}
