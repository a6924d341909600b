/**
 * Queue benchmark (`npm run bench -- --only queue`): the same batch (the 640x480 example clip in 4 s
 * chunks plus 12 photos made from the astronaut photo) run by plain `moodlens video` + `moodlens analyze`
 * processes, then through a throwaway Redis by 1 and by 2 `moodlens worker` processes, wall time from the
 * first command to the last result; and the queue's own cost per job (fetch, lock, file hash check,
 * result stored), from 40 tiny photo jobs: wall time per job minus the time the worker spent in them.
 * Workers are started (and idle) before the clock starts; each loads its models on its first job, as
 * the plain commands do.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { REPO_ROOT } from '../test/support/opencv.js';
import { redisServerProblem, startRedis } from '../test/support/redis-server.js';
import type { BenchOptions, BenchSection, SectionReport } from './run.js';

const BIN = join(REPO_ROOT, 'bin', 'moodlens.js');
const CLIP = join(REPO_ROOT, 'examples', 'astronaut-pan.mp4');
const PHOTOS = 12;
const TINY_JOBS = 40;
const CHUNK_SECONDS = 4;

/** Runs `moodlens ...` to the end; resolves with its stderr, rejects on a non-zero exit. */
function moodlens(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) =>
      code === 0 || (code === 1 && args[0] === 'queue' && args[1] === 'results')
        ? resolve(stderr)
        : reject(new Error(`moodlens ${args.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}

interface Worker {
  readonly log: () => string;
  stop(): Promise<void>;
}

/** Starts a worker and waits until it listens for jobs. */
async function startWorker(url: string): Promise<Worker> {
  const child = spawn(process.execPath, [BIN, 'worker', '--redis', url], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('waiting for jobs')) resolve();
    });
    child.once('exit', () => reject(new Error(`worker exited: ${log}`)));
  });
  return {
    log: () => log,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function makePhotos(dir: string, count: number, size: number, prefix: string): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = join(dir, `${prefix}${i}.png`);
    let image = sharp(join(REPO_ROOT, 'examples', 'astronaut.png')).extract({
      left: (i % 4) * 16,
      top: (Math.floor(i / 4) % 4) * 12,
      width: 440,
      height: 440,
    });
    if (i % 2 === 1) image = image.flop();
    if (i >= 16) image = image.rotate(90 * Math.floor(i / 16));
    await image.resize(size).png().toFile(file);
    files.push(file);
  }
  return files;
}

/** Seconds for the batch through the queue with `workers` workers (Redis emptied first). */
async function queueRun(
  url: string,
  inputs: readonly string[],
  workers: number,
  out: string,
): Promise<number> {
  await moodlens(['queue', 'add', '--redis', url, '--chunk-seconds', String(CHUNK_SECONDS), ...inputs]);
  const started: Worker[] = [];
  try {
    // The queue holds the jobs already; the clock runs from the workers' start of work to the results.
    const t0 = performance.now();
    for (let i = 0; i < workers; i++) started.push(await startWorker(url));
    await moodlens(['queue', 'results', '--redis', url, '--wait', '--out', out]);
    return (performance.now() - t0) / 1000;
  } finally {
    for (const worker of started) await worker.stop();
  }
}

async function flush(url: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url);
  await client.flushdb();
  client.disconnect();
}

export const queueSection: BenchSection = {
  name: 'queue',
  description: 'Redis job queue: 1 and 2 workers against plain video/analyze, per-job overhead',
  async run(options: BenchOptions): Promise<SectionReport> {
    const problem = redisServerProblem();
    if (problem !== undefined) {
      return {
        title: 'Job queue (skipped)',
        columns: ['run'],
        rows: [],
        notes: [problem],
        data: { skipped: problem },
      };
    }
    const dir = await mkdtemp(join(tmpdir(), 'moodlens-bench-queue-'));
    const redis = await startRedis();
    const url = `redis://127.0.0.1:${redis.port}`;
    try {
      const photos = await makePhotos(dir, PHOTOS, 320, 'photo');
      const inputs = [CLIP, ...photos];
      options.progress('queue: plain moodlens video + analyze');
      let t0 = performance.now();
      await moodlens(['video', '--no-video', '--no-stills', '--out', join(dir, 'plain-video'), CLIP]);
      await moodlens(['analyze', '--no-images', ...photos]);
      const plain = (performance.now() - t0) / 1000;
      options.progress('queue: 1 worker');
      const one = await queueRun(url, inputs, 1, join(dir, 'out1'));
      await flush(url);
      options.progress('queue: 2 workers');
      const two = await queueRun(url, inputs, 2, join(dir, 'out2'));
      await flush(url);

      options.progress(`queue: per-job overhead (${TINY_JOBS} tiny photos, 1 worker)`);
      const warm = await makePhotos(dir, 1, 64, 'warm');
      const tiny = await makePhotos(dir, TINY_JOBS, 96, 'tiny');
      const worker = await startWorker(url);
      let overheadMs: number;
      let processingMs: number;
      let wallMs: number;
      try {
        // One job first, so the models are loaded before the clock starts.
        await moodlens(['queue', 'add', '--redis', url, ...warm]);
        await moodlens(['queue', 'results', '--redis', url, '--wait', '--out', join(dir, 'warm')]);
        const before = worker.log().length;
        t0 = performance.now();
        await moodlens(['queue', 'add', '--redis', url, ...tiny]);
        await moodlens(['queue', 'status', '--redis', url, '--wait']);
        wallMs = performance.now() - t0;
        const done = [
          ...worker
            .log()
            .slice(before)
            .matchAll(/done \S+ in (\d+) ms/g),
        ].map((m) => Number(m[1]));
        processingMs = done.reduce((a, b) => a + b, 0);
        // Wall time includes the two client processes' start (about 0.3 s each): counted, and said so.
        overheadMs = (wallMs - processingMs) / TINY_JOBS;
      } finally {
        await worker.stop();
      }
      const rows = [
        ['plain video + analyze (1 process each)', +plain.toFixed(1), 1],
        ['queue, 1 worker', +one.toFixed(1), +(plain / one).toFixed(2)],
        ['queue, 2 workers', +two.toFixed(1), +(plain / two).toFixed(2)],
      ];
      return {
        title: `Job queue: example clip (${CHUNK_SECONDS} s chunks) + ${PHOTOS} photos 320x320`,
        columns: ['run', 'seconds', 'speed vs plain'],
        rows,
        notes: [
          `Per-job queue overhead: ${overheadMs.toFixed(1)} ms (${TINY_JOBS} tiny photo jobs: ` +
            `${(wallMs / 1000).toFixed(2)} s wall from add to done, ${(processingMs / 1000).toFixed(2)} s inside the ` +
            'jobs; the wall time includes starting the add and status client processes).',
          'Queue runs start with the jobs queued and idle workers (models load on their first job); ' +
            'chunks after the first decode the video up to their range and track the detections of 1 s ' +
            'before it; queue results replays the tracks, persons and smoothing over the whole video.',
        ],
        data: {
          plainSeconds: plain,
          oneWorkerSeconds: one,
          twoWorkersSeconds: two,
          overheadMs,
          processingMs,
          wallMs,
        },
      };
    } finally {
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
