/**
 * Decoded video frames from ffmpeg, one at a time, through a pipe: ffmpeg writes raw RGB frames to its
 * stdout and blocks when the pipe is full, so at most a frame or two is ever in memory whatever the
 * video's length (backpressure: we read the next chunk only when the consumer asks for the next frame).
 * Each frame's presentation time comes from ffmpeg's `showinfo` filter on stderr, so variable-frame-rate
 * videos and GIFs get their real times. Damaged and truncated inputs end the stream early and are
 * reported in `outcome`, never as a hang: a watchdog kills an ffmpeg that goes silent.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { MoodLensError } from '../../../core/errors.js';
import { createImage, type RgbImage } from '../../../core/image.js';
import type { FfmpegBinary } from './locate.js';
import type { VideoInfo } from './probe.js';

export interface DecodedFrame {
  /** 0, 1, 2, ... in decoding order (every decoded frame, none dropped or repeated). */
  readonly index: number;
  /** Presentation time in seconds, relative to the first frame. */
  readonly time: number;
  readonly image: RgbImage;
}

export interface DecodeOutcome {
  /** Frames delivered. */
  readonly frames: number;
  /** Whether the whole video was decoded without a reported problem. */
  readonly complete: boolean;
  /** Why not, in one sentence, when incomplete. */
  readonly reason: string | undefined;
  /** ffmpeg's messages about damage (first few), for the report. */
  readonly problems: readonly string[];
  /** ffmpeg's exit code (null when it was killed). */
  readonly exitCode: number | null;
}

export interface DecodeOptions {
  /** Milliseconds ffmpeg may stay silent (no frame bytes, no log line) before it is killed. Default 60 000. */
  readonly stallTimeoutMs?: number;
}

/** Messages from ffmpeg's demuxers and decoders that mean the input is damaged or cut short. */
const PROBLEM_PATTERN =
  /(error|invalid|partial file|damaged|corrupt|truncat|concealing|missing|non-existing|read error|end of file)/i;

/** The `showinfo` line of one frame: its pts_time (or NOPTS). */
const SHOWINFO_PATTERN = /\] n:\s*\d+\s+pts:\s*(-?\d+|NOPTS)\s+pts_time:(\S+)/;

/** A frame count this far below the container's statement (without audio to explain it) means truncation. */
const SHORTFALL_RATIO = 0.9;

/** The decoder's ffmpeg arguments: first video stream only, every frame as decoded, raw RGB at a fixed size. */
export function decodeArgs(info: VideoInfo): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel',
    'info',
    '-i',
    info.file,
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    '-vsync',
    'passthrough',
    // showinfo logs each frame's time; the scale pins the size, so a stream that changes resolution
    // mid-way cannot break the frame boundaries of the raw stream.
    '-vf',
    `showinfo,scale=${info.width}:${info.height}`,
    '-pix_fmt',
    'rgb24',
    '-f',
    'rawvideo',
    'pipe:1',
  ];
}

/** Decodes `info.file`; iterate `frames()` once, then read `outcome`. */
export class VideoFrameReader {
  readonly info: VideoInfo;
  readonly #child: ChildProcessByStdio<null, Readable, Readable>;
  readonly #stallTimeoutMs: number;
  readonly #times: (number | null)[] = [];
  #timeWaiter: (() => void) | undefined;
  #stderrEnded = false;
  readonly #problems: string[] = [];
  #problemCount = 0;
  #stderrBuffer = '';
  /** Whether ffmpeg has finished listing the input (problems are counted from then on). */
  #decoding = false;
  #firstPts: number | undefined;
  #lastTime = 0;
  #frames = 0;
  #leftover = 0;
  #stalled = false;
  #outcome: DecodeOutcome | undefined;
  readonly #exit: Promise<number | null>;

  private constructor(ffmpeg: FfmpegBinary, info: VideoInfo, options: DecodeOptions) {
    this.info = info;
    this.#stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
    this.#child = spawn(ffmpeg.path, decodeArgs(info), {
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.#exit = new Promise((resolve) => {
      this.#child.on('close', (code) => resolve(code));
      this.#child.on('error', () => resolve(null));
    });
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (text: string) => this.#onStderr(text));
    this.#child.stderr.on('close', () => {
      this.#onStderr('\n');
      this.#stderrEnded = true;
      this.#wake();
    });
  }

  /** Starts ffmpeg on a probed video. */
  static open(ffmpeg: FfmpegBinary, info: VideoInfo, options: DecodeOptions = {}): VideoFrameReader {
    return new VideoFrameReader(ffmpeg, info, options);
  }

  /**
   * Stops ffmpeg if it still runs and waits for it to exit. Needed when `frames()` was never iterated
   * (its own cleanup then never runs); harmless after it finished.
   */
  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    await this.#exit;
  }

  /** How the decode ended; available once `frames()` has finished. */
  get outcome(): DecodeOutcome {
    if (this.#outcome === undefined) throw new Error('VideoFrameReader.outcome read before the frames ended');
    return this.#outcome;
  }

  /**
   * The frames, in order. Breaking out of the loop (or an error in it) stops ffmpeg. Ends normally on a
   * damaged or cut input, with `outcome.complete` false.
   */
  async *frames(): AsyncGenerator<DecodedFrame, void, undefined> {
    const { width, height } = this.info;
    const frameBytes = width * height * 3;
    const iterator = this.#child.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let frame = new Uint8Array(frameBytes);
    let filled = 0;
    try {
      for (;;) {
        const next = await this.#withStallTimeout(iterator.next());
        if (next === undefined || next.done === true) break;
        const chunk = next.value;
        let offset = 0;
        while (offset < chunk.length) {
          const take = Math.min(frameBytes - filled, chunk.length - offset);
          frame.set(chunk.subarray(offset, offset + take), filled);
          filled += take;
          offset += take;
          if (filled === frameBytes) {
            const time = await this.#nextTime();
            // Counted before the hand-over: a consumer that stops here has still received this frame.
            const index = this.#frames++;
            yield { index, time, image: createImage(width, height, 3, frame) };
            frame = new Uint8Array(frameBytes);
            filled = 0;
          }
        }
      }
      this.#leftover = filled;
    } finally {
      await iterator.return?.();
      if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
      const exitCode = await this.#exit;
      this.#outcome = this.#judge(exitCode);
    }
  }

  #judge(exitCode: number | null): DecodeOutcome {
    const { expectedFrames, hasAudio } = this.info;
    let reason: string | undefined;
    if (this.#stalled) {
      reason = `ffmpeg produced nothing for ${this.#stallTimeoutMs / 1000} s and was stopped`;
    } else if (exitCode !== 0) {
      reason = `ffmpeg stopped with ${exitCode === null ? 'a signal' : `exit code ${exitCode}`}`;
    } else if (this.#leftover > 0) {
      reason = 'the last frame was cut short';
    } else if (this.#problemCount > 0) {
      reason = `ffmpeg reported ${this.#problemCount} decoding problem(s), e.g. "${this.#problems[0]}"`;
    } else if (expectedFrames !== undefined && !hasAudio && this.#frames < SHORTFALL_RATIO * expectedFrames) {
      reason = `the video ends early: ${this.#frames} frames decoded of the ${expectedFrames} its header states`;
    }
    if (reason !== undefined && this.#frames > 0) reason = `${reason} (after ${this.#frames} frames)`;
    return {
      frames: this.#frames,
      complete: reason === undefined,
      reason,
      problems: [...this.#problems],
      exitCode,
    };
  }

  /** Resolves the promise, or undefined after `stallTimeoutMs` of silence (ffmpeg is then killed). */
  async #withStallTimeout<T>(promise: Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const stall = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        this.#stalled = true;
        this.#child.kill('SIGKILL');
        resolve(undefined);
      }, this.#stallTimeoutMs);
    });
    try {
      return await Promise.race([promise, stall]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next frame's time: from showinfo, or (when ffmpeg gave none) the last time plus one frame. */
  async #nextTime(): Promise<number> {
    while (this.#times.length === 0 && !this.#stderrEnded) {
      await this.#withStallTimeout(new Promise<void>((resolve) => (this.#timeWaiter = resolve)));
      if (this.#stalled) break;
    }
    const pts = this.#times.shift();
    let time: number;
    if (pts === undefined || pts === null) {
      time = this.#frames === 0 ? 0 : this.#lastTime + 1 / this.info.fps;
    } else {
      this.#firstPts ??= pts;
      time = pts - this.#firstPts;
      // Timestamps go backwards only in damaged files; keep the timeline monotonic.
      if (this.#frames > 0 && time <= this.#lastTime) time = this.#lastTime + 1 / this.info.fps;
    }
    this.#lastTime = time;
    return time;
  }

  #wake(): void {
    const waiter = this.#timeWaiter;
    this.#timeWaiter = undefined;
    waiter?.();
  }

  #onStderr(text: string): void {
    this.#stderrBuffer += text;
    const lines = this.#stderrBuffer.split(/\r?\n|\r/);
    this.#stderrBuffer = lines.pop() ?? '';
    for (const line of lines) {
      const info = SHOWINFO_PATTERN.exec(line);
      if (info !== null) {
        const seconds = Number(info[2]);
        this.#times.push(info[1] === 'NOPTS' || !Number.isFinite(seconds) ? null : seconds);
        this.#wake();
      } else if (!this.#decoding) {
        this.#decoding = line.startsWith('Stream mapping:');
      } else if (PROBLEM_PATTERN.test(line)) {
        this.#problemCount++;
        const clean = line.replace(/^\[[^\]]+\]\s*/, '').trim();
        if (this.#problems.length < 5 && !this.#problems.includes(clean)) this.#problems.push(clean);
      }
    }
    // A very long line without an end (binary garbage) must not grow without bound.
    if (this.#stderrBuffer.length > 65_536) this.#stderrBuffer = '';
  }
}

/** A coded error for a decode that gave no frame at all. */
export function noFramesError(info: VideoInfo, outcome: DecodeOutcome): MoodLensError {
  return new MoodLensError(
    'MOODLENS_ERR_CORRUPT_VIDEO',
    `No frame could be decoded from ${info.file}${outcome.reason === undefined ? '' : `: ${outcome.reason}`}`,
  );
}
