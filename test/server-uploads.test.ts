/**
 * The server against clients that send badly, over real sockets on 127.0.0.1: slow uploads (a rate
 * floor and a time limit, answered 408 without holding a worker), too many uploads at once (503), an
 * endless chunked multipart body (refused at the limit, not after 100 MB), and a batch whose one slow
 * file fails alone.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { parseServeArgs } from '../src/cli/serve-command.js';
import { isMoodLensError } from '../src/core/errors.js';
import { buildServer, type MoodLensServer } from '../src/server/app.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ASTRONAUT = join(ROOT, 'examples', 'astronaut.png');
const MODEL = join(ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');

interface RawAnswer {
  /** 0 when the connection closed before any answer. */
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Body bytes the client had written when the connection ended. */
  readonly sent: number;
  /** Milliseconds from connecting until the connection ended. */
  readonly ms: number;
}

interface SendPlan {
  readonly head: string;
  /** The next piece of body to write (undefined: the body is complete). */
  readonly next: (sentSoFar: number) => Uint8Array | undefined;
  /** Pause between pieces; 0 writes as fast as the socket drains. */
  readonly intervalMs: number;
}

/** Sends a request piece by piece on a raw socket and reads whatever answer comes back. */
function rawRequest(port: number, plan: SendPlan): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    let sent = 0;
    let received = '';
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const writeMore = (): void => {
      if (ended || socket.destroyed) return;
      const piece = plan.next(sent);
      if (piece === undefined) return;
      sent += piece.length;
      const drained = socket.write(piece);
      if (plan.intervalMs > 0) timer = setTimeout(writeMore, plan.intervalMs);
      else if (drained) setImmediate(writeMore);
      else socket.once('drain', writeMore);
    };
    socket.on('connect', () => {
      socket.write(plan.head);
      writeMore();
    });
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      ended = true;
      clearTimeout(timer);
      const [head = '', body = ''] = received.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
      resolve({ status, headers, body, sent, ms: performance.now() - started });
    });
  });
}

/** A raw PNG upload of `total` declared bytes sent `piece` bytes every `intervalMs`. */
function tricklePng(total: number, piece: number, intervalMs: number): SendPlan {
  return {
    head:
      'POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n' +
      `Content-Length: ${total}\r\n\r\n`,
    next: (sent) => (sent >= total ? undefined : new Uint8Array(Math.min(piece, total - sent))),
    intervalMs,
  };
}

function errorCode(answer: RawAnswer): string {
  return (JSON.parse(answer.body) as { error: { code: string } }).error.code;
}

async function postPng(base: string, bytes: Uint8Array, path = '/v1/analyze'): Promise<Response> {
  return fetch(new URL(path, base), {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: new Uint8Array(bytes),
  });
}

async function withServer(
  options: Parameters<typeof buildServer>[0],
  body: (app: MoodLensServer, base: string, port: number) => Promise<void>,
): Promise<void> {
  const app = await buildServer({ modelPath: MODEL, ...options });
  try {
    const base = await app.listen({ port: 0 });
    await body(app, base, Number(new URL(base).port));
  } finally {
    await app.close();
  }
}

void test('six uploads at 2 KB/s hold no worker: a normal request is answered meanwhile, the slow ones get 408', async () => {
  const astronaut = await readFile(ASTRONAUT);
  await withServer({ workers: 1, queue: 0 }, async (_app, base, port) => {
    const slow = Array.from({ length: 6 }, () => rawRequest(port, tricklePng(200_000, 512, 250)));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const normal = await postPng(base, astronaut);
    assert.equal(normal.status, 200, await normal.clone().text());
    for (const answer of await Promise.all(slow)) {
      assert.equal(answer.status, 408, answer.body);
      assert.equal(errorCode(answer), 'MOODLENS_ERR_UPLOAD_TIMEOUT');
      assert.equal(answer.headers.connection, 'close');
      // Judged after the 5 s grace at the 16 KiB/s floor, checked every 250 ms.
      assert.ok(answer.ms > 4_500 && answer.ms < 9_000, `answered after ${answer.ms.toFixed(0)} ms`);
    }
    const health = (await (await fetch(new URL('/healthz', base))).json()) as { admitted: number };
    assert.equal(health.admitted, 0);
  });
});

void test('an upload past its time limit is answered 408 even at a good rate', async () => {
  await withServer(
    { workers: 1, uploadTimeoutMs: 1_000, minUploadBytesPerSecond: 0 },
    async (_app, _b, port) => {
      const answer = await rawRequest(port, tricklePng(10_000_000, 4096, 20));
      assert.equal(answer.status, 408, answer.body);
      assert.match(answer.body, /not received within 1 s/);
      assert.ok(answer.ms < 3_000, `answered after ${answer.ms.toFixed(0)} ms`);
    },
  );
});

void test('more uploads than maxUploads at once: the extra one gets 503 with Retry-After, unread', async () => {
  const astronaut = await readFile(ASTRONAUT);
  await withServer({ workers: 1, maxUploads: 2, uploadTimeoutMs: 1_500 }, async (_app, base, port) => {
    const slow = [0, 1].map(() => rawRequest(port, tricklePng(100_000, 256, 100)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const extra = await postPng(base, astronaut);
    assert.equal(extra.status, 503);
    assert.equal(extra.headers.get('retry-after'), '1');
    assert.equal(((await extra.json()) as { error: { code: string } }).error.code, 'MOODLENS_ERR_BUSY');
    for (const answer of await Promise.all(slow)) assert.equal(answer.status, 408);
    const after = await postPng(base, astronaut);
    assert.equal(after.status, 200);
  });
});

void test('an endless chunked multipart body is refused at the body limit, not read on', async () => {
  const bodyLimit = 1024 * 1024;
  await withServer({ workers: 1, bodyLimit }, async (_app, _b, port) => {
    const boundary = 'moodlens-endless';
    const opening = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n` +
        'Content-Type: image/png\r\n\r\n',
    );
    const piece = Buffer.alloc(64 * 1024, 0x42);
    const chunk = (bytes: Buffer): Buffer =>
      Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
    const answer = await rawRequest(port, {
      head:
        'POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n' +
        `Content-Type: multipart/form-data; boundary=${boundary}\r\n\r\n`,
      // Never ends by itself: 100 MB would be sent if the server kept reading.
      next: (sent) => (sent > 100 * 1024 * 1024 ? undefined : chunk(sent === 0 ? opening : piece)),
      intervalMs: 0,
    });
    assert.equal(answer.status, 413, `${answer.sent} bytes sent, answer: ${answer.body}`);
    assert.equal(errorCode(answer), 'MOODLENS_ERR_BODY_TOO_LARGE');
    // The limit plus what the sockets' buffers held when the server stopped reading.
    assert.ok(answer.sent < 12 * 1024 * 1024, `the client wrote ${answer.sent} bytes`);
  });
});

void test('a batch: the one file that overruns the time limit fails alone, the others are answered', async () => {
  const small = await sharp(ASTRONAUT).resize(64).png().toBuffer();
  const huge = await sharp(ASTRONAUT).resize(2048).png().toBuffer();
  // The slow job is Haar's scan at scaleFactor 1.01 (the learned detector has no scale step): haar pinned.
  await withServer({ workers: 1, jobTimeoutMs: 400, detector: 'haar' }, async (_app, base) => {
    const form = new FormData();
    form.append('a', new Blob([new Uint8Array(small)], { type: 'image/png' }), 'small-1.png');
    form.append('b', new Blob([new Uint8Array(huge)], { type: 'image/png' }), 'huge.png');
    form.append('c', new Blob([new Uint8Array(small)], { type: 'image/png' }), 'small-2.png');
    const response = await fetch(new URL('/v1/analyze/batch?scaleFactor=1.01', base), {
      method: 'POST',
      body: form,
    });
    assert.equal(response.status, 200, await response.clone().text());
    const entries = (await response.json()) as Array<{
      file: string;
      error?: { code: string };
      faces?: unknown[];
    }>;
    assert.deepEqual(
      entries.map((e) => [e.file, e.error?.code ?? 'ok']),
      [
        ['small-1.png', 'ok'],
        ['huge.png', 'MOODLENS_ERR_JOB_TIMEOUT'],
        ['small-2.png', 'ok'],
      ],
    );
  });
});

void test('moodlens serve: the upload and job limits as flags, checked', () => {
  const parsed = parseServeArgs([
    '--upload-timeout',
    '1.5',
    '--min-upload-rate',
    '0',
    '--max-uploads',
    '3',
    '--job-timeout',
    '2',
  ]);
  assert.equal(parsed.uploadTimeoutMs, 1_500);
  assert.equal(parsed.minUploadBytesPerSecond, 0);
  assert.equal(parsed.maxUploads, 3);
  assert.equal(parsed.jobTimeoutMs, 2_000);
  for (const bad of [
    ['--upload-timeout', '0'],
    ['--upload-timeout', 'soon'],
    ['--job-timeout', '-1'],
    ['--min-upload-rate', '-5'],
    ['--max-uploads', '0'],
    ['--max-uploads', '2.5'],
  ]) {
    assert.throws(
      () => parseServeArgs(bad),
      (error: unknown) =>
        isMoodLensError(error) &&
        error.code === 'MOODLENS_ERR_INVALID_ARGUMENT' &&
        error.message.includes(bad[0]),
      bad.join(' '),
    );
  }
});
