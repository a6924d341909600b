/**
 * `moodlens evaluate --degrade F --enhance none|bicubic|fsrnet` on the first PublicTest faces: the report
 * fields, its PSNR/SSIM recomputed from the same faces, the relations measured between the methods, and
 * the usage errors.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { GrayImage } from '../src/core/image.js';
import { bicubicResizeGray } from '../src/enhance/bicubic.js';
import { degrade } from '../src/enhance/degrade.js';
import { psnr, ssim } from '../src/enhance/quality.js';
import { DEFAULT_ENHANCE_MODEL_PATH, hasDefaultEnhanceModel } from '../src/io/node/enhance-model.js';
import { openFerDataset } from '../src/io/node/fer-dataset.js';
import { runCaptured } from './support/cli.js';
import { ensureFer2013 } from './support/fer-scenes.js';

const LIMIT = 60;

interface Report {
  n: number;
  accuracy: number;
  degrade: number | null;
  enhance: string | null;
  enhanceModel: string | null;
  psnr: number | null;
  ssim: number | null;
}

let data = '';

before(async () => {
  data = join(await ensureFer2013(), 'val');
});

async function evaluate(...args: string[]): Promise<Report> {
  const result = await runCaptured(['evaluate', data, '--limit', String(LIMIT), '--json', ...args]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Report;
}

void test('evaluate --degrade 4: PSNR and SSIM of the restored faces; bicubic restores better than none', async () => {
  const plain = await evaluate();
  assert.deepEqual([plain.degrade, plain.enhance, plain.psnr, plain.ssim], [null, null, null, null]);
  const none = await evaluate('--degrade', '4');
  const bicubic = await evaluate('--degrade', '4', '--enhance', 'bicubic');
  assert.equal(none.n, LIMIT);
  assert.deepEqual([none.degrade, none.enhance, none.enhanceModel], [4, 'none', null]);
  assert.deepEqual([bicubic.degrade, bicubic.enhance], [4, 'bicubic']);
  // The same figures from the same faces, computed here.
  const originals: GrayImage[] = [];
  for await (const face of (await openFerDataset(data, { limit: LIMIT })).faces()) originals.push(face.image);
  const restored = originals.map((face) => bicubicResizeGray(degrade(face, 4), 48, 48));
  const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
  assert.ok(Math.abs((bicubic.psnr ?? 0) - mean(restored.map((r, i) => psnr(r, originals[i])))) < 1e-9);
  assert.ok(Math.abs((bicubic.ssim ?? 0) - mean(restored.map((r, i) => ssim(r, originals[i])))) < 1e-9);
  // Measured on PublicTest (x4, 300 faces): none 17.36 dB / 0.521, bicubic 18.10 dB / 0.582.
  assert.ok((bicubic.psnr ?? 0) > (none.psnr ?? 0), `bicubic ${bicubic.psnr} dB vs none ${none.psnr} dB`);
  assert.ok((bicubic.ssim ?? 0) > (none.ssim ?? 0));
  // Degrading x4 to 12 px costs the classifier most of what it knows.
  assert.ok(none.accuracy < plain.accuracy, `x4 ${none.accuracy} vs original ${plain.accuracy}`);
  const text = await runCaptured([
    'evaluate',
    data,
    '--limit',
    '10',
    '--degrade',
    '3',
    '--enhance',
    'bicubic',
  ]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /degraded {2}x3: blurred \(sigma 0\.75\), 48x48 -> 16x16\nrestored {2}by bicubic\n/,
  );
  assert.match(text.stdout, /quality {3}PSNR \d+\.\d\d dB, SSIM 0\.\d{4}/);
});

void test('evaluate --enhance fsrnet: the model restores; its figures are reported', async (t) => {
  if (!hasDefaultEnhanceModel()) {
    t.skip(`needs the super-resolution model at ${DEFAULT_ENHANCE_MODEL_PATH}`);
    return;
  }
  const fsrnet = await evaluate('--degrade', '4', '--enhance', 'fsrnet');
  assert.deepEqual(
    [fsrnet.degrade, fsrnet.enhance, fsrnet.enhanceModel],
    [4, 'fsrnet', DEFAULT_ENHANCE_MODEL_PATH],
  );
  assert.ok(fsrnet.psnr !== null && fsrnet.psnr > 10 && fsrnet.psnr < 40, String(fsrnet.psnr));
  assert.ok(fsrnet.ssim !== null && fsrnet.ssim > 0 && fsrnet.ssim < 1, String(fsrnet.ssim));
  t.diagnostic(`x4 on ${LIMIT} faces: FSRNet ${fsrnet.psnr.toFixed(2)} dB, SSIM ${fsrnet.ssim.toFixed(4)}`);
});

void test('evaluate: --enhance needs --degrade; --degrade must divide 48; wrong methods are usage errors', async () => {
  for (const [args, message] of [
    [['--enhance', 'bicubic'], /--enhance needs --degrade F/],
    [
      ['--degrade', '5'],
      /integer >= 2 that divides the face side 48 .*\(2, 3, 4, 6, 8, 12, 16, 24, 48\) but received 5/,
    ],
    [['--degrade', '1'], /divides the face side 48/],
    [['--degrade', '2.5'], /an integer for --degrade but received '2.5'/],
    [
      ['--degrade', '4', '--enhance', 'lanczos'],
      /none, bicubic, fsrnet for --enhance but received 'lanczos'/,
    ],
    [
      ['--degrade', '4', '--enhance', 'bicubic', '--enhance-model', 'x.onnx'],
      /--enhance-model applies to --enhance fsrnet/,
    ],
    [['--enhance-model', 'x.onnx'], /--enhance-model needs --degrade F --enhance fsrnet/],
  ] as const) {
    const result = await runCaptured(['evaluate', data, ...args]);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});
