/**
 * `npm run loadtest`: the HTTP service under load, on loopback only and bounded in time.
 *
 * 1. Measures the CLI's images/s (`moodlens analyze --no-images`, in-process) on the valid images.
 * 2. Starts `moodlens serve` as a child process on 127.0.0.1 (random port, default workers and queue).
 * 3. Runs two autocannon clients side by side for the duration: valid images (the astronaut as PNG and
 *    JPEG, FER-2013 scenes when the data is present) at a concurrency above the pool size, and invalid
 *    bodies (random bytes, truncated and bit-flipped images, a PNG bomb header, text, an oversize body).
 * 4. Prints requests/s, p50/p99 latency, answers by status, connection errors, the server's RSS at
 *    start, after warm-up, at its peak and at the end, and the server's valid images/s over the CLI's.
 *
 *   node dist/bench/loadtest.js [--duration 30] [--connections N] [--bad-connections N]
 *                               [--workers N] [--queue N] [--model FILE] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { runCli } from '../src/cli/main.js';
import { DEFAULT_EMOTION_MODEL_PATH } from '../src/io/node/emotion-model.js';
import { composeFerScenes, sceneInputsProblem, writeGrayPng } from '../test/support/fer-scenes.js';
import { pngBombHeader } from '../test/support/png.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'moodlens.js');
const FIXTURE_MODEL = join(ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
const BODY_LIMIT = 4 * 1024 * 1024;

interface Body {
  readonly name: string;
  readonly type: string;
  readonly bytes: Buffer;
}

interface ClientReport {
  readonly connections: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly byStatus: Record<string, number>;
  readonly errors: number;
  readonly timeouts: number;
  readonly resets: number;
}

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '30' },
      connections: { type: 'string' },
      'bad-connections': { type: 'string', default: '2' },
      workers: { type: 'string' },
      queue: { type: 'string' },
      model: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'Usage: node dist/bench/loadtest.js [--duration 30] [--connections N] [--bad-connections N]\n' +
        '                                   [--workers N] [--queue N] [--model FILE] [--json]\n',
    );
    process.exit(0);
  }
  const positive = (name: string, raw: string | undefined, fallback: number): number => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`--${name}: expected a positive integer, got ${raw}`);
    return value;
  };
  const workers = positive('workers', values.workers, availableParallelism());
  const queue = values.queue === undefined ? 2 * workers : Number(values.queue);
  const model =
    values.model ?? (existsSync(DEFAULT_EMOTION_MODEL_PATH) ? DEFAULT_EMOTION_MODEL_PATH : FIXTURE_MODEL);
  return {
    duration: Math.min(positive('duration', values.duration, 30), 600),
    // Above the pool size; with the bad-body client, within workers + queue so that no 503 is expected.
    connections: positive('connections', values.connections, workers + 1),
    badConnections: positive('bad-connections', values['bad-connections'], 2),
    workers,
    queue,
    model,
    json: values.json,
  };
}

async function validBodies(
  dir: string,
  log: (s: string) => void,
): Promise<{ bodies: Body[]; files: string[] }> {
  const astronaut = await readFile(join(ROOT, 'examples', 'astronaut.png'));
  const bodies: Body[] = [
    { name: 'astronaut.png', type: 'image/png', bytes: astronaut },
    {
      name: 'astronaut.jpg',
      type: 'image/jpeg',
      bytes: await sharp(astronaut).jpeg({ quality: 90 }).toBuffer(),
    },
  ];
  const problem = sceneInputsProblem();
  if (problem === undefined) {
    const scenes = await composeFerScenes({ count: 3 });
    for (const scene of scenes) {
      const path = join(dir, `${scene.name}.png`);
      await writeGrayPng(scene.image, path);
      bodies.push({ name: `${scene.name}.png`, type: 'image/png', bytes: await readFile(path) });
    }
  } else {
    log(`FER scenes skipped: ${problem}`);
  }
  const files: string[] = [];
  for (const body of bodies) {
    const path = join(dir, body.name);
    await writeFile(path, body.bytes);
    files.push(path);
  }
  return { bodies, files };
}

function invalidBodies(valid: readonly Body[]): Body[] {
  const png = valid[0].bytes;
  const jpeg = valid[1].bytes;
  const flipped = Buffer.from(jpeg);
  for (let i = 600; i < flipped.length; i += 997) flipped[i] ^= 0x5a;
  const random = Buffer.alloc(2048);
  for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
  return [
    { name: 'random bytes', type: 'image/png', bytes: random },
    { name: 'truncated PNG', type: 'image/png', bytes: png.subarray(0, png.length >> 2) },
    { name: 'bit-flipped JPEG', type: 'image/jpeg', bytes: flipped },
    { name: 'PNG bomb header 20000x20000', type: 'image/png', bytes: pngBombHeader(20000, 20000) },
    { name: 'text', type: 'text/plain', bytes: Buffer.from('hello') },
    { name: 'empty', type: 'image/jpeg', bytes: Buffer.alloc(0) },
    { name: 'oversize', type: 'application/octet-stream', bytes: Buffer.alloc(BODY_LIMIT + 1024, 1) },
  ];
}

/** The CLI's images/s on the files: `analyze --no-images` in-process, timed by the CLI's own summary. */
async function cliImagesPerSecond(files: readonly string[], model: string, rounds: number): Promise<number> {
  const inputs = Array.from({ length: rounds }, () => files).flat();
  let stderr = '';
  const code = await runCli(['analyze', '--no-images', '--json', '--model', model, ...inputs], {
    stdout: () => undefined,
    stderr: (s) => void (stderr += s),
    isTTY: false,
  });
  const summary = /in (\d+) images?.*\(([\d.]+) s\)/.exec(stderr);
  if (code !== 0 || summary === null) throw new Error(`moodlens analyze failed (${code}): ${stderr}`);
  return Number(summary[1]) / Number(summary[2]);
}

/** Resident memory of a process from /proc (Linux), in MiB; NaN elsewhere or once it has exited. */
function rssMiB(pid: number): number {
  let status = '';
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return Number.NaN;
  }
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

async function startServer(
  o: ReturnType<typeof options>,
): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null>; stderr: () => string }> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--model',
      o.model,
      '--workers',
      String(o.workers),
      '--queue',
      String(o.queue),
      '--body-limit',
      String(BODY_LIMIT),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', () => reject(new Error(`server exited: ${stderr}`)));
  });
  return { child, url, exited, stderr: () => stderr };
}

/** Waits (at most 30 s) until the server has no request in progress. */
async function idle(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const health = (await (await fetch(new URL('/healthz', url))).json()) as { admitted: number };
    if (health.admitted === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function load(url: string, bodies: readonly Body[], connections: number, duration: number) {
  return autocannon({
    url,
    connections,
    duration,
    timeout: 30,
    requests: bodies.map((body) => ({
      method: 'POST' as const,
      path: '/v1/analyze',
      headers: { 'content-type': body.type },
      body: body.bytes,
    })),
  });
}

function report(result: autocannon.Result, connections: number): ClientReport {
  const byStatus: Record<string, number> = {};
  for (const [status, stats] of Object.entries(result.statusCodeStats ?? {})) {
    byStatus[status] = stats.count ?? 0;
  }
  return {
    connections,
    requests: result.requests.total,
    requestsPerSecond: result.requests.total / result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    byStatus,
    errors: result.errors,
    timeouts: result.timeouts,
    resets: result.resets,
  };
}

async function main(): Promise<void> {
  const o = options();
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-loadtest-'));
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  // Bounded in time whatever happens.
  const guard = setTimeout(
    () => {
      log('loadtest: time limit reached, stopping');
      server?.child.kill('SIGKILL');
      process.exit(1);
    },
    (o.duration + 300) * 1000,
  );
  guard.unref();
  try {
    const { bodies: valid, files } = await validBodies(dir, log);
    const invalid = invalidBodies(valid);
    log(`model: ${o.model}`);
    log(`measuring the CLI on ${files.length} images x 4 ...`);
    const cli = await cliImagesPerSecond(files, o.model, 4);

    server = await startServer(o);
    const pid = server.child.pid ?? 0;
    const rssStart = rssMiB(pid);
    log(`server ${server.url} (pid ${pid}, ${o.workers} workers, queue ${o.queue}); warming up ...`);
    await load(server.url, valid, o.workers, 3);
    // autocannon stops with requests in flight; their jobs still hold slots until done: let them finish.
    await idle(server.url);
    const rssWarm = rssMiB(pid);
    let rssPeak = rssWarm;
    const rssSeries: number[] = [];
    let ticks = 0;
    const sampler = setInterval(() => {
      const rss = rssMiB(pid);
      rssPeak = Math.max(rssPeak, rss);
      if (ticks++ % 20 === 19) rssSeries.push(rss); // every 5 s
    }, 250);
    log(
      `load: ${o.duration} s, ${o.connections} connections of valid images + ${o.badConnections} of invalid bodies`,
    );
    const [good, bad] = await Promise.all([
      load(server.url, valid, o.connections, o.duration),
      load(server.url, invalid, o.badConnections, o.duration),
    ]);
    clearInterval(sampler);
    const rssEnd = rssMiB(pid);
    await idle(server.url); // requests in flight when autocannon stopped: all slots must come back
    const health = (await (await fetch(new URL('/healthz', server.url))).json()) as Record<string, unknown>;

    server.child.kill('SIGTERM');
    const exitCode = await server.exited;
    const validReport = report(good, o.connections);
    const invalidReport = report(bad, o.badConnections);
    const serverImagesPerSecond = (validReport.byStatus['200'] ?? 0) / good.duration;
    const result = {
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model ?? 'unknown',
        node: process.version,
        loadAverage1m: loadavg()[0],
      },
      model: o.model,
      durationSeconds: o.duration,
      workers: o.workers,
      queue: o.queue,
      validImages: valid.map((b) => b.name),
      invalidBodies: invalid.map((b) => b.name),
      valid: validReport,
      invalid: invalidReport,
      server5xx: [...Object.entries(validReport.byStatus), ...Object.entries(invalidReport.byStatus)]
        .filter(([status]) => status.startsWith('5'))
        .reduce((sum, [, count]) => sum + count, 0),
      rssMiB: {
        start: rssStart,
        afterWarmup: rssWarm,
        peak: rssPeak,
        end: rssEnd,
        growth: rssEnd - rssStart,
        every5s: rssSeries,
      },
      cliImagesPerSecond: cli,
      serverImagesPerSecond,
      ratio: serverImagesPerSecond / cli,
      healthAfter: health,
      serverExitCode: exitCode,
    };
    if (o.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const f = (n: number, digits = 1): string => n.toFixed(digits);
    const line = (name: string, r: ClientReport): string =>
      `${name.padEnd(15)} ${String(r.connections).padStart(5)} ${f(r.requestsPerSecond).padStart(8)} ` +
      `${String(r.latencyMs.p50).padStart(8)} ${String(r.latencyMs.p99).padStart(8)}  ` +
      `${JSON.stringify(r.byStatus)}  errors ${r.errors}, timeouts ${r.timeouts}, resets ${r.resets}`;
    process.stdout.write(
      [
        `MoodLens load test: ${o.duration} s on 127.0.0.1, ${result.machine.cpus} CPUs (${result.machine.cpu}), ` +
          `Node ${result.machine.node}, load average ${f(result.machine.loadAverage1m, 2)}`,
        `model ${o.model}; server: ${o.workers} workers, queue ${o.queue}`,
        '',
        `${'client'.padEnd(15)} ${'conns'.padStart(5)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}  answers by status`,
        line('valid images', validReport),
        line('invalid bodies', invalidReport),
        '',
        `5xx answers: ${result.server5xx}`,
        `server RSS MiB: start ${f(rssStart)}, after warm-up ${f(rssWarm)}, peak ${f(rssPeak)}, end ${f(rssEnd)} ` +
          `(growth ${f(rssEnd - rssStart)} from start, ${f(rssEnd - rssWarm)} from warm-up)`,
        `server RSS MiB every 5 s under load: ${rssSeries.map((v) => f(v, 0)).join(' ')}`,
        `valid images/s: server ${f(serverImagesPerSecond, 2)}, CLI ${f(cli, 2)} (analyze, same images, ` +
          `this run): ratio ${f(result.ratio, 2)}`,
        `server exit code after SIGTERM: ${exitCode}`,
        '',
      ].join('\n'),
    );
  } finally {
    clearTimeout(guard);
    if (server !== undefined && server.child.exitCode === null) server.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
