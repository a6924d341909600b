/**
 * The server's life over real sockets on 127.0.0.1: graceful close with a request in flight (in-process
 * and as `moodlens serve` receiving SIGTERM), the default bind address, and `moodlens serve`'s flags.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { parseServeArgs } from '../src/cli/serve-command.js';
import { buildServer, type MoodLensServer } from '../src/server/app.js';
import { runCaptured } from './support/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ASTRONAUT = join(ROOT, 'examples', 'astronaut.png');
const MODEL = join(ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
const BIN = join(ROOT, 'bin', 'moodlens.js');

/**
 * A request that keeps a worker busy for a while: the astronaut at 1024 px, a fine Haar pyramid (the servers
 * here run the Haar cascade: scaleFactor is its setting).
 */
const SLOW_QUERY = '/v1/analyze?scaleFactor=1.03';

async function slowImage(): Promise<Buffer> {
  return sharp(await readFile(ASTRONAUT))
    .resize(1024)
    .png()
    .toBuffer();
}

async function post(base: string, path: string, body: Uint8Array): Promise<Response> {
  return fetch(new URL(path, base), {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: new Uint8Array(body),
  });
}

/** Polls GET /healthz until a worker is busy. */
async function untilBusy(base: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const health = (await (await fetch(new URL('/healthz', base))).json()) as { busy: number };
    if (health.busy > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no worker became busy');
}

void test('close(): stops accepting, lets the request in flight finish, stops the workers', async () => {
  const app: MoodLensServer = await buildServer({ modelPath: MODEL, workers: 1, detector: 'haar' });
  const base = await app.listen({ port: 0 });
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/, 'binds 127.0.0.1 by default');
  const inFlight = post(base, SLOW_QUERY, await slowImage());
  await untilBusy(base);
  const closed = app.close();
  const response = await inFlight;
  assert.equal(response.status, 200);
  const entry = (await response.json()) as { width: number; faces: unknown[] };
  assert.equal(entry.width, 1024);
  await closed;
  await assert.rejects(fetch(new URL('/healthz', base)), 'no new connection after close');
});

void test('moodlens serve: SIGTERM lets the request in flight finish, then exits 0', async () => {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--model', MODEL, '--workers', '1', '--queue', '2', '--detector', 'haar'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const base = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match) resolve(match[1]);
      });
      child.once('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    assert.match(stdout, /1 workers, queue 2/);
    const inFlight = post(base, SLOW_QUERY, await slowImage());
    await untilBusy(base);
    child.kill('SIGTERM');
    const response = await inFlight;
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { height: number }).height, 1024);
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /SIGTERM: finishing requests in progress/);
    assert.match(stderr, /stopped/);
  } finally {
    child.kill('SIGKILL');
  }
});

void test('moodlens serve: flags are checked (exit 2), a model that cannot load exits 1', async () => {
  assert.deepEqual(parseServeArgs([]), {
    port: 8080,
    host: '127.0.0.1',
    model: undefined,
    workers: undefined,
    queue: undefined,
    bodyLimit: undefined,
    maxPixels: undefined,
    jobTimeoutMs: undefined,
    uploadTimeoutMs: undefined,
    minUploadBytesPerSecond: undefined,
    maxUploads: undefined,
  });
  assert.equal(parseServeArgs(['--port', '0', '--queue', '0', '--body-limit', '1000']).bodyLimit, 1000);

  const cases: Array<[string[], string]> = [
    [['--port', '70000'], '--port'],
    [['--port', 'http'], '--port'],
    [['--workers', '0'], '--workers'],
    [['--queue', '-1'], '--queue'],
    [['--body-limit', '1.5'], '--body-limit'],
    [['--max-pixels', '0'], '--max-pixels'],
    [['--host', ''], '--host'],
    [['--verbose'], 'verbose'],
    [['extra'], 'extra'],
  ];
  for (const [args, mention] of cases) {
    const { code, stderr } = await runCaptured(['serve', ...args]);
    assert.equal(code, 2, args.join(' '));
    assert.ok(stderr.includes(mention), `${args.join(' ')}: ${stderr}`);
  }
  const missing = await runCaptured(['serve', '--port', '0', '--model', join(ROOT, 'missing.onnx')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /MOODLENS_ERR_MODEL_LOAD/);
  assert.equal(process.listenerCount('SIGTERM'), 0, 'signal handlers removed');

  const help = (await runCaptured(['serve', '--help'])).stdout;
  for (const flag of [
    '--port',
    '--host',
    '--model',
    '--workers',
    '--queue',
    '--body-limit',
    '--max-pixels',
  ]) {
    assert.ok(help.includes(flag), flag);
  }
});
