/**
 * A BullMQ worker running MoodLens jobs. BullMQ holds a lock on each active job and renews it while the
 * job runs; when a worker dies (SIGKILL, power loss) its lock expires and another worker's stalled-job
 * check puts the job back in the queue, up to `maxStalledCount` times. A job whose input is bad fails at
 * once with its code (UnrecoverableError: no retry); other failures are retried up to the job's attempts.
 */
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { isMoodLensError } from '../core/errors.js';
import type { CliIo } from '../cli/main.js';
import { redisOptions } from './connection.js';
import { QUEUE_NAME, isJobData, type JobData } from './jobs.js';
import {
  JobProcessor,
  formatFailure,
  internalError,
  isInputError,
  type JobResult,
  type ProcessorSettings,
} from './processor.js';
import { redact, type RedisTarget } from './redis-url.js';

export interface WorkerSettings extends ProcessorSettings {
  /** Jobs run at once by this process (they share its models). */
  readonly concurrency: number;
  /** Milliseconds a job's lock lasts without renewal: how soon a dead worker's job is taken over. */
  readonly lockDurationMs: number;
  /** Milliseconds between checks for jobs whose worker died. */
  readonly stalledIntervalMs: number;
  /** Times a job may be recovered from a dead worker before it fails. */
  readonly maxStalledCount: number;
}

export const DEFAULT_LOCK_DURATION_MS = 30_000;
export const DEFAULT_STALLED_INTERVAL_MS = 30_000;
export const DEFAULT_MAX_STALLED_COUNT = 2;

/** One line per job event, e.g. `video chunk 2/4 of /data/a.mp4`. */
export function describeJob(data: JobData): string {
  return data.kind === 'photo'
    ? `photo ${data.file}`
    : data.chunk.count === 1
      ? `video ${data.file}`
      : `video chunk ${data.chunk.index + 1}/${data.chunk.count} of ${data.file}`;
}

export interface RunningWorker {
  /** Stops taking jobs, lets the current ones finish, releases the models. */
  close(force?: boolean): Promise<void>;
}

/** Starts consuming the queue; logs each job on `io.stderr` (redacted). */
export function startWorker(target: RedisTarget, settings: WorkerSettings, io: CliIo): RunningWorker {
  const log = (line: string): void => io.stderr(`moodlens worker: ${redact(line, target.secrets)}\n`);
  const processor = new JobProcessor(settings, io);
  const processJob = async (job: Job): Promise<JobResult> => {
    const data: unknown = job.data;
    if (!isJobData(data)) {
      throw new UnrecoverableError(formatFailure('MOODLENS_ERR_INTERNAL', 'Job data of an unknown format'));
    }
    const started = performance.now();
    log(`started ${job.id ?? '?'} ${describeJob(data)} (attempt ${job.attemptsStarted})`);
    try {
      const result = await processor.run(data, (done) => void job.updateProgress(Math.round(done * 100)));
      log(`done ${job.id ?? '?'} in ${Math.round(performance.now() - started)} ms`);
      return result;
    } catch (error) {
      const coded = isMoodLensError(error) ? error : internalError(error);
      const reason = formatFailure(coded.code, coded.message);
      log(`failed ${job.id ?? '?'}: ${reason}`);
      if (isInputError(coded)) throw new UnrecoverableError(reason);
      throw new Error(reason, { cause: error });
    }
  };
  const worker = new Worker(QUEUE_NAME, processJob, {
    connection: redisOptions(target, 'worker'),
    concurrency: settings.concurrency,
    lockDuration: settings.lockDurationMs,
    stalledInterval: settings.stalledIntervalMs,
    maxStalledCount: settings.maxStalledCount,
    name: `${hostname()}:${process.pid}`,
  });
  worker.on('error', (error) => log(`Redis: ${error.message}`));
  worker.on('stalled', (id) => log(`recovered job ${id} from a worker that stopped`));
  let closing: Promise<void> | undefined;
  return {
    close(force = false): Promise<void> {
      if (force) return worker.close(true).then(() => processor.close());
      closing ??= worker.close().then(() => processor.close());
      return closing;
    },
  };
}
