/**
 * The web app's files as the server serves them: types for .wasm/.mjs/.onnx, cross-origin isolation
 * headers, revalidation, HEAD, paths that try to leave the folder, the API's routes and answers
 * unchanged beside them, and a clear page when the app has not been built. Then the real
 * `moodlens serve` with the real build (dist/web, made by `npm run build:web` before the tests).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildServer, type MoodLensServer } from '../src/server/app.js';
import { DEFAULT_WEB_ROOT, webAppBuilt } from '../src/server/static-files.js';
import { REPO_ROOT } from './support/opencv.js';

const MODEL = join(REPO_ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
const BIN = join(REPO_ROOT, 'bin', 'moodlens.js');
const INDEX = '<!doctype html><html><body>MoodLens test page</body></html>\n';
const WASM = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

let root: string;
let app: MoodLensServer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'moodlens-webroot-'));
  await mkdir(join(root, 'assets'));
  await mkdir(join(root, 'ort'));
  await mkdir(join(root, 'models'));
  await writeFile(join(root, 'index.html'), INDEX);
  await writeFile(join(root, 'assets', 'index-abc123.js'), 'console.log(1);\n');
  await writeFile(join(root, 'ort', 'ort-wasm-simd-threaded.wasm'), WASM);
  await writeFile(join(root, 'ort', 'ort-wasm-simd-threaded.mjs'), 'export default 1;\n');
  await writeFile(join(root, 'models', 'emotion.onnx'), Uint8Array.from([8, 7, 1, 2, 3]));
  await writeFile(join(root, '.secret'), 'hidden');
  app = await buildServer({ modelPath: MODEL, workers: 1, webRoot: root });
});

after(async () => {
  await app?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

void test('the web app: index at /, each file with its type and the cross-origin isolation headers', async () => {
  const page = await app.inject({ method: 'GET', url: '/' });
  assert.equal(page.statusCode, 200);
  assert.equal(page.body, INDEX);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(page.headers['cache-control'], 'no-cache');
  for (const [name, value] of Object.entries(ISOLATION)) assert.equal(page.headers[name], value, name);

  const types = {
    '/index.html': 'text/html; charset=utf-8',
    '/assets/index-abc123.js': 'text/javascript; charset=utf-8',
    '/ort/ort-wasm-simd-threaded.mjs': 'text/javascript; charset=utf-8',
    '/ort/ort-wasm-simd-threaded.wasm': 'application/wasm',
    '/models/emotion.onnx': 'application/octet-stream',
  };
  for (const [url, type] of Object.entries(types)) {
    const response = await app.inject({ method: 'GET', url });
    assert.equal(response.statusCode, 200, url);
    assert.equal(response.headers['content-type'], type, url);
    assert.equal(response.headers['x-content-type-options'], 'nosniff', url);
    for (const [name, value] of Object.entries(ISOLATION)) assert.equal(response.headers[name], value, url);
    const onDisk = await readFile(join(root, url === '/' ? 'index.html' : url.slice(1)));
    assert.deepEqual(response.rawPayload, onDisk, url);
    assert.equal(Number(response.headers['content-length']), onDisk.length, url);
  }
  // Hashed build assets are cached for good; the rest revalidated with an ETag.
  const asset = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
  assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
  const wasm = await app.inject({ method: 'GET', url: '/ort/ort-wasm-simd-threaded.wasm' });
  const etag = String(wasm.headers.etag);
  const again = await app.inject({
    method: 'GET',
    url: '/ort/ort-wasm-simd-threaded.wasm',
    headers: { 'if-none-match': etag },
  });
  assert.equal(again.statusCode, 304);
  assert.equal(again.body, '');
  const head = await app.inject({ method: 'HEAD', url: '/models/emotion.onnx' });
  assert.equal(head.statusCode, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-type'], 'application/octet-stream');
});

void test('paths outside the folder, hidden files and folders are not served; the API is unchanged', async () => {
  const json = (response: { json: <T>() => T }): string =>
    response.json<{ error: { code: string } }>().error.code;
  for (const url of [
    '/../package.json',
    '/%2e%2e/package.json',
    '/assets/..%2f..%2fpackage.json',
    '/.secret',
    '/models',
    '/models/',
    '/nothing.js',
  ]) {
    const response = await app.inject({ method: 'GET', url });
    assert.equal(response.statusCode, 404, url);
    assert.equal(json(response), 'MOODLENS_ERR_ROUTE_NOT_FOUND', url);
  }
  const bad = await app.inject({ method: 'GET', url: '/%E0%A4%A' });
  assert.equal(bad.statusCode, 400);
  assert.equal(json(bad), 'MOODLENS_ERR_MALFORMED_REQUEST');
  // API routes keep their answers: a GET on a POST route is still 405, the API's GETs still answer.
  const get = await app.inject({ method: 'GET', url: '/v1/analyze' });
  assert.equal(get.statusCode, 405);
  assert.equal(get.headers.allow, 'POST');
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  const post = await app.inject({ method: 'POST', url: '/' });
  assert.equal(post.statusCode, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  // The web app is not part of the API document.
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: object }>();
  assert.deepEqual(
    Object.keys(doc.paths).filter((p) => !p.startsWith('/v1/') && p !== '/healthz' && p !== '/openapi.json'),
    [],
  );
});

void test('no build: / explains how to build the app (503), the API still answers; webRoot false: no app', async () => {
  const empty = await mkdtemp(join(tmpdir(), 'moodlens-nobuild-'));
  const unbuilt = await buildServer({ modelPath: MODEL, workers: 1, webRoot: empty });
  const none = await buildServer({ modelPath: MODEL, workers: 1, webRoot: false });
  try {
    const page = await unbuilt.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 503);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /The MoodLens web app is not built/);
    assert.match(page.body, /npm run build:web/);
    assert.ok(!page.body.includes(empty), 'no server path in the page');
    assert.equal((await unbuilt.inject({ method: 'GET', url: '/assets/x.js' })).statusCode, 404);
    assert.equal((await unbuilt.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const noApp = await none.inject({ method: 'GET', url: '/' });
    assert.equal(noApp.statusCode, 404);
    assert.equal(noApp.json<{ error: { code: string } }>().error.code, 'MOODLENS_ERR_ROUTE_NOT_FOUND');
  } finally {
    await unbuilt.close();
    await none.close();
    await rm(empty, { recursive: true, force: true });
  }
});

void test('moodlens serve serves the real build: page, ONNX Runtime wasm of the installed version, model', async (t) => {
  if (!webAppBuilt(DEFAULT_WEB_ROOT)) {
    if (process.env.CI)
      assert.fail(`no web build in ${DEFAULT_WEB_ROOT}: npm test runs npm run build:web first`);
    t.skip(`no web build in ${DEFAULT_WEB_ROOT}: npm run build:web`);
    return;
  }
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--workers', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const base = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /web app at (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout);
        if (match) resolve(match[1]);
      });
      child.once('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.match(await page.text(), /<title>MoodLens live<\/title>/);
    const wasm = await fetch(`${base}/ort/ort-wasm-simd-threaded.wasm`);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    const installed = await readFile(
      join(REPO_ROOT, 'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm'),
    );
    assert.ok(
      Buffer.from(await wasm.arrayBuffer()).equals(installed),
      'the wasm of the installed onnxruntime-web',
    );
    const model = await fetch(`${base}/models/emotion.onnx`);
    const shipped = await readFile(join(REPO_ROOT, 'models/emotion/emotion.onnx'));
    assert.ok(Buffer.from(await model.arrayBuffer()).equals(shipped), 'the shipped model, byte for byte');
  } finally {
    child.kill('SIGTERM');
  }
});
