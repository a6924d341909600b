import { MoodLensError } from '../core/errors.js';
import { DEFAULT_DETECTOR, type DetectorKind } from '../detect/detector-kind.js';
import { DEFAULT_MAX_PIXELS } from '../io/node/read-image.js';
import { buildServer, type MoodLensServer } from '../server/app.js';
import { DEFAULT_WEB_ROOT, webAppBuilt } from '../server/static-files.js';
import {
  DEFAULT_BODY_LIMIT,
  DEFAULT_HOST,
  DEFAULT_JOB_TIMEOUT_MS,
  DEFAULT_MIN_UPLOAD_BYTES_PER_SECOND,
  DEFAULT_UPLOAD_TIMEOUT_MS,
  DEFAULT_PORT,
  defaultWorkers,
  resolveServerOptions,
} from '../server/options.js';
import { DETECTOR_CHOICE_HELP, parseDetectorChoice } from './detector-flags.js';
import {
  EXIT_FAILURE,
  EXIT_OK,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
} from './main.js';

const HELP = `Usage: moodlens serve [options]

Serves the MoodLens web app at / : live webcam analysis that runs entirely in the
browser (no frame leaves the device), with its model and ONNX Runtime's wasm files,
offline, with the COOP/COEP headers that allow wasm threads. Build it once with
\`npm run build:web\` (a clone does on \`npm ci\`).

And the HTTP API: POST /v1/analyze (one image, raw body or multipart),
POST /v1/analyze/batch (multipart, several images), GET /healthz, GET /v1/models and
GET /openapi.json. Answers are the JSON of \`moodlens analyze --json\` (landmarks,
alignment and FSRNet enhancement included; query options align, enhance, enhanceBelow
as its flags); errors are
{"error": {"code", "message"}} with a 4xx status for a client's mistake.
A screening aid, never a diagnosis.

Options:
  --port N            TCP port, integer 0-65535, 0 for any free port (default ${DEFAULT_PORT})
  --host ADDR         Address to bind (default ${DEFAULT_HOST}: this machine only; give 0.0.0.0
                      or :: to accept other machines)
  --model FILE        Emotion model of the API (ONNX with MoodLens metadata, or default or
                      accurate as in analyze; default: the shipped default model, which the
                      web app always uses)
${DETECTOR_CHOICE_HELP}
                      (the API's detector; each worker builds its own, one thread each)
  --workers N         Inference worker threads, each with its own detector and model,
                      integer 1-64 (default: the cores available, here ${defaultWorkers()})
  --queue N           Requests that may wait for a worker, integer >= 0; beyond it the server
                      answers 503 with Retry-After (default: 2 x workers)
  --body-limit BYTES  Largest request body, integer >= 1 (default ${DEFAULT_BODY_LIMIT})
  --max-pixels N      Refuse images with more than N pixels, integer >= 1, checked before
                      decoding (default ${DEFAULT_MAX_PIXELS})
  --job-timeout S     Seconds one image may take in a worker; past it that image gets 422
                      MOODLENS_ERR_JOB_TIMEOUT (alone, in a batch) and the worker is replaced
                      (default ${DEFAULT_JOB_TIMEOUT_MS / 1000})
  --upload-timeout S  Seconds a client may take to send a request body; past it 408
                      MOODLENS_ERR_UPLOAD_TIMEOUT and the connection is closed (default ${DEFAULT_UPLOAD_TIMEOUT_MS / 1000})
  --min-upload-rate B Slowest upload accepted, bytes per second averaged over the request,
                      judged after its first 5 s; 0 turns it off (default ${DEFAULT_MIN_UPLOAD_BYTES_PER_SECOND})
  --max-uploads N     Request bodies received at once; one more gets 503 unread. A body takes
                      a worker's place in the queue only once it has arrived, so slow clients
                      cannot hold the workers (default: the larger of 32 and 4 x (workers + queue))
  --redis URL         Also serve the job queue (see moodlens queue, docs/queue.md): POST /v1/jobs
                      queues files by absolute path, GET /v1/jobs/{id} tells a job's state
  -h, --help          Show this help

Stops on SIGTERM or SIGINT: stops accepting, lets requests in progress finish, exits 0.
Under npx it also stops when npx is killed (npx does not pass signals on).

Example:
  moodlens serve --port 8080 &     # then open http://127.0.0.1:8080/ for the web app
  curl -s --data-binary @examples/astronaut.png -H 'Content-Type: image/png' \\
    'http://127.0.0.1:8080/v1/analyze?minNeighbors=5'
`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  model: { type: 'string' },
  workers: { type: 'string' },
  queue: { type: 'string' },
  'body-limit': { type: 'string' },
  'max-pixels': { type: 'string' },
  'job-timeout': { type: 'string' },
  'upload-timeout': { type: 'string' },
  'min-upload-rate': { type: 'string' },
  'max-uploads': { type: 'string' },
  redis: { type: 'string' },
  detector: { type: 'string' },
  'detector-model': { type: 'string' },
  'min-score': { type: 'string' },
} as const;

export interface ServeArgs {
  readonly port: number;
  readonly host: string;
  readonly model: string | undefined;
  readonly workers: number | undefined;
  readonly queue: number | undefined;
  readonly bodyLimit: number | undefined;
  readonly maxPixels: number | undefined;
  readonly jobTimeoutMs: number | undefined;
  readonly uploadTimeoutMs: number | undefined;
  readonly minUploadBytesPerSecond: number | undefined;
  readonly maxUploads: number | undefined;
  /** Present only when --redis is given. */
  readonly redis?: string;
  /** Present only when --detector is given (else {@link DEFAULT_DETECTOR}). */
  readonly detector?: DetectorKind;
  /** Present only when --detector-model is given (cnn). */
  readonly detectorModel?: string;
  /** Present only when --min-score is given (cnn). */
  readonly minScore?: number;
}

/** Parses `moodlens serve` arguments; throws a usage error (exit 2) naming the flag at fault. */
export function parseServeArgs(args: readonly string[]): ServeArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, [
    'port',
    'workers',
    'queue',
    'body-limit',
    'max-pixels',
    'job-timeout',
    'upload-timeout',
    'min-upload-rate',
    'max-uploads',
    'min-score',
  ]);
  if (positionals.length > 0) throw usageError(`Unexpected argument '${positionals[0]}'`);
  const seconds = (flag: 'job-timeout' | 'upload-timeout'): number | undefined => {
    const raw = values[flag];
    if (raw === undefined) return undefined;
    const value = parseNumberOption(`--${flag}`, raw, 'number');
    if (!(value > 0) || value > 86_400) {
      throw usageError(`Expected seconds above 0 and at most 86400 for --${flag} but received ${raw}`);
    }
    return Math.max(1, Math.round(value * 1000));
  };
  const integer = (flag: keyof typeof OPTIONS, min: number, max: number): number | undefined => {
    const raw = values[flag];
    if (raw === undefined) return undefined;
    const value = parseNumberOption(`--${flag}`, raw, 'integer');
    if (value < min || value > max) {
      throw usageError(`Expected an integer from ${min} to ${max} for --${flag} but received ${raw}`);
    }
    return value;
  };
  for (const flag of ['host', 'model'] as const) {
    if (values[flag] === '') throw usageError(`Expected a value for --${flag} but received an empty string`);
  }
  return {
    port: integer('port', 0, 65535) ?? DEFAULT_PORT,
    host: values.host ?? DEFAULT_HOST,
    model: values.model,
    workers: integer('workers', 1, 64),
    queue: integer('queue', 0, 100_000),
    bodyLimit: integer('body-limit', 1, 2 ** 31 - 1),
    maxPixels: integer('max-pixels', 1, Number.MAX_SAFE_INTEGER),
    jobTimeoutMs: seconds('job-timeout'),
    uploadTimeoutMs: seconds('upload-timeout'),
    minUploadBytesPerSecond: integer('min-upload-rate', 0, 2 ** 31 - 1),
    maxUploads: integer('max-uploads', 1, 1_000_000),
    ...(values.redis === undefined ? {} : { redis: values.redis }),
    ...detectorArgs(values),
  };
}

/** `--detector`, `--detector-model` and `--min-score`, checked; each present only when given. */
function detectorArgs(
  values: Parameters<typeof parseDetectorChoice>[0],
): Pick<ServeArgs, 'detector' | 'detectorModel' | 'minScore'> {
  const { detector, detectorModel, minScore } = parseDetectorChoice(values);
  return {
    ...(values.detector === undefined ? {} : { detector }),
    ...(detectorModel === undefined ? {} : { detectorModel }),
    ...(minScore === undefined ? {} : { minScore }),
  };
}

/**
 * Runs the server until `stop` aborts (the command wires SIGTERM and SIGINT to it), then closes it
 * gracefully: no new connections, requests in progress answered, workers stopped.
 */
export async function serve(args: readonly string[], io: CliIo, stop: AbortSignal): Promise<number> {
  const parsed = parseServeArgs(args);
  const app: MoodLensServer = await buildServer({
    modelPath: parsed.model,
    workers: parsed.workers,
    queue: parsed.queue,
    bodyLimit: parsed.bodyLimit,
    maxPixels: parsed.maxPixels,
    jobTimeoutMs: parsed.jobTimeoutMs,
    uploadTimeoutMs: parsed.uploadTimeoutMs,
    minUploadBytesPerSecond: parsed.minUploadBytesPerSecond,
    maxUploads: parsed.maxUploads,
    ...(parsed.redis === undefined ? {} : { redis: parsed.redis }),
    ...(parsed.detector === undefined ? {} : { detector: parsed.detector }),
    ...(parsed.detectorModel === undefined ? {} : { detectorModelPath: parsed.detectorModel }),
    ...(parsed.minScore === undefined ? {} : { minScore: parsed.minScore }),
    logger: { level: 'warn', stream: { write: (line: string) => io.stderr(line) } },
  });
  let url: string;
  try {
    url = await app.listen({ port: parsed.port, host: parsed.host });
  } catch (cause) {
    await app.close();
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Cannot listen on ${parsed.host}:${parsed.port} (${code})`,
      { cause },
    );
  }
  const { workers, queue } = resolveServerOptions({ workers: parsed.workers, queue: parsed.queue });
  io.stdout(
    `moodlens serve: listening on ${url} (${workers} workers, queue ${queue}, ` +
      `model ${parsed.model ?? 'shipped'}, detector ${parsed.detector ?? DEFAULT_DETECTOR})\n`,
  );
  if (webAppBuilt(DEFAULT_WEB_ROOT)) {
    io.stdout(`moodlens serve: web app at ${url}/ (runs in the browser; no frame leaves the device)\n`);
  } else {
    io.stderr(
      `moodlens serve: the web app is not built (no ${DEFAULT_WEB_ROOT}index.html): run \`npm run build:web\`, ` +
        'then restart; the API works without it\n',
    );
  }

  await new Promise<void>((resolve) => {
    if (stop.aborted) resolve();
    else stop.addEventListener('abort', () => resolve(), { once: true });
  });
  io.stderr(`moodlens serve: ${String(stop.reason)}: finishing requests in progress, then stopping\n`);
  await app.close();
  io.stderr('moodlens serve: stopped\n');
  return EXIT_OK;
}

/** `moodlens serve`: SIGTERM/SIGINT stop it gracefully (exit 0); a second signal exits at once (1). */
export async function runServe(args: string[], io: CliIo): Promise<number> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!controller.signal.aborted) {
      controller.abort(signal);
      return;
    }
    io.stderr(`moodlens serve: ${signal} again: stopping now\n`);
    process.exit(EXIT_FAILURE);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const orphanWatch = watchNpxParent(() => onSignal('SIGTERM'));
  try {
    return await serve(args, io, controller.signal);
  } finally {
    clearInterval(orphanWatch);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/**
 * Under `npx moodlens serve`, `kill` reaches npm, which dies without passing the signal on, and the
 * server would live on as an orphan. Started by npm exec, the server stops as if sent SIGTERM once its
 * parent is gone (its parent pid changes). Elsewhere (node bin/moodlens.js, nohup, systemd) it does not.
 */
function watchNpxParent(onOrphaned: () => void): NodeJS.Timeout | undefined {
  if (process.env.npm_command !== 'exec') return undefined;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onOrphaned();
    }
  }, 500);
  timer.unref();
  return timer;
}

export const serveCommand: CliCommand = {
  name: 'serve',
  help: HELP,
  run: runServe,
};
