/** Test videos made with ffmpeg at test time (small, in a temporary folder). */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { FfmpegBinary } from '../../src/io/node/ffmpeg/locate.js';

const execFileAsync = promisify(execFile);

/** Runs ffmpeg quietly with the given arguments (after `-y`). */
export async function ffmpegRun(ffmpeg: FfmpegBinary, args: readonly string[]): Promise<void> {
  await execFileAsync(ffmpeg.path, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], {
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** ffmpeg's test pattern (`testsrc`) for `seconds` at `size` and `rate`, encoded as `codecArgs` into `out`. */
export async function testPattern(
  ffmpeg: FfmpegBinary,
  out: string,
  options: { seconds?: number; size?: string; rate?: number; codec?: readonly string[] } = {},
): Promise<string> {
  const {
    seconds = 2,
    size = '320x240',
    rate = 25,
    codec = ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'],
  } = options;
  await ffmpegRun(ffmpeg, [
    '-f',
    'lavfi',
    '-i',
    `testsrc=size=${size}:rate=${rate}`,
    '-t',
    String(seconds),
    ...codec,
    out,
  ]);
  return out;
}

/** Keeps the first `fraction` of a file's bytes (a download or recording cut short). */
export async function truncateFile(source: string, out: string, fraction: number): Promise<string> {
  const bytes = await readFile(source);
  await writeFile(out, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  return out;
}
