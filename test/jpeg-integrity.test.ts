/**
 * The JPEG damage check: every well-formed file the common encoders write passes (a false alarm would
 * refuse a user's good photo), and the damage libjpeg silently repairs is found.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { checkJpegIntegrity } from '../src/image/jpeg-integrity.js';
import { requireOpenCv, runPythonJson } from './support/opencv.js';

const ASTRONAUT = fileURLToPath(new URL('../../examples/astronaut.png', import.meta.url));
let scratch = '';

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'moodlens-jpeg-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A small seeded generator (the same damage on every run). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
}

/** The offset of the first byte of entropy-coded data (after the first SOS header). */
function scanStart(jpeg: Uint8Array): number {
  for (let i = 0; i + 3 < jpeg.length; i++) {
    if (jpeg[i] === 0xff && jpeg[i + 1] === 0xda) return i + 2 + ((jpeg[i + 2] << 8) | jpeg[i + 3]);
  }
  throw new Error('no SOS marker');
}

/** `count` bytes of the scan data, each with one bit flipped. */
function flipBits(jpeg: Uint8Array, count: number, seed: number): Uint8Array {
  const out = new Uint8Array(jpeg);
  const next = random(seed);
  const start = scanStart(out);
  for (let i = 0; i < count; i++) {
    const at = start + Math.floor(next() * (out.length - 2 - start));
    out[at] ^= 1 << Math.floor(next() * 8);
  }
  return out;
}

async function sharpVariants(): Promise<Record<string, Buffer>> {
  const photo = sharp(ASTRONAUT);
  return {
    'quality 80 (4:2:0)': await photo.clone().jpeg().toBuffer(),
    'quality 10': await photo.clone().jpeg({ quality: 10 }).toBuffer(),
    'quality 100, 4:4:4': await photo.clone().jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer(),
    'optimised Huffman tables': await photo.clone().jpeg({ optimiseCoding: true }).toBuffer(),
    grey: await photo.clone().greyscale().jpeg().toBuffer(),
    'odd size 333x77': await photo.clone().resize(333, 77, { fit: 'fill' }).jpeg().toBuffer(),
    '1x1': await photo.clone().resize(1, 1).jpeg().toBuffer(),
    CMYK: await photo.clone().toColourspace('cmyk').jpeg().toBuffer(),
  };
}

void test('baseline JPEGs from sharp (libjpeg-turbo) are intact', async () => {
  for (const [name, jpeg] of Object.entries(await sharpVariants())) {
    assert.deepEqual(checkJpegIntegrity(jpeg), { status: 'intact' }, name);
  }
});

void test('baseline JPEGs from OpenCV (restart markers) and Pillow (4:2:2, optimised) are intact', async (t) => {
  if (!(await requireOpenCv(t))) return;
  await runPythonJson(
    `
import json, sys, cv2
from PIL import Image
job = json.load(sys.stdin)
bgr = cv2.imread(job['src'])
out = job['out']
for interval in (1, 4, 17):
    cv2.imwrite(f'{out}/opencv-restart-{interval}.jpg', bgr, [cv2.IMWRITE_JPEG_RST_INTERVAL, interval])
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(f'{out}/opencv-grey-restart-{interval}.jpg', gray, [cv2.IMWRITE_JPEG_RST_INTERVAL, interval])
rgb = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
rgb.save(f'{out}/pillow-422.jpg', quality=90, subsampling=1)
rgb.save(f'{out}/pillow-optimised.jpg', quality=60, optimize=True)
rgb.resize((17, 33)).save(f'{out}/pillow-17x33.jpg', subsampling=2)
print(json.dumps(True))
`,
    { src: ASTRONAUT, out: scratch },
  );
  const files = (await readdir(scratch)).filter((f) => f.endsWith('.jpg'));
  assert.equal(files.length, 9);
  for (const file of files) {
    assert.deepEqual(checkJpegIntegrity(await readFile(join(scratch, file))), { status: 'intact' }, file);
  }
});

void test('40 bit-flipped bytes are found in every one of 30 damaged copies', async () => {
  const jpeg = await sharp(ASTRONAUT).jpeg({ quality: 85 }).toBuffer();
  for (let seed = 1; seed <= 30; seed++) {
    const verdict = checkJpegIntegrity(flipBits(jpeg, 40, seed));
    assert.equal(verdict.status, 'damaged', `seed ${seed}`);
  }
  // libjpeg decodes such a file without complaint (the reason for the check).
  await assert.doesNotReject(
    sharp(flipBits(jpeg, 40, 3), { failOn: 'none' })
      .raw()
      .toBuffer(),
  );
});

void test('a cut file, bytes inserted before a marker and a lost restart marker are damage, with offsets', async () => {
  const jpeg = await sharp(ASTRONAUT).jpeg().toBuffer();
  const cut = checkJpegIntegrity(jpeg.subarray(0, Math.floor(jpeg.length * 0.7)));
  assert.equal(cut.status, 'damaged');

  // 216 extraneous bytes just before the end-of-image marker (libjpeg: "Corrupt JPEG data: 216 extraneous bytes").
  const padded = Buffer.concat([jpeg.subarray(0, -2), Buffer.alloc(216, 0x55), jpeg.subarray(-2)]);
  const extra = checkJpegIntegrity(padded);
  assert.equal(extra.status, 'damaged');
  if (extra.status === 'damaged') {
    assert.ok(extra.offset >= jpeg.length - 2 - 8 && extra.offset <= padded.length, String(extra.offset));
  }

  const noEnd = checkJpegIntegrity(jpeg.subarray(0, -2));
  assert.equal(noEnd.status, 'damaged');
});

void test('progressive files are left to the decoder (unchecked), not refused', async () => {
  const progressive = await sharp(ASTRONAUT).jpeg({ progressive: true }).toBuffer();
  assert.equal(checkJpegIntegrity(progressive).status, 'unchecked');
});

void test('bytes that are no whole JPEG are never intact, and never an exception', () => {
  for (const bytes of [new Uint8Array(0), new Uint8Array([0xff, 0xd8]), new TextEncoder().encode('hello')]) {
    assert.notEqual(checkJpegIntegrity(bytes).status, 'intact');
  }
});
