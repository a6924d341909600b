import { isAbsolute, resolve } from 'node:path';
import { locateFfmpeg } from '../io/node/ffmpeg/locate.js';
import { checkOutputDirectory } from '../io/node/output-path.js';
import { queueCounts, withQueue, type QueueCounts } from '../queue/client.js';
import { addJobs, planJobs, type AddedJob, type EnqueueFailure } from '../queue/enqueue.js';
import { expandInputs } from '../queue/inputs.js';
import { parseRedisUrl, type RedisTarget } from '../queue/redis-url.js';
import { writeResults, type InputSummary } from '../queue/results.js';
import { REDIS_URL_ENV, redactingIo, secretsInArgs, withoutSecrets } from '../queue/secrets.js';
import {
  EXIT_FAILURE,
  EXIT_OK,
  packageVersion,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
} from './main.js';
import { Progress } from './progress.js';

const HELP = `Usage: moodlens queue add --redis URL <file|folder...> [options]
       moodlens queue status --redis URL [--json] [--wait]
       moodlens queue results --redis URL --out DIR [--json] [--wait]

Batch analysis on a Redis job queue (BullMQ), shared by any number of workers on
any number of machines (start them with moodlens worker). See docs/queue.md.

  add       Queues one job per photo and one per video, or per chunk of a video
            with --chunk-seconds. Folders are searched for photos (jpg, png, webp,
            tiff, gif, bmp) and videos (mp4, mov, mkv, webm, avi, ...). A job holds
            the file's absolute path and sha256: workers read the file from that
            path (a shared disk, or the same copy on every machine) and refuse it
            (MOODLENS_ERR_QUEUE_FILE_CHANGED) if its content changed. The job id
            derives from the content and options: adding a file again adds nothing.
  status    Jobs waiting, active, completed and failed (a progress bar on a terminal).
  results   Writes into DIR, from Redis: <name>.json per photo (its entry of
            moodlens analyze --json), <name>/frames.csv + report.json + report.html
            per video (chunks merged in frame order, as moodlens video writes them),
            and results.json listing every input with its state. Safe to run again.

Options:
  --redis URL          redis://[user:password@]host:port[/db], or rediss://... for TLS
                       (default: the ${REDIS_URL_ENV} environment variable, which keeps
                       the password out of the process list); the password is never printed
  --model M            add: emotion model: default, accurate or a path (which every
                       worker must have at the same path) (default: default)
  --chunk-seconds N    add: split videos into chunks of N seconds (> 0), so several
                       workers share a long video (default: one job per video)
  --retry-failed       add: queue again the jobs of these files that failed
  --ffmpeg PATH        add: ffmpeg used to read videos' length for --chunk-seconds
  --out DIR            results: output folder (required)
  --wait               status, results: wait until no job is waiting or active
  --json               Print the outcome as JSON on stdout
  -h, --help           Show this help

Redis must run with maxmemory-policy noeviction (checked at start: a warning if not).
Exit codes: 0 done; 1 a file could not be queued, a job failed or is still pending
(results), or Redis is unreachable (MOODLENS_ERR_QUEUE_UNAVAILABLE); 2 usage error.

Examples:
  moodlens queue add --redis redis://queue-host:6379 --chunk-seconds 60 /shared/sessions/
  moodlens queue status --redis redis://queue-host:6379
  moodlens queue results --redis redis://queue-host:6379 --wait --out results/
`;

const OPTIONS = {
  redis: { type: 'string' },
  model: { type: 'string' },
  'chunk-seconds': { type: 'string' },
  'retry-failed': { type: 'boolean' },
  ffmpeg: { type: 'string' },
  out: { type: 'string' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const SUBCOMMANDS = ['add', 'status', 'results'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** Options that only some subcommands take. */
const ONLY_FOR: Readonly<Record<string, readonly Subcommand[]>> = {
  model: ['add'],
  'chunk-seconds': ['add'],
  'retry-failed': ['add'],
  ffmpeg: ['add'],
  out: ['results'],
  wait: ['status', 'results'],
};

export interface QueueArgs {
  readonly subcommand: Subcommand;
  readonly target: RedisTarget;
  readonly paths: readonly string[];
  readonly model: string;
  readonly chunkSeconds: number | undefined;
  readonly retryFailed: boolean;
  readonly ffmpeg: string | undefined;
  readonly outDir: string | undefined;
  readonly wait: boolean;
  readonly json: boolean;
}

/** The Redis URL from --redis or the environment; a usage error when neither is given. */
export function redisTarget(given: string | undefined, env: NodeJS.ProcessEnv = process.env): RedisTarget {
  const url = given ?? env[REDIS_URL_ENV];
  if (url === undefined || url === '') {
    throw usageError(`No Redis given: pass --redis URL or set ${REDIS_URL_ENV}`);
  }
  return parseRedisUrl(url);
}

/** A model given as a path is made absolute (workers resolve it against their own folder otherwise). */
function modelChoice(value: string | undefined): string {
  if (value === undefined || value === 'default' || value === 'accurate') return value ?? 'default';
  if (value === '')
    throw usageError('Expected a model name or path for --model but received an empty string');
  return isAbsolute(value) ? value : resolve(value);
}

/** Parses `moodlens queue ...`; throws a usage error naming the flag at fault. */
export function parseQueueArgs(args: readonly string[]): QueueArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, ['chunk-seconds']);
  const [name, ...paths] = positionals;
  if (name === undefined) throw usageError(`No subcommand given: ${SUBCOMMANDS.join(', ')}`);
  if (!(SUBCOMMANDS as readonly string[]).includes(name)) {
    throw usageError(`Unknown subcommand '${name}'. Subcommands: ${SUBCOMMANDS.join(', ')}`);
  }
  const subcommand = name as Subcommand;
  for (const [flag, allowed] of Object.entries(ONLY_FOR)) {
    if ((values as Record<string, unknown>)[flag] !== undefined && !allowed.includes(subcommand)) {
      throw usageError(`--${flag} is for queue ${allowed.join(' and ')}, not queue ${subcommand}`);
    }
  }
  if (subcommand === 'add' && paths.length === 0) throw usageError('No files or folders given to queue add');
  if (subcommand !== 'add' && paths.length > 0) {
    throw usageError(`queue ${subcommand} takes no files but received: ${paths.join(' ')}`);
  }
  let chunkSeconds: number | undefined;
  if (values['chunk-seconds'] !== undefined) {
    chunkSeconds = parseNumberOption('--chunk-seconds', values['chunk-seconds']);
    if (!(chunkSeconds > 0)) {
      throw usageError(
        `Expected a number of seconds > 0 for --chunk-seconds but received ${values['chunk-seconds']}`,
      );
    }
  }
  if (subcommand === 'results' && (values.out === undefined || values.out === '')) {
    throw usageError('queue results needs --out DIR');
  }
  return {
    subcommand,
    target: redisTarget(values.redis),
    paths,
    model: modelChoice(values.model),
    chunkSeconds,
    retryFailed: values['retry-failed'] === true,
    ffmpeg: values.ffmpeg,
    outDir: values.out,
    wait: values.wait === true,
    json: values.json === true,
  };
}

function describeAdded(job: AddedJob): string {
  const what =
    job.chunk === undefined || job.chunk.count === 1
      ? ''
      : ` chunk ${job.chunk.index + 1}/${job.chunk.count}`;
  const status =
    job.status === 'added' ? 'queued' : job.status === 'retried' ? 'queued again' : 'already queued';
  return `  ${job.id}  ${job.kind}${what} ${job.file}: ${status}\n`;
}

async function runAdd(parsed: QueueArgs, io: CliIo): Promise<number> {
  const inputs = await expandInputs(parsed.paths);
  if (inputs.length === 0) {
    io.stderr('moodlens queue add: no photo or video found in the folders given\n');
    return EXIT_FAILURE;
  }
  const { jobs, failures } = await planJobs(inputs, {
    model: parsed.model,
    ...(parsed.chunkSeconds === undefined ? {} : { chunkSeconds: parsed.chunkSeconds }),
    ffmpeg: () => locateFfmpeg(parsed.ffmpeg === undefined ? {} : { path: parsed.ffmpeg }),
  });
  const added = await withQueue(parsed.target, async ({ queue, warnings }) => {
    for (const warning of warnings) io.stderr(`moodlens queue: warning: ${warning}\n`);
    return addJobs(queue, jobs, parsed.retryFailed);
  });
  reportFailures(failures, io);
  const fresh = added.filter((j) => j.status !== 'exists').length;
  if (parsed.json) {
    io.stdout(`${JSON.stringify({ jobs: added, failures }, null, 2)}\n`);
  } else {
    io.stdout(added.map(describeAdded).join(''));
  }
  io.stderr(
    `moodlens queue add: ${fresh} job(s) queued, ${added.length - fresh} already there, ` +
      `${inputs.length - failures.length} file(s) -> ${parsed.target.display}` +
      `${failures.length > 0 ? `; ${failures.length} file(s) could not be read` : ''}\n`,
  );
  return failures.length > 0 ? EXIT_FAILURE : EXIT_OK;
}

function reportFailures(failures: readonly EnqueueFailure[], io: CliIo): void {
  for (const failure of failures) {
    io.stderr(`moodlens queue add: ${failure.file}: ${failure.error.message} (${failure.error.code})\n`);
  }
}

/** `12/20 done (3 waiting, 2 active, 1 failed)`. */
export function describeCounts(counts: QueueCounts): string {
  return (
    `${counts.completed + counts.failed}/${counts.total} finished: ${counts.waiting} waiting, ` +
    `${counts.active} active, ${counts.completed} completed, ${counts.failed} failed`
  );
}

/** Polls the counts until nothing waits or runs, drawing progress; returns the last counts. */
async function waitForQueue(
  read: () => Promise<QueueCounts>,
  io: CliIo,
  label: string,
): Promise<QueueCounts> {
  let counts = await read();
  const progress = new Progress({
    total: Math.max(counts.total, 1),
    write: io.stderr,
    isTTY: io.isTTY,
    label,
  });
  while (counts.waiting + counts.active > 0) {
    progress.update(Math.min(counts.completed + counts.failed, progress.total));
    await new Promise((resolve) => setTimeout(resolve, 500));
    counts = await read();
  }
  progress.finish();
  return counts;
}

async function runStatus(parsed: QueueArgs, io: CliIo): Promise<number> {
  const counts = await withQueue(parsed.target, async ({ queue, warnings }) => {
    for (const warning of warnings) io.stderr(`moodlens queue: warning: ${warning}\n`);
    if (parsed.wait) return waitForQueue(() => queueCounts(queue), io, 'queue');
    return queueCounts(queue);
  });
  if (parsed.json) {
    io.stdout(`${JSON.stringify(counts)}\n`);
    return EXIT_OK;
  }
  io.stdout(`${parsed.target.display}: ${describeCounts(counts)}\n`);
  if (io.isTTY && counts.total > 0) {
    // A one-off bar of the finished share, drawn on stderr like the other commands' progress.
    const width = 30;
    const done = Math.round((width * (counts.completed + counts.failed)) / counts.total);
    io.stderr(
      `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${Math.round((100 * (counts.completed + counts.failed)) / counts.total)}%\n`,
    );
  }
  return EXIT_OK;
}

function describeSummary(summary: InputSummary): string {
  const state =
    summary.state === 'pending'
      ? `pending (${summary.finished}/${summary.jobs} jobs finished)`
      : summary.state === 'done'
        ? `done -> ${summary.outputs.join(', ')}`
        : `${summary.state}: ${summary.error?.message ?? ''} (${summary.error?.code ?? ''})`;
  return `  ${summary.kind} ${summary.file}: ${state}\n`;
}

async function runResults(parsed: QueueArgs, io: CliIo): Promise<number> {
  const outDir = parsed.outDir ?? '';
  await checkOutputDirectory(outDir);
  const summaries = await withQueue(parsed.target, async ({ queue, warnings }) => {
    for (const warning of warnings) io.stderr(`moodlens queue: warning: ${warning}\n`);
    if (parsed.wait) await waitForQueue(() => queueCounts(queue), io, 'queue');
    return writeResults(queue, { outDir, generator: `moodlens ${packageVersion()}` });
  });
  const count = (state: InputSummary['state']): number => summaries.filter((s) => s.state === state).length;
  if (parsed.json) io.stdout(`${JSON.stringify(summaries, null, 2)}\n`);
  else io.stdout(summaries.map(describeSummary).join(''));
  io.stderr(
    `moodlens queue results: ${summaries.length} input(s): ${count('done')} done, ${count('partial')} partial, ` +
      `${count('failed')} failed, ${count('pending')} pending -> ${outDir}\n`,
  );
  return summaries.every((s) => s.state === 'done') ? EXIT_OK : EXIT_FAILURE;
}

/** `moodlens queue <add|status|results>`; the Redis password never reaches the output. */
export async function runQueue(args: readonly string[], rawIo: CliIo): Promise<number> {
  const secrets = secretsInArgs(args);
  const io = redactingIo(rawIo, secrets);
  return withoutSecrets(secrets, async () => {
    const parsed = parseQueueArgs(args);
    if (parsed.subcommand === 'add') return runAdd(parsed, io);
    if (parsed.subcommand === 'status') return runStatus(parsed, io);
    return runResults(parsed, io);
  });
}

export const queueCommand: CliCommand = {
  name: 'queue',
  help: HELP,
  run: runQueue,
};
