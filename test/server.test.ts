/**
 * The HTTP service in-process (`app.inject()`): every route, the analyze JSON against the CLI's, query
 * validation, multipart and raw bodies, batch entries, every client error with its status and code,
 * the OpenAPI document (validated as OpenAPI 3.x), the bounded queue (503 + Retry-After), job timeouts,
 * and the models' description. Uses the small fixture model (test/fixtures/tiny-emotion.onnx).
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPI } from 'openapi-types';
import sharp from 'sharp';
import { isMoodLensError } from '../src/core/errors.js';
import { DEFAULT_DETECTOR } from '../src/detect/detector-kind.js';
import { EMOTION_LABELS } from '../src/emotion/labels.js';
import { DEFAULT_ENHANCE_BELOW } from '../src/enhance/policy.js';
import { DEFAULT_CASCADE_PATH } from '../src/io/node/cascade-file.js';
import { buildServer, type MoodLensServer } from '../src/server/app.js';
import { loadModels } from '../src/server/models.js';
import { assertAstronautBox, assertNearBox } from './support/astronaut-face.js';
import { runCaptured } from './support/cli.js';
import { pngBombHeader } from './support/png.js';
import { SMALL_ASTRONAUT_BOX, writeSmallAstronaut } from './support/small-astronaut.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ASTRONAUT = join(ROOT, 'examples', 'astronaut.png');
const MODEL = join(ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
const BODY_LIMIT = 1024 * 1024;

interface Face {
  box: { x: number; y: number; width: number; height: number };
  emotion: { label: string; confidence: number; scores: Record<string, number> };
  landmarks?: [number, number][];
  alignment?: { method: string };
  enhanced: boolean;
  restoration?: string;
  faceCheck?: { passed: boolean; problems: string[] };
}
interface Analyzed {
  file: string;
  width: number;
  height: number;
  faces: Face[];
}
interface ErrorAnswer {
  error: { code: string; message: string };
}

let app: MoodLensServer;
let astronaut: Buffer;

before(async () => {
  astronaut = await readFile(ASTRONAUT);
  app = await buildServer({
    modelPath: MODEL,
    workers: 2,
    queue: 8,
    bodyLimit: BODY_LIMIT,
    maxBatchFiles: 4,
  });
});
after(async () => {
  await app?.close();
});

/** A multipart body as a browser or curl would send it (serialised by the standard FormData). */
async function multipart(
  files: { name?: string; field?: string; bytes: Uint8Array; type?: string }[],
  fields: Record<string, string> = {},
): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  for (const [i, file] of files.entries()) {
    const blob = new Blob([new Uint8Array(file.bytes)], { type: file.type ?? 'application/octet-stream' });
    form.append(file.field ?? `file${i}`, blob, file.name ?? '');
  }
  const response = new Response(form);
  return {
    payload: Buffer.from(await response.arrayBuffer()),
    headers: { 'content-type': response.headers.get('content-type') ?? '' },
  };
}

async function postImage(url: string, bytes: Uint8Array | string, type = 'image/png') {
  return app.inject({ method: 'POST', url, headers: { 'content-type': type }, payload: Buffer.from(bytes) });
}

function assertError(
  response: { statusCode: number; json: <T>() => T; body: string },
  status: number,
  code: string,
): string {
  assert.equal(response.statusCode, status, response.body);
  const { error } = response.json<ErrorAnswer>();
  assert.equal(error.code, code, response.body);
  assert.equal(typeof error.message, 'string');
  assert.ok(error.message.length > 0);
  return error.message;
}

function assertScores(face: Face): void {
  assert.deepEqual(Object.keys(face.emotion.scores).sort(), [...EMOTION_LABELS].sort());
  const total = Object.values(face.emotion.scores).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - 1) < 1e-5, `scores sum to ${total}`);
  assert.equal(face.emotion.scores[face.emotion.label], face.emotion.confidence);
}

void test('POST /v1/analyze (raw PNG): the astronaut face, and the same JSON as `moodlens analyze --json`', async () => {
  const response = await postImage('/v1/analyze', astronaut);
  assert.equal(response.statusCode, 200, response.body);
  assert.match(String(response.headers['content-type']), /^application\/json/);
  const entry = response.json<Analyzed>();
  assert.equal(entry.file, 'upload');
  assert.deepEqual([entry.width, entry.height], [512, 512]);
  assert.equal(entry.faces.length, 1);
  assertAstronautBox(entry.faces[0].box);
  assertScores(entry.faces[0]);

  // Landmarks, alignment and enhancement as `moodlens analyze --json` has them, nothing left out.
  assert.equal(entry.faces[0].landmarks?.length, 68);
  assert.equal(entry.faces[0].alignment?.method, 'rotation');
  assert.equal(entry.faces[0].enhanced, false);
  const cli = await analyzeJson(ASTRONAUT);
  assert.deepEqual({ ...entry, file: cli.file }, cli);
});

/** The entry of `moodlens analyze --json --no-images --model MODEL` for one image. */
async function analyzeJson(file: string, ...flags: string[]): Promise<Analyzed> {
  const { code, stdout, stderr } = await runCaptured([
    'analyze',
    file,
    '--json',
    '--no-images',
    '--model',
    MODEL,
    ...flags,
  ]);
  assert.equal(code, 0, stderr);
  return (JSON.parse(stdout) as Analyzed[])[0];
}

void test('POST /v1/analyze?align=false: the plain box crop, as `moodlens analyze --no-align`', async () => {
  const response = await postImage('/v1/analyze?align=false', astronaut);
  assert.equal(response.statusCode, 200, response.body);
  const entry = response.json<Analyzed>();
  // The landmarks still run, for the false-face check; no alignment.
  assert.equal(entry.faces[0].landmarks?.length, 68);
  assert.equal(entry.faces[0].alignment, undefined);
  const cli = await analyzeJson(ASTRONAUT, '--no-align');
  assert.deepEqual({ ...entry, file: cli.file }, cli);
});

void test('POST /v1/analyze: a small face is restored by FSRNet under enhance=auto, not under enhance=never', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-server-small-'));
  try {
    const path = await writeSmallAstronaut(dir);
    const small = await readFile(path);
    const auto = (await postImage('/v1/analyze', small)).json<Analyzed>();
    assert.equal(auto.faces.length, 1);
    assertNearBox(auto.faces[0].box, SMALL_ASTRONAUT_BOX, 'the small face');
    assert.ok(auto.faces[0].box.width < DEFAULT_ENHANCE_BELOW, 'a face auto restores');
    assert.equal(auto.faces[0].enhanced, true);
    const cli = await analyzeJson(path);
    assert.deepEqual({ ...auto, file: cli.file }, cli);

    const never = (await postImage('/v1/analyze?enhance=never', small)).json<Analyzed>();
    assert.equal(never.faces[0].enhanced, false);
    assert.notDeepEqual(never.faces[0].emotion.scores, auto.faces[0].emotion.scores);
    const below = (await postImage('/v1/analyze?enhanceBelow=20&upscaleBelow=0', small)).json<Analyzed>();
    assert.equal(below.faces[0].enhanced, false);
    assert.equal(below.faces[0].restoration, 'none');
    assert.deepEqual(below.faces[0].emotion, never.faces[0].emotion);
    const bicubic = (await postImage('/v1/analyze?enhanceBelow=20', small)).json<Analyzed>();
    assert.equal(bicubic.faces[0].restoration, 'bicubic');
    assert.notDeepEqual(bicubic.faces[0].emotion, never.faces[0].emotion);
    const always = (await postImage('/v1/analyze?enhance=always', astronaut)).json<Analyzed>();
    assert.equal(always.faces[0].enhanced, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('POST /v1/analyze: JPEG, WebP and application/octet-stream bodies; multipart with its file name', async () => {
  const png = (await postImage('/v1/analyze', astronaut)).json<Analyzed>().faces[0].box;
  assertAstronautBox(png);
  for (const [type, bytes] of [
    ['image/jpeg', await sharp(astronaut).jpeg({ quality: 92 }).toBuffer()],
    ['image/webp', await sharp(astronaut).webp({ quality: 92 }).toBuffer()],
    ['application/octet-stream', astronaut],
  ] as const) {
    const response = await postImage('/v1/analyze', bytes, type);
    assert.equal(response.statusCode, 200, `${type}: ${response.body}`);
    const entry = response.json<Analyzed>();
    assert.deepEqual([entry.file, entry.width, entry.height, entry.faces.length], ['upload', 512, 512, 1]);
    // The decoded pixels differ a little from the PNG's: the box by a few pixels at most.
    const { x, y } = entry.faces[0].box;
    assert.ok(
      Math.abs(x - png.x) <= 3 && Math.abs(y - png.y) <= 3,
      `${type}: ${x},${y} vs ${png.x},${png.y}`,
    );
  }

  const form = await multipart(
    [{ name: 'astronaut.png', field: 'image', bytes: astronaut, type: 'image/png' }],
    {
      note: 'fields other than files are ignored',
    },
  );
  const response = await app.inject({ method: 'POST', url: '/v1/analyze', ...form });
  assert.equal(response.statusCode, 200, response.body);
  const entry = response.json<Analyzed>();
  assert.equal(entry.file, 'astronaut.png');
  assert.deepEqual(entry.faces[0].box, png);

  // No file name in the part: "upload".
  const unnamed = await multipart([{ bytes: astronaut }]);
  const second = await app.inject({ method: 'POST', url: '/v1/analyze', ...unnamed });
  assert.equal(second.json<Analyzed>().file, 'upload');
});

void test('POST /v1/analyze: query options mirror the CLI flags and are validated by the schema', async () => {
  const plain = (await postImage('/v1/analyze', astronaut)).json<Analyzed>();
  const none = await postImage('/v1/analyze?minSize=200', astronaut);
  assert.equal(none.statusCode, 200);
  assert.deepEqual(none.json<Analyzed>().faces, []);

  assertAstronautBox(plain.faces[0].box);
  const flipped = (await postImage('/v1/analyze?flipTta=true', astronaut)).json<Analyzed>();
  assert.deepEqual(flipped.faces[0].box, plain.faces[0].box);
  assertScores(flipped.faces[0]);
  assert.notDeepEqual(flipped.faces[0].emotion.scores, plain.faces[0].emotion.scores);
  const margin = (await postImage('/v1/analyze?margin=0.2', astronaut)).json<Analyzed>();
  assert.notDeepEqual(margin.faces[0].emotion.scores, plain.faces[0].emotion.scores);

  for (const [query, mention] of [
    ['minNeighbors=-1', 'minNeighbors'],
    ['minNeighbors=2.5', 'minNeighbors'],
    ['scaleFactor=1', 'scaleFactor'],
    ['scaleFactor=5', 'scaleFactor'],
    ['scaleFactor=fast', 'scaleFactor'],
    ['minSize=-3', 'minSize'],
    ['maxSize=big', 'maxSize'],
    ['margin=3', 'margin'],
    ['flipTta=maybe', 'flipTta'],
    ['align=sideways', 'align'],
    ['enhance=sometimes', 'enhance'],
    ['enhance=', 'enhance'],
    ['enhanceBelow=-1', 'enhanceBelow'],
    ['enhanceBelow=12.5', 'enhanceBelow'],
    ['min_neighbors=5', 'additional properties'],
  ]) {
    const message = assertError(
      await postImage(`/v1/analyze?${query}`, astronaut),
      400,
      'MOODLENS_ERR_INVALID_ARGUMENT',
    );
    assert.ok(message.includes(mention), `${query}: ${message}`);
  }
});

void test('POST /v1/analyze/batch: one entry per file in order, a bad file gets its coded error', async () => {
  const truncated = astronaut.subarray(0, 4000);
  const form = await multipart([
    { name: 'astronaut.png', bytes: astronaut },
    { name: 'notes.txt', bytes: Buffer.from('not an image at all') },
    { name: 'cut.png', bytes: truncated },
    { name: 'small.jpg', bytes: await sharp(astronaut).resize(128).jpeg().toBuffer() },
  ]);
  const response = await app.inject({ method: 'POST', url: '/v1/analyze/batch?minSize=0', ...form });
  assert.equal(response.statusCode, 200, response.body);
  const entries = response.json<Array<Analyzed | ({ file: string } & ErrorAnswer)>>();
  assert.deepEqual(
    entries.map((e) => e.file),
    ['astronaut.png', 'notes.txt', 'cut.png', 'small.jpg'],
  );
  const [first, text, cut, small] = entries;
  assert.ok('faces' in first);
  assertAstronautBox(first.faces[0].box);
  assert.ok('error' in text && 'error' in cut);
  assert.equal(text.error.code, 'MOODLENS_ERR_NOT_AN_IMAGE');
  assert.match(text.error.message, /notes\.txt/);
  assert.equal(cut.error.code, 'MOODLENS_ERR_CORRUPT_IMAGE');
  assert.ok('faces' in small);
  assert.deepEqual([small.width, small.height], [128, 128]);
});

void test('POST /v1/analyze/batch: no file 400, a raw body 415, too many files 413; /v1/analyze takes one file', async () => {
  assertError(
    await app.inject({ method: 'POST', url: '/v1/analyze/batch', ...(await multipart([], { a: 'b' })) }),
    400,
    'MOODLENS_ERR_INVALID_ARGUMENT',
  );
  assertError(await postImage('/v1/analyze/batch', astronaut), 415, 'MOODLENS_ERR_UNSUPPORTED_MEDIA_TYPE');
  const small = await sharp(astronaut).resize(64).png().toBuffer();
  const five = await multipart(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}.png`, bytes: small })));
  assertError(
    await app.inject({ method: 'POST', url: '/v1/analyze/batch', ...five }),
    413,
    'MOODLENS_ERR_BODY_TOO_LARGE',
  );
  const two = await multipart([{ bytes: small }, { bytes: small }]);
  assertError(
    await app.inject({ method: 'POST', url: '/v1/analyze', ...two }),
    400,
    'MOODLENS_ERR_INVALID_ARGUMENT',
  );
});

void test('client mistakes get 4xx with a code: not an image 415, corrupt 422, empty 422, bomb 422, wrong type 415', async () => {
  assertError(await postImage('/v1/analyze', 'hello, world'), 415, 'MOODLENS_ERR_NOT_AN_IMAGE');
  assertError(await postImage('/v1/analyze', astronaut.subarray(0, 5000)), 422, 'MOODLENS_ERR_CORRUPT_IMAGE');
  const jpeg = await sharp(astronaut).jpeg().toBuffer();
  assertError(
    await postImage('/v1/analyze', jpeg.subarray(0, jpeg.length >> 1), 'image/jpeg'),
    422,
    'MOODLENS_ERR_CORRUPT_IMAGE',
  );
  assertError(await postImage('/v1/analyze', Buffer.alloc(0)), 422, 'MOODLENS_ERR_EMPTY_INPUT');

  const bomb = pngBombHeader(20000, 20000);
  assert.ok(bomb.length < 2000, `${bomb.length} bytes declare 400 megapixels`);
  const message = assertError(await postImage('/v1/analyze', bomb), 422, 'MOODLENS_ERR_TOO_MANY_PIXELS');
  assert.match(message, /20000x20000/);

  assertError(
    await postImage('/v1/analyze', '{"image": 1}', 'application/json'),
    415,
    'MOODLENS_ERR_UNSUPPORTED_MEDIA_TYPE',
  );
  assertError(
    await postImage('/v1/analyze', 'text', 'text/plain'),
    415,
    'MOODLENS_ERR_UNSUPPORTED_MEDIA_TYPE',
  );
  assertError(
    await app.inject({ method: 'POST', url: '/v1/analyze' }),
    415,
    'MOODLENS_ERR_UNSUPPORTED_MEDIA_TYPE',
  );
  const broken = await app.inject({
    method: 'POST',
    url: '/v1/analyze',
    headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
    payload: '--xyz\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\n\r\nabc',
  });
  assert.ok(broken.statusCode >= 400 && broken.statusCode < 500, broken.body);
});

void test('a body over the limit is 413, raw or multipart', async () => {
  const big = Buffer.alloc(BODY_LIMIT + 1000, 7);
  assertError(await postImage('/v1/analyze', big), 413, 'MOODLENS_ERR_BODY_TOO_LARGE');
  const form = await multipart([{ name: 'big.png', bytes: big }]);
  assertError(
    await app.inject({ method: 'POST', url: '/v1/analyze', ...form }),
    413,
    'MOODLENS_ERR_BODY_TOO_LARGE',
  );
  const halves = await multipart([
    { name: 'a.png', bytes: big.subarray(0, BODY_LIMIT / 2 + 10) },
    { name: 'b.png', bytes: big.subarray(0, BODY_LIMIT / 2 + 10) },
  ]);
  assertError(
    await app.inject({ method: 'POST', url: '/v1/analyze/batch', ...halves }),
    413,
    'MOODLENS_ERR_BODY_TOO_LARGE',
  );
  // The server is fine afterwards.
  assert.equal((await postImage('/v1/analyze', astronaut)).statusCode, 200);
});

void test('unknown route 404, wrong method 405 with Allow', async () => {
  assertError(await app.inject({ method: 'GET', url: '/nothing/here' }), 404, 'MOODLENS_ERR_ROUTE_NOT_FOUND');
  assertError(await app.inject({ method: 'POST', url: '/v2/analyze' }), 404, 'MOODLENS_ERR_ROUTE_NOT_FOUND');
  const get = await app.inject({ method: 'GET', url: '/v1/analyze?minSize=3' });
  assertError(get, 405, 'MOODLENS_ERR_METHOD_NOT_ALLOWED');
  assert.equal(get.headers.allow, 'POST');
  const del = await app.inject({ method: 'DELETE', url: '/healthz' });
  assertError(del, 405, 'MOODLENS_ERR_METHOD_NOT_ALLOWED');
  assert.equal(del.headers.allow, 'GET, HEAD');
  assertError(await app.inject({ method: 'PUT', url: '/v1/models' }), 405, 'MOODLENS_ERR_METHOD_NOT_ALLOWED');
});

void test('GET /healthz and GET /v1/models', async () => {
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(health.statusCode, 200);
  const h = health.json<Record<string, unknown>>();
  assert.equal(h.status, 'ok');
  assert.equal(h.workers, 2);
  assert.equal(h.capacity, 10);
  assert.equal(typeof h.uptimeSeconds, 'number');

  const models = await app.inject({ method: 'GET', url: '/v1/models' });
  assert.equal(models.statusCode, 200);
  const [emotion, detector, landmarks, enhance] = models.json<{ models: Array<Record<string, unknown>> }>()
    .models;
  assert.equal(emotion.name, 'tiny-emotion');
  assert.equal(emotion.task, 'emotion-classification');
  assert.equal(emotion.file, 'tiny-emotion.onnx');
  assert.match(String(emotion.version), /^sha256:[0-9a-f]{12}$/);
  assert.deepEqual(emotion.labels, [...EMOTION_LABELS]);
  assert.equal(emotion.arch, 'tiny_random_test_net');
  assert.equal(emotion.accuracy, undefined, "the fixture's val_accuracy is nan and it has no card");
  // The default detector's model: the cascade (haar) or the learned detector (cnn).
  assert.equal(
    detector.file,
    { haar: 'haarcascade_frontalface_default.xml', cnn: 'face-detector.onnx' }[DEFAULT_DETECTOR],
  );
  assert.equal(detector.task, 'face-detection');
  assert.deepEqual([landmarks.file, landmarks.task], ['landmarks.onnx', 'face-landmarks']);
  assert.deepEqual([enhance.file, enhance.task], ['fsrnet.onnx', 'face-super-resolution']);
  for (const model of [landmarks, enhance]) {
    assert.equal(typeof model.version, 'string');
    assert.match(String(model.sha256), /^[0-9a-f]{64}$/);
  }
  assert.ok(!JSON.stringify(models.json()).includes(ROOT), 'no server path is disclosed');
});

void test('the models description reads the model card beside the model', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-card-'));
  try {
    const model = join(dir, 'emotion.onnx');
    await copyFile(MODEL, model);
    await writeFile(
      join(dir, 'emotion.md'),
      '# Emotion model\n\n## Accuracy\n\n| split | top-1 |\n| --- | ---: |\n| PublicTest | 71.3% |\n| PrivateTest | 70.9 % |\n',
    );
    const { descriptions } = await loadModels(model, DEFAULT_CASCADE_PATH);
    assert.equal(descriptions[0].card, 'emotion.md');
    assert.deepEqual(descriptions[0].accuracy, { publicTest: 0.713, privateTest: 0.709 });
    // As training/moodlens_train/card.py writes it (MODEL_CARD.md is looked for after emotion.md).
    await rm(join(dir, 'emotion.md'));
    await writeFile(
      join(dir, 'MODEL_CARD.md'),
      '# Emotion model card: `emotion.onnx`\n\n## Summary\n\n| | |\n| --- | --- |\n| parameters | 57,000 |\n' +
        '| **PublicTest accuracy** | **71.23%** (3589 faces, measured in Node) |\n| with `--flip-tta` | 72.10% |\n\n' +
        '## Ablation\n\n| model | epochs | best PublicTest accuracy (PyTorch) | at epoch |\n| base | 50 | 69.90% | 41 |\n',
    );
    const generated = await loadModels(model, DEFAULT_CASCADE_PATH);
    assert.equal(generated.descriptions[0].card, 'MODEL_CARD.md');
    assert.deepEqual(generated.descriptions[0].accuracy, { publicTest: 0.7123, publicTestFlipTta: 0.721 });
    await writeFile(join(dir, 'emotion.card.json'), JSON.stringify({ accuracy: { publicTest: 0.72 } }));
    const json = await loadModels(model, DEFAULT_CASCADE_PATH);
    assert.equal(json.descriptions[0].card, 'emotion.card.json');
    assert.deepEqual(json.descriptions[0].accuracy, { publicTest: 0.72 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('GET /openapi.json is a valid OpenAPI 3.x document listing every route', async () => {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(response.statusCode, 200);
  const doc = response.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
  assert.match(doc.openapi, /^3\.\d+\.\d+$/);
  await SwaggerParser.validate(structuredClone(doc) as unknown as OpenAPI.Document);
  const routes = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
  );
  assert.deepEqual(routes.sort(), [
    'GET /healthz',
    'GET /openapi.json',
    'GET /v1/models',
    'POST /v1/analyze',
    'POST /v1/analyze/batch',
  ]);
  const analyze = doc.paths['/v1/analyze'].post as {
    parameters: Array<{ name: string; in: string }>;
    requestBody: { content: Record<string, unknown> };
    responses: Record<string, unknown>;
  };
  assert.deepEqual(analyze.parameters.map((p) => p.name).sort(), [
    'align',
    'enhance',
    'enhanceBelow',
    'flipTta',
    'keepAllFaces',
    'margin',
    'maxSize',
    'minNeighbors',
    'minSize',
    'scaleFactor',
    'upscaleBelow',
  ]);
  assert.ok(
    ['image/jpeg', 'image/png', 'image/webp', 'multipart/form-data'].every(
      (t) => t in analyze.requestBody.content,
    ),
  );
  assert.ok('200' in analyze.responses && '4XX' in analyze.responses);
});

void test('a full queue answers 503 with Retry-After; the server takes requests again afterwards', async () => {
  const small = await buildServer({ modelPath: MODEL, workers: 1, queue: 1 });
  try {
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        small.inject({
          method: 'POST',
          url: '/v1/analyze',
          headers: { 'content-type': 'image/png' },
          payload: astronaut,
        }),
      ),
    );
    const statuses = answers.map((a) => a.statusCode).sort();
    assert.deepEqual(statuses, [200, 200, 503, 503, 503]);
    for (const busy of answers.filter((a) => a.statusCode === 503)) {
      assertError(busy, 503, 'MOODLENS_ERR_BUSY');
      assert.ok(Number(busy.headers['retry-after']) >= 1, String(busy.headers['retry-after']));
    }
    const again = await small.inject({
      method: 'POST',
      url: '/v1/analyze',
      headers: { 'content-type': 'image/png' },
      payload: astronaut,
    });
    assert.equal(again.statusCode, 200);
    assert.equal(small.server.listening, false);
    const health = (await small.inject({ method: 'GET', url: '/healthz' })).json<Record<string, number>>();
    assert.deepEqual([health.admitted, health.busy, health.queued], [0, 0, 0]);
  } finally {
    await small.close();
  }
});

void test('an image that takes too long is stopped (422), its worker replaced, the server still answers', async () => {
  // The slow image is Haar's scan at scaleFactor 1.01 (the learned detector has no scale step): haar pinned.
  const strict = await buildServer({
    modelPath: MODEL,
    workers: 1,
    queue: 0,
    jobTimeoutMs: 30,
    detector: 'haar',
  });
  try {
    const slow = await strict.inject({
      method: 'POST',
      url: '/v1/analyze?scaleFactor=1.01',
      headers: { 'content-type': 'image/png' },
      payload: astronaut,
    });
    assertError(slow, 422, 'MOODLENS_ERR_JOB_TIMEOUT');
    let workers = 0;
    for (let i = 0; i < 100 && workers === 0; i++) {
      workers = (await strict.inject({ method: 'GET', url: '/healthz' })).json<{ workers: number }>().workers;
      if (workers === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(workers, 1);
    const next = await strict.inject({
      method: 'POST',
      url: '/v1/analyze',
      headers: { 'content-type': 'image/png' },
      payload: 'still alive?',
    });
    assertError(next, 415, 'MOODLENS_ERR_NOT_AN_IMAGE');
  } finally {
    await strict.close();
  }
});

void test('a worker grown past recycleAboveBytes by a large image is replaced after answering', async () => {
  // What grows is the Haar scan kernel's WebAssembly memory (the measure the worker reports): haar pinned.
  const lean = await buildServer({
    modelPath: MODEL,
    workers: 1,
    recycleAboveBytes: 1024 * 1024,
    detector: 'haar',
  });
  try {
    const post = () =>
      lean.inject({
        method: 'POST',
        url: '/v1/analyze',
        headers: { 'content-type': 'image/png' },
        payload: astronaut,
      });
    const first = await post();
    assert.equal(first.statusCode, 200);
    assertAstronautBox(first.json<Analyzed>().faces[0].box);
    let health = { workers: 0, restarts: 0 };
    for (let i = 0; i < 200 && (health.workers === 0 || health.restarts === 0); i++) {
      health = (await lean.inject({ method: 'GET', url: '/healthz' })).json<typeof health>();
      if (health.workers === 0 || health.restarts === 0)
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(health, { ...health, workers: 1, restarts: 1 });
    assert.equal((await post()).statusCode, 200);
  } finally {
    await lean.close();
  }
});

void test('without the landmark and FSRNet models: box crops, no enhancement, enhance=always a 400', async () => {
  const bare = await buildServer({
    modelPath: MODEL,
    workers: 1,
    landmarkModelPath: false,
    enhanceModelPath: false,
  });
  try {
    const entry = (
      await bare.inject({
        method: 'POST',
        url: '/v1/analyze',
        headers: { 'content-type': 'image/png' },
        payload: astronaut,
      })
    ).json<Analyzed>();
    const withCheck = await analyzeJson(ASTRONAUT, '--no-align', '--enhance', 'never');
    // The CLI has the landmark model: its false-face check's landmarks, verdicts and "rejected" aside.
    const cliEntry: Analyzed & { rejected?: unknown } = { ...withCheck };
    delete cliEntry.rejected;
    const cli = {
      ...cliEntry,
      faces: cliEntry.faces.map(({ landmarks: _l, faceCheck: _f, ...face }) => face),
    };
    // No FSRNet, but auto still decides per face (the 95 px face: the plain path); never has no stage.
    assert.deepEqual(
      entry.faces.map((f) => f.restoration),
      ['none'],
    );
    const faces = entry.faces.map(({ restoration: _, ...face }) => face);
    assert.deepEqual({ ...entry, faces, file: cli.file }, cli);
    const models = (await bare.inject({ method: 'GET', url: '/v1/models' })).json<{ models: unknown[] }>();
    assert.equal(models.models.length, 2);
    assertError(
      await bare.inject({
        method: 'POST',
        url: '/v1/analyze?enhance=always',
        headers: { 'content-type': 'image/png' },
        payload: astronaut,
      }),
      400,
      'MOODLENS_ERR_INVALID_ARGUMENT',
    );
  } finally {
    await bare.close();
  }
});

void test('a model that cannot load fails the start with MOODLENS_ERR_MODEL_LOAD', async () => {
  for (const modelPath of [join(ROOT, 'no-such-model.onnx'), ASTRONAUT, join(ROOT, 'examples')]) {
    await assert.rejects(buildServer({ modelPath, workers: 1 }), (error: unknown) => {
      assert.ok(isMoodLensError(error), String(error));
      assert.equal(error.code, 'MOODLENS_ERR_MODEL_LOAD');
      return true;
    });
  }
  await assert.rejects(buildServer({ modelPath: MODEL, workers: 0 }), /workers/);
});
