/**
 * Turning files into queued jobs: one job per photo, one per video or per chunk of a video, each with an
 * id derived from the content (adding the same file again finds its jobs there and adds nothing).
 * Shared by `moodlens queue add` and `POST /v1/jobs`.
 */
import type { Queue } from 'bullmq';
import { isMoodLensError, type ErrorCode } from '../core/errors.js';
import type { FfmpegBinary } from '../io/node/ffmpeg/locate.js';
import { probeVideo } from '../io/node/ffmpeg/probe.js';
import { DEFAULT_SMOOTHING_ALPHA } from '../video/smoothing.js';
import { DEFAULT_TRACKER_OPTIONS } from '../video/tracker.js';
import { DEFAULT_DETECT_EVERY } from '../cli/video-command.js';
import { sha256File, type QueueInput } from './inputs.js';
import {
  JOB_FORMAT,
  jobId,
  planChunks,
  videoGroup,
  warmupFrames,
  type JobData,
  type ModelChoice,
  type VideoJobData,
} from './jobs.js';

export interface EnqueueOptions {
  readonly model: ModelChoice;
  /** Split videos into chunks of this many seconds (absent: one job per video). */
  readonly chunkSeconds?: number;
  /** Finds ffmpeg, for probing videos' length when they are chunked (called at most once). */
  readonly ffmpeg: () => Promise<FfmpegBinary>;
}

/** An input that could not be queued (unreadable at the time of adding). */
export interface EnqueueFailure {
  readonly file: string;
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

/** A planned job with its id. */
export interface PlannedJob {
  readonly id: string;
  readonly data: JobData;
}

/** The outcome of adding one job. */
export interface AddedJob {
  readonly id: string;
  readonly file: string;
  readonly kind: JobData['kind'];
  /** `index/count` of a video chunk. */
  readonly chunk?: { readonly index: number; readonly count: number };
  /** added: new; exists: already queued or done (nothing added); retried: a failed job queued again. */
  readonly status: 'added' | 'exists' | 'retried';
}

/** Bounded retries of a job that failed for another reason than its input (a worker's model, Redis, ...). */
export const JOB_ATTEMPTS = 3;

/** BullMQ options of every job: results kept (never removed), bounded attempts with a growing delay. */
export const JOB_OPTIONS = {
  attempts: JOB_ATTEMPTS,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: false,
  removeOnFail: false,
} as const;

/** The jobs of one video: its chunks, or (when its length is unknown or it cannot be probed) one job. */
async function videoJobs(
  file: string,
  sha256: string,
  options: EnqueueOptions,
  ffmpeg: () => Promise<FfmpegBinary>,
): Promise<VideoJobData[]> {
  const detectEvery = DEFAULT_DETECT_EVERY;
  const smoothingAlpha = DEFAULT_SMOOTHING_ALPHA;
  let frames: number | undefined;
  let framesPerChunk: number | undefined;
  if (options.chunkSeconds !== undefined) {
    try {
      const info = await probeVideo(await ffmpeg(), file);
      frames = info.expectedFrames;
      framesPerChunk = Math.max(1, Math.round(options.chunkSeconds * info.fps));
    } catch (error) {
      // A video that cannot be probed is still queued, whole: its worker fails it with the coded error,
      // which then stays in the queue's results with the others.
      if (!isMoodLensError(error) || error.code === 'MOODLENS_ERR_FFMPEG_NOT_FOUND') throw error;
    }
  }
  const warmup = warmupFrames(
    detectEvery,
    DEFAULT_TRACKER_OPTIONS.maxMissedFrames,
    DEFAULT_TRACKER_OPTIONS.confirmWithin,
  );
  const chunks = planChunks(frames, framesPerChunk, warmup, detectEvery);
  const group = videoGroup({
    sha256,
    model: options.model,
    ...(options.chunkSeconds === undefined ? {} : { chunkSeconds: options.chunkSeconds }),
    detectEvery,
    smoothingAlpha,
  });
  return chunks.map((chunk) => ({
    format: JOB_FORMAT,
    kind: 'video',
    file,
    sha256,
    model: options.model,
    group,
    chunk,
    ...(options.chunkSeconds === undefined ? {} : { chunkSeconds: options.chunkSeconds }),
    detectEvery,
    smoothingAlpha,
  }));
}

/** Hashes (and, for chunked videos, probes) each input and plans its jobs; unreadable inputs are failures. */
export async function planJobs(
  inputs: readonly QueueInput[],
  options: EnqueueOptions,
): Promise<{ jobs: PlannedJob[]; failures: EnqueueFailure[] }> {
  let located: Promise<FfmpegBinary> | undefined;
  const ffmpeg = (): Promise<FfmpegBinary> => (located ??= options.ffmpeg());
  const jobs: PlannedJob[] = [];
  const failures: EnqueueFailure[] = [];
  for (const input of inputs) {
    let sha256: string;
    try {
      sha256 = await sha256File(input.file);
    } catch (error) {
      if (!isMoodLensError(error)) throw error;
      failures.push({ file: input.file, error: { code: error.code, message: error.message } });
      continue;
    }
    const data: JobData[] =
      input.kind === 'photo'
        ? [{ format: JOB_FORMAT, kind: 'photo', file: input.file, sha256, model: options.model }]
        : await videoJobs(input.file, sha256, options, ffmpeg);
    for (const d of data) jobs.push({ id: jobId(d), data: d });
  }
  return { jobs, failures };
}

/**
 * Adds the planned jobs that are not in the queue yet (BullMQ ignores an id it already holds, so two
 * clients adding the same file at once still make one job). With `retryFailed`, a job that failed is
 * queued again (its file may have been repaired).
 */
export async function addJobs(
  queue: Queue,
  jobs: readonly PlannedJob[],
  retryFailed = false,
): Promise<AddedJob[]> {
  const out: AddedJob[] = [];
  const fresh: PlannedJob[] = [];
  for (const job of jobs) {
    const existing = await queue.getJob(job.id);
    let status: AddedJob['status'] = 'added';
    if (existing !== undefined) {
      status = 'exists';
      if (retryFailed && (await existing.getState()) === 'failed') {
        await existing.retry('failed');
        status = 'retried';
      }
    } else {
      fresh.push(job);
    }
    const { data } = job;
    out.push({
      id: job.id,
      file: data.file,
      kind: data.kind,
      ...(data.kind === 'video' ? { chunk: { index: data.chunk.index, count: data.chunk.count } } : {}),
      status,
    });
  }
  if (fresh.length > 0) {
    await queue.addBulk(
      fresh.map((job) => ({ name: job.data.kind, data: job.data, opts: { ...JOB_OPTIONS, jobId: job.id } })),
    );
  }
  return out;
}
