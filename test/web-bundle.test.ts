/**
 * The built web app (dist/web, made by `npm run build:web` before the tests): no Node-only package in
 * its bundles, ONNX Runtime's wasm files and JavaScript of one and the same onnxruntime-web version, and
 * the same model, cascade and FSRNet files as Node uses.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_WEB_ROOT, webAppBuilt } from '../src/server/static-files.js';
import { REPO_ROOT } from './support/opencv.js';

function built(t: { skip(message: string): void }): boolean {
  if (webAppBuilt(DEFAULT_WEB_ROOT)) return true;
  if (process.env.CI)
    assert.fail(`no web build in ${DEFAULT_WEB_ROOT}: npm test runs npm run build:web first`);
  t.skip(`no web build in ${DEFAULT_WEB_ROOT}: npm run build:web`);
  return false;
}

/** Import forms of a Node builtin or a Node-only package in bundled JavaScript. */
const NODE_ONLY_IMPORTS = [
  /\bimport\s*[\w*{}\s,$]*from\s*["'`](node:[\w/]+)["'`]/g,
  /\bimport\s*\(\s*["'`](node:[\w/]+)["'`]\s*\)/g,
  /["'`](sharp|onnxruntime-node|fastify|@ffmpeg-installer\/ffmpeg|@img\/sharp[\w-]*)["'`]/g,
];

void test('the bundles import no Node builtin and no Node-only package', async (t) => {
  if (!built(t)) return;
  const assets = join(DEFAULT_WEB_ROOT, 'assets');
  const scripts = (await readdir(assets)).filter((f) => f.endsWith('.js'));
  assert.ok(
    scripts.some((f) => f.startsWith('worker-')),
    `a worker bundle among ${scripts.join(', ')}`,
  );
  const found: string[] = [];
  for (const file of scripts) {
    const text = await readFile(join(assets, file), 'utf8');
    for (const pattern of NODE_ONLY_IMPORTS) {
      for (const match of text.matchAll(pattern)) found.push(`${file}: ${match[0]}`);
    }
  }
  assert.deepEqual(found, []);
  // The check itself finds what it looks for.
  assert.equal([...'import{readFile}from"node:fs"'.matchAll(NODE_ONLY_IMPORTS[0])].length, 1);
  assert.equal([...'await import("sharp")'.matchAll(NODE_ONLY_IMPORTS[2])].length, 1);
});

void test('ONNX Runtime: the JavaScript and the served .mjs/.wasm are the installed, pinned onnxruntime-web', async (t) => {
  if (!built(t)) return;
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const ortDir = join(REPO_ROOT, 'node_modules', 'onnxruntime-web');
  const installed = (JSON.parse(await readFile(join(ortDir, 'package.json'), 'utf8')) as { version: string })
    .version;
  assert.equal(
    pkg.dependencies['onnxruntime-web'],
    installed,
    'onnxruntime-web is pinned to the installed version',
  );
  assert.equal(
    pkg.dependencies['onnxruntime-node'],
    installed,
    'node and web run the same ONNX Runtime version',
  );
  for (const file of ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs']) {
    const served = await readFile(join(DEFAULT_WEB_ROOT, 'ort', file));
    assert.ok(served.equals(await readFile(join(ortDir, 'dist', file))), file);
  }
  const assets = join(DEFAULT_WEB_ROOT, 'assets');
  const worker = (await readdir(assets)).find((f) => f.startsWith('worker-') && f.endsWith('.js'));
  const text = await readFile(join(assets, worker ?? 'missing'), 'utf8');
  const versions = new Set([...text.matchAll(/\b(1\.\d+\.\d+)\b/g)].map((m) => m[1]));
  assert.ok(
    versions.has(installed),
    `the worker bundles onnxruntime-web ${installed}: found ${[...versions].join(', ')}`,
  );
  // It loads its wasm glue from ort/ (not inlined), so the served files are what runs.
  assert.ok(text.includes('ort-wasm-simd-threaded.mjs'));
});

void test('the models in the build are the shipped files, byte for byte', async (t) => {
  if (!built(t)) return;
  for (const [served, shipped] of [
    ['models/emotion.onnx', 'models/emotion/emotion.onnx'],
    ['models/emotion.json', 'models/emotion/emotion.json'],
    ['models/haarcascade_frontalface_default.xml', 'models/haar/haarcascade_frontalface_default.xml'],
    ['models/face-detector.onnx', 'models/detector/face-detector.onnx'],
    ['models/landmarks.onnx', 'models/landmarks/landmarks.onnx'],
    ['models/template48.json', 'models/landmarks/template48.json'],
    // FSRNet, as the CLI loads it: the model trained on x2-x4 and its two specialists.
    ['models/fsrnet.onnx', 'models/enhance/fsrnet.onnx'],
    ['models/fsrnet-x2.onnx', 'models/enhance/fsrnet-x2.onnx'],
    ['models/fsrnet-x4.onnx', 'models/enhance/fsrnet-x4.onnx'],
  ]) {
    const a = await readFile(join(DEFAULT_WEB_ROOT, served));
    assert.ok(a.equals(await readFile(join(REPO_ROOT, shipped))), served);
  }
});
