/**
 * Fuzz-style robustness over a real socket on 127.0.0.1: ~200 seeded random and mutated image bodies
 * (random bytes, truncations, bit flips, header edits, wrong or missing Content-Type, multipart bodies
 * wrapping them, broken multipart) and a few malformed HTTP requests. Every answer must be 200 or a
 * coded 4xx (never a 5xx, never a dropped connection), and the server must still answer correctly after.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Box } from '../src/core/image.js';
import { buildServer } from '../src/server/app.js';
import { assertAstronautBox } from './support/astronaut-face.js';
import { mulberry32 } from './support/fer-scenes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ASTRONAUT = join(ROOT, 'examples', 'astronaut.png');
const MODEL = join(ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
const CASES = 200;
const CONCURRENCY = 4;

interface Case {
  readonly name: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
}

const CONTENT_TYPES = [
  'image/png',
  'image/jpeg',
  'image/webp',
  'image/gif',
  'application/octet-stream',
  'text/plain',
  'application/json',
  'image/svg+xml',
  'image/png; charset=binary',
  undefined,
] as const;

function multipartBody(bytes: Uint8Array, boundary: string, filename: string): Uint8Array {
  return Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
        'Content-Type: image/png\r\n\r\n',
    ),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

function makeCases(seeds: readonly Uint8Array[]): Case[] {
  const random = mulberry32(20240901);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const int = (n: number): number => Math.floor(random() * n);
  const cases: Case[] = [];
  for (let i = 0; i < CASES; i++) {
    const seed = pick(seeds);
    let body: Uint8Array;
    let name: string;
    switch (i % 6) {
      case 0: {
        body = new Uint8Array(int(3000));
        for (let k = 0; k < body.length; k++) body[k] = int(256);
        name = `random ${body.length} bytes`;
        break;
      }
      case 1: {
        const cut = int(seed.length);
        body = seed.slice(0, cut);
        name = `truncated at ${cut}/${seed.length}`;
        break;
      }
      case 2:
      case 3: {
        body = seed.slice();
        const flips = 1 + int(8);
        // Half of the flips in the first 64 bytes (magic, header, dimensions), the rest anywhere.
        for (let f = 0; f < flips; f++) {
          const at = random() < 0.5 ? int(Math.min(64, body.length)) : int(body.length);
          body[at] ^= 1 << int(8);
        }
        name = `${flips} bit flips`;
        break;
      }
      case 4: {
        body = seed.slice();
        const at = int(Math.min(32, body.length));
        body.fill(pick([0, 0xff, 0x7f]), at, at + 1 + int(8));
        name = `header bytes overwritten at ${at}`;
        break;
      }
      default: {
        body = seed.slice(int(16));
        name = 'leading bytes dropped';
      }
    }
    const wrap = int(5);
    if (wrap === 0) {
      cases.push({
        name: `${name} in multipart`,
        path: pick(['/v1/analyze', '/v1/analyze/batch']),
        contentType: 'multipart/form-data; boundary=fuzzfuzz',
        body: multipartBody(body, 'fuzzfuzz', `f${i}.png`),
      });
    } else if (wrap === 1) {
      // Broken multipart: boundary missing, wrong, or the body cut.
      const full = multipartBody(body, 'abc123', 'x.png');
      cases.push({
        name: `${name} in broken multipart`,
        path: '/v1/analyze',
        contentType: pick([
          'multipart/form-data',
          'multipart/form-data; boundary=zzz',
          'multipart/form-data; boundary=abc123',
        ]),
        body: full.subarray(0, int(full.length)),
      });
    } else {
      const contentType = pick(CONTENT_TYPES);
      cases.push({ name: `${name} as ${contentType ?? 'no type'}`, path: '/v1/analyze', contentType, body });
    }
  }
  return cases;
}

/** Sends raw bytes on a fresh TCP connection and returns what came back (until the server closes). */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.end(request);
  });
}

void test('~200 random and mutated bodies get 200 or a coded 4xx, and the server stays up', async () => {
  const astronaut = await readFile(ASTRONAUT);
  const small = sharp(astronaut).resize(96);
  const seeds = await Promise.all([
    small.clone().png().toBuffer(),
    small.clone().jpeg().toBuffer(),
    small.clone().webp().toBuffer(),
    small.clone().gif().toBuffer(),
    small.clone().tiff().toBuffer(),
  ]);
  const app = await buildServer({ modelPath: MODEL, workers: 2, queue: 16, bodyLimit: 1024 * 1024 });
  try {
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const cases = makeCases(seeds.map((b) => new Uint8Array(b)));
    const statuses = new Map<number, number>();
    let next = 0;
    const runner = async (): Promise<void> => {
      while (next < cases.length) {
        const c = cases[next++];
        const response = await fetch(new URL(c.path, base), {
          method: 'POST',
          headers: c.contentType === undefined ? {} : { 'content-type': c.contentType },
          body: new Uint8Array(c.body),
        });
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        assert.ok(
          response.status === 200 || (response.status >= 400 && response.status < 500),
          `${c.name}: ${response.status} ${text}`,
        );
        if (response.status !== 200) {
          const { error } = JSON.parse(text) as { error: { code: string; message: string } };
          assert.match(error.code, /^MOODLENS_ERR_[A-Z_]+$/, `${c.name}: ${text}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, runner));
    assert.equal(
      [...statuses.values()].reduce((a, b) => a + b, 0),
      CASES,
    );
    assert.ok(statuses.size >= 3, `a spread of answers: ${JSON.stringify([...statuses])}`);

    // Malformed HTTP on the raw socket: a 4xx in our JSON shape, and the server unharmed.
    const port = Number(new URL(base).port);
    for (const request of [
      'NONSENSE\r\n\r\n',
      'POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789',
      'POST /v1/analyze HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: image/png\r\n\r\nzz\r\n',
      `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    ]) {
      const answer = await rawExchange(port, request);
      assert.match(answer, /^HTTP\/1\.1 4\d\d /, `${request.slice(0, 40)}: ${answer.slice(0, 200)}`);
    }

    const health = await fetch(new URL('/healthz', base));
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { workers: number }).workers, 2);
    const valid = await fetch(new URL('/v1/analyze', base), {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(astronaut),
    });
    assert.equal(valid.status, 200);
    const entry = (await valid.json()) as { faces: Array<{ box: Box }> };
    assert.equal(entry.faces.length, 1);
    assertAstronautBox(entry.faces[0].box, 'after the fuzz');
  } finally {
    await app.close();
  }
});
