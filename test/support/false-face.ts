/**
 * A real photo with a false face: frame 141 of examples/astronaut-pan.mp4, where the Haar cascade (scale
 * 1.1, 4 neighbours) finds the astronaut's face and a 185 px "face" on her spacesuit; the false-face check
 * drops the second (docs/people-tracking.md).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { locateFfmpeg } from '../../src/io/node/ffmpeg/locate.js';
import { REPO_ROOT } from './opencv.js';

const execFileAsync = promisify(execFile);

/** The frame's real face and its false one, as the detector boxes them. */
export const PAN_FRAME_FACE = { x: 257, y: 56, width: 140, height: 140 };
export const PAN_FRAME_FALSE_FACE = { x: 416, y: 145, width: 185, height: 185 };

/** Writes frame 141 of the example clip as a PNG at `path`. */
export async function writePanFrame(path: string): Promise<void> {
  const ffmpeg = await locateFfmpeg();
  await execFileAsync(ffmpeg.path, [
    '-loglevel',
    'error',
    '-y',
    '-i',
    join(REPO_ROOT, 'examples', 'astronaut-pan.mp4'),
    '-vf',
    'select=eq(n\\,141)',
    '-vsync',
    '0',
    '-frames:v',
    '1',
    path,
  ]);
}
