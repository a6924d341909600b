import { checkRedis } from '../queue/connection.js';
import { redactingIo, secretsInArgs, withoutSecrets } from '../queue/secrets.js';
import {
  DEFAULT_LOCK_DURATION_MS,
  DEFAULT_MAX_STALLED_COUNT,
  DEFAULT_STALLED_INTERVAL_MS,
  startWorker,
  type WorkerSettings,
} from '../queue/worker.js';
import type { RedisTarget } from '../queue/redis-url.js';
import { REDIS_URL_ENV } from '../queue/secrets.js';
import { redisTarget } from './queue-command.js';
import { parseDetectorChoice } from './detector-flags.js';
import { DEFAULT_DETECTOR } from '../detect/detector-kind.js';
import { DEFAULT_CNN_DETECTOR_PATH, loadCnnFaceDetector } from '../io/node/cnn-detector-model.js';
import {
  EXIT_OK,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
} from './main.js';

const HELP = `Usage: moodlens worker --redis URL [options]

Takes jobs from the Redis queue (moodlens queue add, POST /v1/jobs) and runs them
with the same stages and defaults as moodlens analyze (photos) and moodlens video
(videos and video chunks); the models load once, on the first job that needs them.
Run as many workers as you like, on any machine that reaches Redis and sees the
queued files at the same paths. See docs/queue.md.

A worker that dies (killed, machine lost) leaves its job locked; once the lock
expires another worker takes the job over (at most --max-stalled times). A job whose
input is bad (corrupt image, empty video, file changed since it was queued...)
fails at once with its MOODLENS_ERR_... code and is not retried; other failures are
retried up to 3 times. SIGTERM or SIGINT (Ctrl-C): finish the current job(s), then
exit 0; a second signal stops at once.

Options:
  --redis URL            redis://[user:password@]host:port[/db], or rediss://... for TLS
                         (default: the ${REDIS_URL_ENV} environment variable); the
                         password is never printed
  --concurrency N        Jobs at once in this process, integer 1-64 (default 1; they share
                         the models; on a small machine run one worker per few cores instead)
  --threads N            Face-detector threads per model, integer 1-8 (default: the cores;
                         cnn: ONNX Runtime's threads inside one inference)
  --detector NAME        Face detector: haar (the Haar cascade) or cnn (the learned detector;
                         results then give each face its "score") (default ${DEFAULT_DETECTOR};
                         see training/checkpoints/detector/MODEL_CARD.md)
  --detector-model FILE  cnn: the detector ONNX file (default: the shipped
                         models/detector/face-detector.onnx), checked when the worker starts
  --min-score S          cnn: keep faces scoring at least S, 0-1 (default: the model's)
  --ffmpeg PATH          ffmpeg binary (default: FFMPEG_PATH, then the one installed with
                         MoodLens by npm, then ffmpeg on the PATH)
  --lock-duration MS     How long a job's lock lasts unrenewed, i.e. how soon a dead
                         worker's job is taken over, in ms >= 1000 (default ${DEFAULT_LOCK_DURATION_MS})
  --stalled-interval MS  How often to look for jobs of dead workers, in ms >= 500
                         (default ${DEFAULT_STALLED_INTERVAL_MS})
  --max-stalled N        Times a job may be taken over from a dead worker before it fails,
                         integer >= 0 (default ${DEFAULT_MAX_STALLED_COUNT})
  -h, --help             Show this help

Each job is logged on stderr (started, done, failed, with its id).
Exit codes: 0 stopped by a signal after finishing its jobs; 1 Redis unreachable
(MOODLENS_ERR_QUEUE_UNAVAILABLE); 2 usage error.

Example:
  MOODLENS_REDIS_URL=rediss://:secret@queue-host:6380 moodlens worker --concurrency 2
`;

const OPTIONS = {
  redis: { type: 'string' },
  concurrency: { type: 'string' },
  threads: { type: 'string' },
  ffmpeg: { type: 'string' },
  'lock-duration': { type: 'string' },
  'stalled-interval': { type: 'string' },
  'max-stalled': { type: 'string' },
  detector: { type: 'string' },
  'detector-model': { type: 'string' },
  'min-score': { type: 'string' },
} as const;

export interface WorkerArgs extends WorkerSettings {
  readonly target: RedisTarget;
}

function integerOption(
  flag: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return fallback;
  const value = parseNumberOption(flag, raw, 'integer');
  if (value < min || value > max) {
    throw usageError(`Expected an integer from ${min} to ${max} for ${flag} but received ${raw}`);
  }
  return value;
}

/** Parses `moodlens worker` arguments; throws a usage error naming the flag at fault. */
export function parseWorkerArgs(args: readonly string[]): WorkerArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, ['min-score']);
  if (positionals.length > 0)
    throw usageError(`worker takes no files but received: ${positionals.join(' ')}`);
  if (values.ffmpeg === '') throw usageError('Expected a path for --ffmpeg but received an empty string');
  const max = 2 ** 31 - 1;
  const { detector, detectorModel, minScore } = parseDetectorChoice(values);
  return {
    target: redisTarget(values.redis),
    concurrency: integerOption('--concurrency', values.concurrency, 1, 1, 64),
    ...(values.threads === undefined ? {} : { threads: integerOption('--threads', values.threads, 1, 1, 8) }),
    ...(values.ffmpeg === undefined ? {} : { ffmpeg: values.ffmpeg }),
    ...(values.detector === undefined ? {} : { detector }),
    ...(detectorModel === undefined ? {} : { detectorModel }),
    ...(minScore === undefined ? {} : { minScore }),
    lockDurationMs: integerOption(
      '--lock-duration',
      values['lock-duration'],
      DEFAULT_LOCK_DURATION_MS,
      1000,
      max,
    ),
    stalledIntervalMs: integerOption(
      '--stalled-interval',
      values['stalled-interval'],
      DEFAULT_STALLED_INTERVAL_MS,
      500,
      max,
    ),
    maxStalledCount: integerOption(
      '--max-stalled',
      values['max-stalled'],
      DEFAULT_MAX_STALLED_COUNT,
      0,
      1000,
    ),
  };
}

/** Resolves on the first SIGTERM or SIGINT; `onAgain` runs on a second one. */
function firstSignal(onAgain: () => void): { signal: Promise<NodeJS.Signals>; dispose: () => void } {
  let resolveSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => (resolveSignal = resolve));
  let seen = false;
  const handler = (name: NodeJS.Signals): void => {
    if (seen) onAgain();
    seen = true;
    resolveSignal(name);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return {
    signal,
    dispose: () => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
    },
  };
}

/** `moodlens worker`: runs jobs until SIGTERM/SIGINT, then finishes the current ones and exits 0. */
export async function runWorker(args: readonly string[], rawIo: CliIo): Promise<number> {
  const secrets = secretsInArgs(args);
  const io = redactingIo(rawIo, secrets);
  return withoutSecrets(secrets, async () => {
    const parsed = parseWorkerArgs(args);
    // The learned detector's model is checked at start (exit 1, coded), not on the first job (retried).
    if (parsed.detector === 'cnn') {
      await (await loadCnnFaceDetector(parsed.detectorModel ?? DEFAULT_CNN_DETECTOR_PATH)).close();
    }
    // Fail fast (exit 1, coded) when Redis cannot be reached at start; later outages are waited out.
    const { warnings } = await checkRedis(parsed.target);
    for (const warning of warnings) io.stderr(`moodlens worker: warning: ${warning}\n`);
    const worker = startWorker(parsed.target, parsed, io);
    const stop = firstSignal(() => {
      io.stderr('moodlens worker: second signal: stopping without finishing the current job(s)\n');
      void worker.close(true);
    });
    io.stderr(
      `moodlens worker: pid ${process.pid} waiting for jobs on ${parsed.target.display} ` +
        `(concurrency ${parsed.concurrency})\n`,
    );
    try {
      const signal = await stop.signal;
      io.stderr(`moodlens worker: ${signal}: finishing the current job(s), then exiting\n`);
      await worker.close();
      io.stderr('moodlens worker: stopped\n');
      return EXIT_OK;
    } finally {
      stop.dispose();
    }
  });
}

export const workerCommand: CliCommand = {
  name: 'worker',
  help: HELP,
  run: runWorker,
};
