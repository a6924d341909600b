/**
 * What a video file holds, read from `ffmpeg -i FILE` (its stderr stream listing; ffprobe is not needed,
 * and the npm package ships only ffmpeg). Also the checks every video input goes through first: the path
 * exists, is a file, is not empty, and holds a video stream that is not a still image.
 */
import { execFile } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { MoodLensError } from '../../../core/errors.js';
import { inputFileError } from '../file-errors.js';
import type { FfmpegBinary } from './locate.js';

export interface VideoInfo {
  readonly file: string;
  /** ffmpeg's demuxer name (e.g. `mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, `gif`). */
  readonly format: string;
  /** Codec of the first video stream (e.g. `h264`, `vp9`, `gif`). */
  readonly codec: string;
  /** Frame size as decoded, after the stream's rotation is applied (ffmpeg rotates by default). */
  readonly width: number;
  readonly height: number;
  /** Rotation from the stream's metadata, in degrees (0 when none). */
  readonly rotation: number;
  /** Frames per second (the stream's `fps`, else `tbr`); 25 when the file states neither. */
  readonly fps: number;
  /** Whether `fps` was stated by the file (false: the 25 fallback). */
  readonly fpsKnown: boolean;
  /** Duration in seconds from the container, when it states one. */
  readonly duration: number | undefined;
  /** `round(duration * fps)` when both are known: the frames a complete decode should give. */
  readonly expectedFrames: number | undefined;
  readonly hasAudio: boolean;
  /** File size in bytes. */
  readonly bytes: number;
}

/** Demuxers that open a single still image (or text) as a one-frame "video": refused, with a pointer. */
const STILL_IMAGE_FORMATS = /^(image2|[a-z0-9]+_pipe|tty)$/;

/** `ffmpeg -i` run time limit: probing reads only the start of the file. */
const PROBE_TIMEOUT_MS = 30_000;

const FALLBACK_FPS = 25;

/** Checks the path is a non-empty file; returns its size. */
export async function checkInputFile(file: string): Promise<number> {
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    throw inputFileError(file, error);
  }
  if (!info.isFile()) throw new MoodLensError('MOODLENS_ERR_NOT_A_FILE', `Not a file: ${file}`);
  if (info.size === 0)
    throw new MoodLensError('MOODLENS_ERR_EMPTY_INPUT', `Empty input: ${file} has no bytes`);
  return info.size;
}

/** Whether the file starts like an ISO-BMFF (MP4/MOV) file: an `ftyp` box in its first 12 bytes. */
async function looksLikeMp4(file: string): Promise<boolean> {
  const handle = await open(file, 'r').catch((error: unknown) => {
    throw inputFileError(file, error);
  });
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(12), 0, 12, 0);
    return bytesRead >= 8 && buffer.toString('latin1', 4, 8) === 'ftyp';
  } finally {
    await handle.close();
  }
}

function runFfmpegInfo(ffmpeg: FfmpegBinary, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // `-i` alone exits 1 ("At least one output file must be specified") after listing the streams.
    execFile(
      ffmpeg.path,
      ['-hide_banner', '-nostdin', '-i', file],
      { timeout: PROBE_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024, windowsHide: true },
      (error, _stdout, stderr) => {
        if (error?.killed) {
          reject(new MoodLensError('MOODLENS_ERR_NOT_A_VIDEO', `ffmpeg could not read ${file} within 30 s`));
          return;
        }
        resolve(stderr);
      },
    );
  });
}

/** `00:01:02.50` to seconds. */
function parseClock(text: string): number | undefined {
  const m = /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(text);
  return m === null ? undefined : Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

/** `29.97`, `25`, `1k` to a number. */
function parseRate(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^([\d.]+)(k?)$/.exec(text);
  if (m === null) return undefined;
  const value = Number(m[1]) * (m[2] === 'k' ? 1000 : 1);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * Parses the stream listing of `ffmpeg -i` (exported for tests). Throws NOT_A_VIDEO when there is no
 * video stream or the input is a still image.
 */
export function parseFfmpegInfo(stderr: string, file: string, bytes: number): VideoInfo {
  const input = /^Input #0, (.+?), from /m.exec(stderr);
  if (input === null) {
    const reason = stderr.includes('Invalid data found when processing input')
      ? 'ffmpeg does not recognise it as audio or video'
      : (lastLine(stderr) ?? 'ffmpeg could not open it');
    throw new MoodLensError('MOODLENS_ERR_NOT_A_VIDEO', `Not a video: ${file} (${reason})`);
  }
  const format = input[1];
  const lines = stderr.split(/\r?\n/);
  const videoIndex = lines.findIndex((line) => /^\s*Stream #\d+:\d+.*?: Video: /.test(line));
  const hasAudio = lines.some((line) => /^\s*Stream #\d+:\d+.*?: Audio: /.test(line));
  if (videoIndex < 0) {
    throw new MoodLensError(
      'MOODLENS_ERR_NOT_A_VIDEO',
      `No video stream in ${file} (${format}${hasAudio ? ': audio only' : ''})`,
    );
  }
  if (STILL_IMAGE_FORMATS.test(format)) {
    throw new MoodLensError(
      'MOODLENS_ERR_NOT_A_VIDEO',
      `Not a video: ${file} is a still image or text (${format}); use moodlens analyze for photos`,
    );
  }
  const stream = lines[videoIndex];
  const codec = /: Video: ([^\s,]+)/.exec(stream)?.[1] ?? 'unknown';
  const size = /,\s(\d+)x(\d+)/.exec(stream);
  if (size === null) {
    throw new MoodLensError(
      'MOODLENS_ERR_NOT_A_VIDEO',
      `ffmpeg states no frame size for the video in ${file}`,
    );
  }
  // The rotation lines follow the stream line, before the next stream.
  let rotation = 0;
  for (let i = videoIndex + 1; i < lines.length && !/^\s*Stream #/.test(lines[i]); i++) {
    const tag = /^\s*rotate\s*:\s*(-?\d+)/.exec(lines[i]);
    const matrix = /displaymatrix: rotation of (-?[\d.]+) degrees/.exec(lines[i]);
    if (tag !== null) rotation = Number(tag[1]);
    else if (matrix !== null && rotation === 0) rotation = -Number(matrix[1]);
  }
  rotation = ((Math.round(rotation) % 360) + 360) % 360;
  const swap = rotation === 90 || rotation === 270;
  const codedWidth = Number(size[1]);
  const codedHeight = Number(size[2]);
  const statedFps =
    parseRate(/([\d.]+k?) fps/.exec(stream)?.[1]) ?? parseRate(/([\d.]+k?) tbr/.exec(stream)?.[1]);
  const fps = statedFps ?? FALLBACK_FPS;
  const durationText = /Duration: ([\d:.]+)/.exec(stderr)?.[1];
  const duration = durationText === undefined ? undefined : parseClock(durationText);
  return {
    file,
    format,
    codec,
    width: swap ? codedHeight : codedWidth,
    height: swap ? codedWidth : codedHeight,
    rotation,
    fps,
    fpsKnown: statedFps !== undefined,
    duration,
    expectedFrames:
      duration !== undefined && duration > 0 && statedFps !== undefined
        ? Math.round(duration * fps)
        : undefined,
    hasAudio,
    bytes,
  };
}

function lastLine(text: string): string | undefined {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  return lines.at(-1)?.trim();
}

/**
 * Reads a video file's streams. Errors: FILE_NOT_FOUND, NOT_A_FILE, EMPTY_INPUT, NOT_A_VIDEO (not audio or
 * video, a still image, or audio only) and CORRUPT_VIDEO (an MP4/MOV whose index is missing: cut short
 * before the end was written).
 */
export async function probeVideo(ffmpeg: FfmpegBinary, file: string): Promise<VideoInfo> {
  const bytes = await checkInputFile(file);
  const stderr = await runFfmpegInfo(ffmpeg, file);
  try {
    return parseFfmpegInfo(stderr, file, bytes);
  } catch (error) {
    if (stderr.includes('moov atom not found') && (await looksLikeMp4(file))) {
      throw new MoodLensError(
        'MOODLENS_ERR_CORRUPT_VIDEO',
        `Truncated video: ${file} is an MP4/MOV file without its index (moov atom); it was cut short ` +
          'before the recording finished, so no frame can be located',
        { cause: error },
      );
    }
    throw error;
  }
}
