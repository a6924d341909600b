/**
 * The super-resolution pixel contract: degradation, bicubic resampling, PSNR and SSIM against the training
 * code itself (training/moodlens_train/sr_degrade.py and sr_data.py, run with Debian's Python) on real
 * FER-2013 PublicTest faces, plus exact values on synthetic images that need no reference.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImage, type GrayImage } from '../src/core/image.js';
import { bicubicResize, bicubicResizeGray, cubicWeights } from '../src/enhance/bicubic.js';
import { blockMean, degrade, degradeToSize, gaussianTaps } from '../src/enhance/degrade.js';
import { psnr, QualityTally, ssim } from '../src/enhance/quality.js';
import { ensureFer2013, listFerFaces, mulberry32, readGrayFile } from './support/fer-scenes.js';
import { REPO_ROOT, requireOpenCv, runPythonJson } from './support/opencv.js';

/** Faces spread over every class of PublicTest. */
async function ferFaces(count: number): Promise<{ name: string; image: GrayImage }[]> {
  const root = await ensureFer2013();
  const files = await listFerFaces();
  const step = Math.floor(files.length / count);
  const out: { name: string; image: GrayImage }[] = [];
  for (let i = 0; i < count; i++) {
    const file = files[i * step];
    out.push({ name: file, image: await readGrayFile(join(root, file)) });
  }
  return out;
}

// sr_data imports the PyTorch model module and the landmark data module for constants only: stand them
// in so the reference needs numpy and OpenCV, not torch.
const REFERENCE_SCRIPT = `
import base64, json, sys, types
job = json.load(sys.stdin)
sys.path.insert(0, job['training'])
model = types.ModuleType('moodlens_train.sr_model')
model.NUM_POINTS, model.PARSING_CLASSES, model.PRIOR_SIZE, model.SIZE = 68, 6, 24, 48
sys.modules['moodlens_train.sr_model'] = model
marks = types.ModuleType('moodlens_train.landmark_data')
marks.FLIP_PERMUTATION = list(range(68))
sys.modules['moodlens_train.landmark_data'] = marks
import numpy as np
from moodlens_train import sr_degrade as sd, sr_data
def img(item):
    return np.frombuffer(base64.b64decode(item['data']), np.uint8).reshape(item['height'], item['width'])
def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, np.uint8).tobytes()).decode()
out = {'degrade': [], 'bicubic': [], 'quality': []}
for item in job['degrade']:
    out['degrade'].append(b64(sd.degrade(img(item), item['factor'])))
for item in job['bicubic']:
    x = img(item)
    f = sd.bicubic(x, item['outWidth'], item['outHeight'])
    out['bicubic'].append({'u8': b64(sd.bicubic_u8(x, item['outWidth'], item['outHeight'])),
                           'float': f.flatten().tolist()})
for pair in job['quality']:
    a, b = img(pair[0])[None], img(pair[1])[None]
    out['quality'].append([float(sr_data.psnr(a, b)[0]), float(sr_data.ssim(a, b)[0])])
print(json.dumps(out))
`;

interface ReferenceOutput {
  degrade: string[];
  bicubic: { u8: string; float: number[] }[];
  quality: [number, number][];
}

function encode(image: GrayImage): { width: number; height: number; data: string } {
  return { width: image.width, height: image.height, data: Buffer.from(image.data).toString('base64') };
}

function decoded(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function differing(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

void test('degrade, bicubic, PSNR and SSIM equal the training code on real FER faces', async (t) => {
  if (!(await requireOpenCv(t))) return;
  const faces = await ferFaces(24);
  const factors = [2, 3, 4, 6];
  const degradeJobs = faces.map((f, i) => ({ ...encode(f.image), factor: factors[i % factors.length] }));
  // Up from each degraded size to 48 (x2, x3, x4, x8), and a few sizes the model never sees.
  const small = faces.map((f, i) => degrade(f.image, factors[i % factors.length]));
  const targets: [number, number][] = [
    [48, 48],
    [48, 48],
    [48, 48],
    [48, 48],
    [37, 29],
    [20, 20],
  ];
  const bicubicJobs = small.map((s, i) => ({
    ...encode(s),
    outWidth: targets[i % targets.length][0],
    outHeight: targets[i % targets.length][1],
  }));
  const restored = small.map((s) => bicubicResizeGray(s, 48, 48));
  const qualityJobs = faces.map((f, i) => [encode(restored[i]), encode(f.image)]);
  // The original against itself: the PSNR floor and SSIM exactly 1.
  qualityJobs.push([encode(faces[0].image), encode(faces[0].image)]);

  const reference = (await runPythonJson(REFERENCE_SCRIPT, {
    training: join(REPO_ROOT, 'training'),
    degrade: degradeJobs,
    bicubic: bicubicJobs,
    quality: qualityJobs,
  })) as ReferenceOutput;

  small.forEach((s, i) => {
    assert.equal(differing(s.data, decoded(reference.degrade[i])), 0, `degrade ${faces[i].name}`);
  });
  bicubicJobs.forEach((job, i) => {
    const [w, h] = [job.outWidth, job.outHeight];
    const ours = bicubicResize(small[i], w, h);
    const theirs = reference.bicubic[i].float;
    let worst = 0;
    ours.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - theirs[k]))));
    assert.ok(worst < 1e-9, `bicubic ${small[i].width} -> ${w}x${h}: float difference ${worst}`);
    const u8 = bicubicResizeGray(small[i], w, h);
    assert.equal(differing(u8.data, decoded(reference.bicubic[i].u8)), 0, `bicubic ${w}x${h} u8`);
  });
  qualityJobs.forEach(([a, b], i) => {
    const img = (e: typeof a): GrayImage => createImage(e.width, e.height, 1, decoded(e.data));
    const [p, s] = reference.quality[i];
    assert.ok(Math.abs(psnr(img(a), img(b)) - p) < 1e-9, `psnr ${i}: ${psnr(img(a), img(b))} vs ${p}`);
    assert.ok(Math.abs(ssim(img(a), img(b)) - s) < 1e-9, `ssim ${i}: ${ssim(img(a), img(b))} vs ${s}`);
  });
  const self = reference.quality.at(-1) ?? [0, 0];
  assert.ok(Math.abs(self[0] - 10 * Math.log10(255 ** 2 / 1e-10)) < 1e-9);
  assert.ok(Math.abs(self[1] - 1) < 1e-12);
});

void test('bicubic: same size is the identity; a constant stays constant; Keys weights sum to 1', () => {
  const random = mulberry32(7);
  const data = Uint8Array.from({ length: 13 * 9 }, () => Math.floor(random() * 256));
  const image = createImage(13, 9, 1, data);
  assert.deepEqual(bicubicResizeGray(image, 13, 9).data, data);
  const flat = createImage(7, 5, 1, new Uint8Array(35).fill(200));
  assert.ok(bicubicResize(flat, 48, 31).every((v) => Math.abs(v - 200) < 1e-9));
  for (const t of [0, 0.125, 0.375, 0.5, 0.9]) {
    const w = cubicWeights(t);
    assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-15, `weights at ${t}`);
  }
  // At t = 0.5 the taps are -0.09375, 0.59375, 0.59375, -0.09375.
  assert.deepEqual(cubicWeights(0.5), [-0.09375, 0.59375, 0.59375, -0.09375]);
  // The ramp 0, 255 upsampled x2: the second output sits at source 0.25 (t = 0.25, taps -0.10546875,
  // 0.87890625, 0.26171875, -0.03515625 on pixels 0, 0, 255, 255): 255 * 0.2265625 = 57.8 -> 58; the
  // first output (source -0.25) overshoots below 0 and is clamped.
  const ramp = bicubicResizeGray(createImage(2, 1, 1, Uint8Array.from([0, 255])), 4, 1);
  assert.deepEqual([...ramp.data], [0, 58, 197, 255]);
});

void test('degrade: block means of a blurred image; sides must be multiples of the factor', () => {
  // Constant blocks: blur and block mean keep a constant image constant.
  const flat = createImage(48, 48, 1, new Uint8Array(48 * 48).fill(131));
  assert.ok(degrade(flat, 4).data.every((v) => v === 131));
  assert.deepEqual([degrade(flat, 3).width, degrade(flat, 3).height], [16, 16]);
  // Block mean alone, exact: [[0, 2], [4, 6]] -> 3 (and half-up rounding of 2.5 gives 3).
  assert.deepEqual([...blockMean(Float64Array.from([0, 2, 4, 6]), 2, 2, 2)], [3]);
  assert.deepEqual([...blockMean(Float64Array.from([1, 2, 3, 4, 0, 0, 0, 0]), 4, 2, 2)], [0.75, 1.75]);
  // sigma 1 (x4): 7 taps, symmetric, summing to 1.
  const taps = gaussianTaps(1);
  assert.equal(taps.length, 7);
  assert.ok(Math.abs(taps.reduce((a, b) => a + b, 0) - 1) < 1e-15);
  assert.equal(taps[0], taps[6]);
  assert.throws(() => degrade(flat, 5), /multiples of the factor 5 but received 48x48/);
  assert.throws(() => degrade(flat, 0), RangeError);
  assert.throws(() => degrade(flat, 2.5), /integer >= 1 for factor/);
  // Sizes 48 is not a multiple of: blur then an exact area average.
  const random = mulberry32(3);
  const face = createImage(
    48,
    48,
    1,
    Uint8Array.from({ length: 2304 }, () => Math.floor(random() * 256)),
  );
  for (const size of [12, 20, 40]) {
    const small = degradeToSize(face, size);
    assert.deepEqual([small.width, small.height], [size, size]);
  }
  assert.deepEqual(degradeToSize(face, 12).data, degrade(face, 4).data);
  const flatSmall = degradeToSize(flat, 20);
  assert.ok(flatSmall.data.every((v) => v === 131));
});

void test('PSNR and SSIM: exact on simple pairs; the tally averages per image', () => {
  const a = createImage(16, 16, 1, new Uint8Array(256).fill(100));
  const b = createImage(16, 16, 1, new Uint8Array(256).fill(110));
  // MSE 100: 10 log10(65025 / 100).
  assert.ok(Math.abs(psnr(a, b) - 10 * Math.log10(650.25)) < 1e-12);
  assert.equal(ssim(a, a), 1);
  // Constant images: no variance, SSIM is the luminance term (2 * 100 * 110 + C1) / (100^2 + 110^2 + C1).
  const c1 = (0.01 * 255) ** 2;
  assert.ok(Math.abs(ssim(a, b) - (2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1)) < 1e-12);
  assert.throws(
    () => ssim(createImage(8, 8, 1, new Uint8Array(64)), createImage(8, 8, 1, new Uint8Array(64))),
    {
      name: 'RangeError',
      message: /at least 11x11 for SSIM but received 8x8/,
    },
  );
  assert.throws(() => psnr(a, createImage(16, 15, 1, new Uint8Array(240))), /same size/);
  const tally = new QualityTally();
  tally.add(b, a);
  tally.add(a, a);
  assert.equal(tally.n, 2);
  assert.ok(Math.abs(tally.psnr - (psnr(b, a) + psnr(a, a)) / 2) < 1e-12);
  assert.ok(Math.abs(tally.ssim - (ssim(b, a) + 1) / 2) < 1e-12);
});
