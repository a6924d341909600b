/**
 * What a queued job says (its data in Redis) and how its id is made: pure functions, shared by the
 * enqueuing side (`moodlens queue add`, `POST /v1/jobs`), the workers and `moodlens queue results`.
 *
 * A job names its file by absolute path and sha256: workers read the file from that path (a shared disk
 * or the same copy on each machine) and refuse it when its content has changed. The id is a hash of the
 * content, the options and the chunk, so adding the same file twice finds the job already there.
 */
import { createHash } from 'node:crypto';

/** The BullMQ queue every MoodLens command uses. */
export const QUEUE_NAME = 'moodlens';

/** Bumped when the job data or result format changes incompatibly (part of every job id). */
export const JOB_FORMAT = 2;

/** The emotion model: `default`, `accurate` or a path (which every worker must have). */
export type ModelChoice = string;

/** Frames [start, end) of a video; `end` null: to the end of the stream. */
export interface FrameRange {
  readonly start: number;
  readonly end: number | null;
}

/** One video chunk: which part of the video, and the frames analysed before it only to warm up. */
export interface ChunkSpec extends FrameRange {
  /** 0-based position among the video's chunks. */
  readonly index: number;
  readonly count: number;
  /**
   * The first frame whose detections the chunk tracks (see warmupFrames): at or before `start`, a
   * multiple of detectEvery (the detector's schedule).
   */
  readonly warmStart: number;
}

export interface PhotoJobData {
  readonly format: typeof JOB_FORMAT;
  readonly kind: 'photo';
  /** Absolute path on the machine that queued it (and on every worker). */
  readonly file: string;
  readonly sha256: string;
  readonly model: ModelChoice;
}

export interface VideoJobData {
  readonly format: typeof JOB_FORMAT;
  readonly kind: 'video';
  readonly file: string;
  readonly sha256: string;
  readonly model: ModelChoice;
  /** Identifies the submission the chunks belong to (file content, options, chunking). */
  readonly group: string;
  readonly chunk: ChunkSpec;
  /** The chunk length asked for (absent: the whole video as one job). */
  readonly chunkSeconds?: number;
  readonly detectEvery: number;
  readonly smoothingAlpha: number;
}

export type JobData = PhotoJobData | VideoJobData;

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The group of a video submission: the same file with the same options always gives the same group. */
export function videoGroup(options: {
  readonly sha256: string;
  readonly model: ModelChoice;
  readonly chunkSeconds?: number;
  readonly detectEvery: number;
  readonly smoothingAlpha: number;
}): string {
  return sha256Hex(
    JSON.stringify([
      JOB_FORMAT,
      'video',
      options.sha256,
      options.model,
      options.chunkSeconds ?? null,
      options.detectEvery,
      options.smoothingAlpha,
    ]),
  ).slice(0, 32);
}

/**
 * The job id: `p-` or `v-` and 40 hex digits of a hash of everything that decides the result (never the
 * path: the same content queued from two paths is one job). BullMQ refuses ids containing `:`.
 */
export function jobId(data: JobData): string {
  const key =
    data.kind === 'photo'
      ? [JOB_FORMAT, 'photo', data.sha256, data.model]
      : [JOB_FORMAT, 'video', data.group, data.chunk.index, data.chunk.start, data.chunk.end];
  return `${data.kind === 'photo' ? 'p' : 'v'}-${sha256Hex(JSON.stringify(key)).slice(0, 40)}`;
}

/**
 * Frames before a chunk whose detections a chunk tracks (never analysed for the results: `queue results`
 * replays the tracks, persons and smoothing over every chunk), so that its own tracking of faces, which
 * picks the thumbnail crops it keeps, starts as a whole-video run's: a face lost is forgotten after
 * maxMissedFrames, and a track is confirmed or dropped within its first confirmWithin detections.
 */
export function warmupFrames(detectEvery: number, maxMissedFrames: number, confirmWithin: number): number {
  return maxMissedFrames + 1 + confirmWithin * detectEvery;
}

/**
 * Splits a video of `frames` frames (as its header states) into chunks of `framesPerChunk`; the last
 * chunk runs to the end of the stream whatever the decoded length. `warmup` frames are analysed before
 * each chunk but its first, starting on the detector's schedule (a multiple of detectEvery).
 */
export function planChunks(
  frames: number | undefined,
  framesPerChunk: number | undefined,
  warmup: number,
  detectEvery: number,
): ChunkSpec[] {
  if (frames === undefined || framesPerChunk === undefined || frames <= framesPerChunk) {
    return [{ index: 0, count: 1, start: 0, end: null, warmStart: 0 }];
  }
  const count = Math.ceil(frames / framesPerChunk);
  return Array.from({ length: count }, (_, index) => {
    const start = index * framesPerChunk;
    const warmStart = Math.max(0, Math.floor((start - warmup) / detectEvery) * detectEvery);
    return {
      index,
      count,
      start,
      end: index === count - 1 ? null : start + framesPerChunk,
      warmStart,
    };
  });
}

/** Whether a value read back from Redis is job data this version understands. */
export function isJobData(value: unknown): value is JobData {
  if (value === null || typeof value !== 'object') return false;
  const data = value as Partial<Record<keyof VideoJobData, unknown>>;
  return (
    data.format === JOB_FORMAT &&
    (data.kind === 'photo' || data.kind === 'video') &&
    typeof data.file === 'string' &&
    typeof data.sha256 === 'string' &&
    typeof data.model === 'string' &&
    (data.kind === 'photo' || (typeof data.group === 'string' && typeof data.chunk === 'object'))
  );
}
