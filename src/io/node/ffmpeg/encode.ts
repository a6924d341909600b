/**
 * Writing a video by piping raw RGB frames into ffmpeg (libx264, yuv420p, MP4 with the index at the
 * front). Writes wait for the pipe to drain, so a slow encoder holds the producer back instead of
 * frames piling up in memory. Odd sizes are padded by one black pixel (yuv420p needs even sides).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { ensureDirectory } from '../output-path.js';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { MoodLensError } from '../../../core/errors.js';
import type { Image } from '../../../core/image.js';
import type { FfmpegBinary } from './locate.js';

export interface VideoEncoderOptions {
  readonly width: number;
  readonly height: number;
  /** Output frame rate (frames are shown at this constant rate). */
  readonly fps: number;
  /** x264 constant rate factor, 0-51, lower is better quality. Default 23 (x264's own default). */
  readonly crf?: number;
  /** x264 preset. Default `veryfast`: labelled videos are for viewing, speed matters more than size. */
  readonly preset?: string;
}

export const DEFAULT_ENCODER_CRF = 23;
export const DEFAULT_ENCODER_PRESET = 'veryfast';

export function encodeArgs(path: string, options: VideoEncoderOptions): string[] {
  const { width, height, fps, crf = DEFAULT_ENCODER_CRF, preset = DEFAULT_ENCODER_PRESET } = options;
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${width}x${height}`,
    '-r',
    String(fps),
    '-i',
    'pipe:0',
    '-vf',
    'pad=ceil(iw/2)*2:ceil(ih/2)*2',
    '-c:v',
    'libx264',
    '-preset',
    preset,
    '-crf',
    String(crf),
    '-pix_fmt',
    'yuv420p',
    '-movflags',
    '+faststart',
    path,
  ];
}

/** An ffmpeg process turning RGB frames into an H.264 MP4 at `path`. */
export class VideoEncoder {
  readonly path: string;
  readonly options: VideoEncoderOptions;
  readonly #child: ChildProcessByStdio<Writable, null, Readable>;
  readonly #exit: Promise<number | null>;
  #stderr = '';
  #failure: Error | undefined;
  #frames = 0;

  private constructor(ffmpeg: FfmpegBinary, path: string, options: VideoEncoderOptions) {
    this.path = path;
    this.options = options;
    this.#child = spawn(ffmpeg.path, encodeArgs(path, options), {
      stdio: ['pipe', 'ignore', 'pipe'],
      windowsHide: true,
    });
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-4000);
    });
    // EPIPE when ffmpeg dies early: remembered and reported by the next write or by finish().
    this.#child.stdin.on('error', (error) => (this.#failure ??= error));
    this.#exit = new Promise((resolve) => {
      this.#child.on('close', (code) => resolve(code));
      this.#child.on('error', (error) => {
        this.#failure ??= error;
        resolve(null);
      });
    });
  }

  /** Starts ffmpeg (creating the output's folder). */
  static async create(
    ffmpeg: FfmpegBinary,
    path: string,
    options: VideoEncoderOptions,
  ): Promise<VideoEncoder> {
    const { width, height, fps } = options;
    if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
      throw new RangeError(`Expected a positive integer frame size but received ${width}x${height}`);
    }
    if (!(fps > 0 && Number.isFinite(fps))) throw new RangeError(`Expected fps > 0 but received ${fps}`);
    await ensureDirectory(dirname(path));
    return new VideoEncoder(ffmpeg, path, options);
  }

  /** Frames written so far. */
  get frames(): number {
    return this.#frames;
  }

  /** Writes one RGB frame of the stated size; resolves once the pipe can take more. */
  async write(image: Image): Promise<void> {
    const { width, height } = this.options;
    if (image.channels !== 3 || image.width !== width || image.height !== height) {
      throw new RangeError(
        `Expected a ${width}x${height} RGB frame but received ${image.width}x${image.height}x${image.channels}`,
      );
    }
    if (this.#failure !== undefined || this.#child.exitCode !== null) throw await this.#error();
    this.#frames++;
    if (!this.#child.stdin.write(image.data)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#child.stdin.off('drain', done);
          this.#child.off('close', done);
          resolve();
        };
        this.#child.stdin.on('drain', done);
        this.#child.on('close', done);
      });
      if (this.#failure !== undefined) throw await this.#error();
    }
  }

  /** Closes the input and waits for ffmpeg to finish the file; throws FFMPEG_FAILED if it did not. */
  async finish(): Promise<void> {
    this.#child.stdin.end();
    const code = await this.#exit;
    if (code !== 0) throw await this.#error();
  }

  /** Stops ffmpeg without finishing the file (after an error elsewhere). */
  async abort(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    await this.#exit;
  }

  async #error(): Promise<MoodLensError> {
    await this.abort();
    const detail =
      this.#stderr.trim().split('\n').slice(-3).join(' / ') || this.#failure?.message || 'no message';
    return new MoodLensError('MOODLENS_ERR_FFMPEG_FAILED', `ffmpeg could not write ${this.path}: ${detail}`, {
      cause: this.#failure,
    });
  }
}
