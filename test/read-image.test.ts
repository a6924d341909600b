import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp, { type Sharp } from 'sharp';
import { MoodLensError, type ErrorCode } from '../src/core/errors.js';
import type { Image } from '../src/core/image.js';
import { DEFAULT_MAX_PIXELS, decodeImage, readImage } from '../src/io/node/read-image.js';
import { pngBomb } from './support/png.js';

const ASTRONAUT = fileURLToPath(new URL('../../examples/astronaut.png', import.meta.url));
const W = 96;
const H = 64;

let dir: string;
/** The example photo, downscaled, as 8-bit RGB and grey: the reference the decoded files are compared with. */
let rgbRef: Uint8Array;
let greyRef: Uint8Array;

/** A W x H sharp pipeline of the example photo (fresh each call). */
const photo = (): Sharp => sharp(ASTRONAUT).resize(W, H, { fit: 'fill' });

async function fixture(name: string, bytes: Uint8Array | Promise<Uint8Array>): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, await bytes);
  return path;
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

/** Every `stride`-th byte starting at `offset`: one channel of an interleaved image. */
function channel(img: Image, offset: number): Uint8Array {
  const out = new Uint8Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i * img.channels + offset];
  return out;
}

function assertGeometry(img: Image, width: number, height: number, channels: number): void {
  assert.equal(img.width, width);
  assert.equal(img.height, height);
  assert.equal(img.channels, channels);
  assert.ok(img.data instanceof Uint8Array);
  assert.equal(img.data.length, width * height * channels);
}

async function assertFails(promise: Promise<unknown>, code: ErrorCode, name: string): Promise<MoodLensError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof MoodLensError, `expected a MoodLensError, got ${String(caught)}`);
  assert.equal(caught.name, 'MoodLensError');
  assert.equal(caught.code, code, caught.message);
  assert.ok(caught.message.includes(name), `message should name ${name}: ${caught.message}`);
  return caught;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moodlens-read-image-'));
  rgbRef = new Uint8Array(await photo().removeAlpha().raw().toBuffer());
  greyRef = new Uint8Array(await photo().toColourspace('b-w').raw().toBuffer());
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

void describe('readImage: formats', () => {
  void test('the example photo: 512x512 RGB, the same pixels sharp decodes', async () => {
    const img = await readImage(ASTRONAUT);
    assertGeometry(img, 512, 512, 3);
    const ref = await sharp(ASTRONAUT).raw().toBuffer();
    assert.deepEqual(img.data, new Uint8Array(ref));
    assert.equal(Object.getPrototypeOf(img.data), Uint8Array.prototype, 'a plain Uint8Array, not a Buffer');
  });

  // Encoder and the mean absolute difference allowed against the source (0: lossless).
  const encoders: Record<string, { encode: (s: Sharp) => Sharp; tolerance: number }> = {
    png: { encode: (s) => s.png(), tolerance: 0 },
    tiff: { encode: (s) => s.tiff({ compression: 'lzw' }), tolerance: 0 },
    jpeg: { encode: (s) => s.jpeg({ quality: 95 }), tolerance: 5 },
    webp: { encode: (s) => s.webp(), tolerance: 7 },
    gif: { encode: (s) => s.gif(), tolerance: 5 },
  };
  for (const [format, { encode, tolerance }] of Object.entries(encoders)) {
    void test(`${format}: RGB, right size, sharp's pixels, close to the source`, async () => {
      const path = await fixture(`photo.${format}`, encode(photo()).toBuffer());
      assert.equal((await sharp(path).metadata()).format, format);
      const img = await readImage(path);
      assertGeometry(img, W, H, 3);
      assert.deepEqual(img.data, new Uint8Array(await sharp(path).raw().toBuffer()));
      const diff = meanAbsDiff(img.data, rgbRef);
      assert.ok(diff <= tolerance, `${format}: mean abs diff ${diff} > ${tolerance}`);
    });
  }

  void test('grey PNG, JPEG and TIFF -> 1 channel', async () => {
    for (const format of ['png', 'jpeg', 'tiff'] as const) {
      const options = ({ jpeg: { quality: 95 }, tiff: { compression: 'lzw' }, png: {} } as const)[format];
      const path = await fixture(
        `grey.${format}`,
        photo().toColourspace('b-w').toFormat(format, options).toBuffer(),
      );
      assert.equal((await sharp(path).metadata()).space, 'b-w', 'the fixture really is grey');
      const img = await readImage(path);
      assertGeometry(img, W, H, 1);
      assert.ok(meanAbsDiff(img.data, greyRef) <= (format === 'jpeg' ? 2 : 0), format);
    }
  });

  void test('grey + alpha PNG -> 1 channel, alpha dropped, grey values kept', async () => {
    const path = await fixture(
      'grey-alpha.png',
      photo().toColourspace('b-w').ensureAlpha(0.5).png().toBuffer(),
    );
    const meta = await sharp(path).metadata();
    assert.equal(meta.channels, 2, 'the fixture really is grey + alpha');
    const img = await readImage(path);
    assertGeometry(img, W, H, 1);
    assert.deepEqual(img.data, greyRef);
  });

  void test('RGBA PNG -> 4 channels, RGB and alpha kept', async () => {
    const path = await fixture('rgba.png', photo().ensureAlpha(0.5).png().toBuffer());
    const img = await readImage(path);
    assertGeometry(img, W, H, 4);
    const alpha = channel(img, 3);
    assert.ok(
      alpha.every((a) => a === alpha[0] && (a === 127 || a === 128)),
      'alpha 0.5',
    );
    const rgb = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) rgb.set(img.data.subarray(i * 4, i * 4 + 3), i * 3);
    assert.deepEqual(rgb, rgbRef);
  });

  void test('16-bit grey PNG -> 8-bit, each sample scaled by 255/65535 and rounded', async () => {
    const samples = new Uint16Array([0, 0x00ff, 0x4000, 0x8080, 0xc0c0, 0xff00, 0xffff, 0x1234]);
    const path = await fixture(
      'grey16.png',
      sharp(samples, { raw: { width: 8, height: 1, channels: 1 } })
        .toColourspace('grey16')
        .png()
        .toBuffer(),
    );
    const meta = await sharp(path).metadata();
    assert.equal(meta.bitsPerSample, 16, 'the fixture really is 16-bit');
    const img = await readImage(path);
    assertGeometry(img, 8, 1, 1);
    assert.deepEqual(
      [...img.data],
      [...samples].map((v) => Math.round(v / 257)),
    );
    assert.deepEqual([...img.data], [0, 1, 64, 128, 192, 254, 255, 18]);
  });

  void test('16-bit RGB PNG -> 8-bit RGB matching the 8-bit source', async () => {
    const path = await fixture('rgb16.png', photo().toColourspace('rgb16').png().toBuffer());
    assert.equal((await sharp(path).metadata()).depth, 'ushort', 'the fixture really is 16-bit');
    const img = await readImage(path);
    assertGeometry(img, W, H, 3);
    assert.ok(meanAbsDiff(img.data, rgbRef) <= 1);
  });

  void test('palette PNGs -> RGB, or RGBA with transparency', async () => {
    const opaque = await fixture('palette.png', photo().png({ palette: true }).toBuffer());
    assert.equal((await sharp(opaque).metadata()).isPalette, true, 'the fixture really is a palette PNG');
    const rgb = await readImage(opaque);
    assertGeometry(rgb, W, H, 3);
    assert.ok(meanAbsDiff(rgb.data, rgbRef) <= 12);

    const clear = await fixture(
      'palette-alpha.png',
      photo().ensureAlpha(0.5).png({ palette: true }).toBuffer(),
    );
    assertGeometry(await readImage(clear), W, H, 4);
  });

  void test('CMYK JPEG -> RGB', async () => {
    const path = await fixture('cmyk.jpeg', photo().toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer());
    assert.equal((await sharp(path).metadata()).space, 'cmyk', 'the fixture really is CMYK');
    const img = await readImage(path);
    assertGeometry(img, W, H, 3);
    assert.ok(meanAbsDiff(img.data, rgbRef) <= 12);
  });

  void test('animated GIF -> its first frame', async () => {
    const frame = (colour: string): Promise<Buffer> =>
      sharp({ create: { width: 16, height: 8, channels: 3, background: colour } })
        .png()
        .toBuffer();
    const path = await fixture(
      'animated.gif',
      sharp([await frame('#ff0000'), await frame('#0000ff')], { join: { animated: true } })
        .gif()
        .toBuffer(),
    );
    assert.equal((await sharp(path).metadata()).pages, 2, 'the fixture really has 2 frames');
    const img = await readImage(path);
    assert.equal(img.width, 16);
    assert.equal(img.height, 8);
    assert.deepEqual([...img.data.subarray(0, 3)], [255, 0, 0]);
  });

  void test('EXIF orientation 6 JPEG comes out upright, width and height swapped', async () => {
    // An upright 80x40 image with four coloured quadrants.
    const quadrants = [
      [255, 0, 0], // top left: red
      [0, 255, 0], // top right: green
      [0, 0, 255], // bottom left: blue
      [255, 255, 255], // bottom right: white
    ];
    const upright = new Uint8Array(80 * 40 * 3);
    for (let y = 0; y < 40; y++) {
      for (let x = 0; x < 80; x++)
        upright.set(quadrants[(y < 20 ? 0 : 2) + (x < 40 ? 0 : 1)], (y * 80 + x) * 3);
    }
    // Stored rotated 90 degrees anticlockwise (40x80); orientation 6 says "rotate 90 clockwise to display".
    const stored = await sharp(upright, { raw: { width: 80, height: 40, channels: 3 } })
      .rotate(270)
      .png()
      .toBuffer();
    const path = await fixture(
      'orientation-6.jpeg',
      sharp(stored).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer(),
    );
    const meta = await sharp(path).metadata();
    assert.equal(meta.orientation, 6, 'the fixture really carries orientation 6');
    assert.deepEqual([meta.width, meta.height], [40, 80], 'and is stored portrait');

    const img = await readImage(path);
    assertGeometry(img, 80, 40, 3);
    const at = (x: number, y: number): number[] => [
      ...img.data.subarray((y * 80 + x) * 3, (y * 80 + x) * 3 + 3),
    ];
    const points = [at(10, 10), at(70, 10), at(10, 30), at(70, 30)];
    points.forEach((pixel, i) => {
      pixel.forEach((v, c) =>
        assert.ok(Math.abs(v - quadrants[i][c]) <= 8, `quadrant ${i}: ${pixel.join(',')}`),
      );
    });
  });

  void test('decodeImage decodes bytes in memory', async () => {
    const bytes = new Uint8Array(await photo().png().toBuffer());
    const img = await decodeImage(bytes);
    assertGeometry(img, W, H, 3);
    assert.deepEqual(img.data, rgbRef);
  });
});

void describe('readImage: bad inputs give coded errors', () => {
  void test('missing path -> MOODLENS_ERR_FILE_NOT_FOUND', async () => {
    const path = join(dir, 'no-such-file.png');
    const err = await assertFails(readImage(path), 'MOODLENS_ERR_FILE_NOT_FOUND', path);
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
    const below = join(ASTRONAUT, 'inside-a-file.png');
    await assertFails(readImage(below), 'MOODLENS_ERR_FILE_NOT_FOUND', below);
  });

  void test('a directory -> MOODLENS_ERR_NOT_A_FILE', async () => {
    const path = join(dir, 'a-directory.png');
    await mkdir(path);
    await assertFails(readImage(path), 'MOODLENS_ERR_NOT_A_FILE', path);
  });

  void test('empty file and zero bytes -> MOODLENS_ERR_EMPTY_INPUT', async () => {
    const path = await fixture('empty.png', new Uint8Array(0));
    await assertFails(readImage(path), 'MOODLENS_ERR_EMPTY_INPUT', path);
    await assertFails(
      decodeImage(new Uint8Array(0), {}, 'upload.jpg'),
      'MOODLENS_ERR_EMPTY_INPUT',
      'upload.jpg',
    );
  });

  void test('a text file -> MOODLENS_ERR_NOT_AN_IMAGE', async () => {
    const path = await fixture('notes.jpg', Buffer.from('These are not the pixels you are looking for.\n'));
    const err = await assertFails(readImage(path), 'MOODLENS_ERR_NOT_AN_IMAGE', path);
    assert.ok(err.cause instanceof Error, "sharp's error is kept as the cause");
  });

  void test('an SVG (an image sharp knows, not one MoodLens takes) -> MOODLENS_ERR_NOT_AN_IMAGE', async () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>';
    const path = await fixture('drawing.svg', Buffer.from(svg));
    const err = await assertFails(readImage(path), 'MOODLENS_ERR_NOT_AN_IMAGE', path);
    assert.match(err.message, /svg/);
  });

  void test('truncated JPEG -> MOODLENS_ERR_CORRUPT_IMAGE (sharp alone would decode it with grey rows)', async () => {
    const jpeg = await photo().jpeg().toBuffer();
    const cut = jpeg.subarray(0, Math.floor(jpeg.length * 0.7));
    await assert.doesNotReject(sharp(cut, { failOn: 'none' }).raw().toBuffer(), 'lenient sharp decodes it');
    const path = await fixture('truncated.jpeg', cut);
    const err = await assertFails(readImage(path), 'MOODLENS_ERR_CORRUPT_IMAGE', path);
    assert.match(err.message, /JPEG/);
  });

  void test('JPEG damaged mid-stream -> MOODLENS_ERR_CORRUPT_IMAGE', async () => {
    const jpeg = Buffer.from(await sharp(ASTRONAUT).jpeg().toBuffer());
    const from = Math.floor(jpeg.length * 0.4);
    for (let i = from; i < from + 200; i++) jpeg[i] ^= 0x5a;
    const path = await fixture('damaged.jpeg', jpeg);
    await assertFails(readImage(path), 'MOODLENS_ERR_CORRUPT_IMAGE', path);
  });

  void test('truncated PNG, TIFF, GIF and WebP -> MOODLENS_ERR_CORRUPT_IMAGE', async () => {
    for (const format of ['png', 'tiff', 'gif', 'webp'] as const) {
      const bytes = await photo().toFormat(format).toBuffer();
      const path = await fixture(`truncated.${format}`, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      await assertFails(readImage(path), 'MOODLENS_ERR_CORRUPT_IMAGE', path);
    }
  });

  void test('PNG header only -> MOODLENS_ERR_CORRUPT_IMAGE', async () => {
    const png = await photo().png().toBuffer();
    await assertFails(
      decodeImage(png.subarray(0, 40), {}, 'head.png'),
      'MOODLENS_ERR_CORRUPT_IMAGE',
      'head.png',
    );
  });

  void test('decompression bomb (20000x20000 PNG of a few tens of KB) -> MOODLENS_ERR_TOO_MANY_PIXELS, fast', async () => {
    const bomb = pngBomb(20000, 20000);
    assert.ok(bomb.length < 100_000, `the bomb is ${bomb.length} bytes`);
    const path = await fixture('bomb.png', bomb);

    const rssBefore = process.memoryUsage().rss;
    const start = performance.now();
    const err = await assertFails(readImage(path), 'MOODLENS_ERR_TOO_MANY_PIXELS', path);
    const ms = performance.now() - start;
    const grownMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;

    assert.ok(ms < 500, `rejected in ${ms.toFixed(0)} ms`);
    assert.ok(grownMiB < 100, `memory grew by ${grownMiB.toFixed(0)} MiB (decoding would take 381 MiB)`);
    assert.match(err.message, /20000x20000/);
    assert.ok(err.message.includes('400000000'), err.message);
    assert.ok(err.message.includes(String(DEFAULT_MAX_PIXELS)), err.message);
  });

  void test('maxPixels: a custom limit, inclusive', async () => {
    const limit = 512 * 512;
    assertGeometry(await readImage(ASTRONAUT, { maxPixels: limit }), 512, 512, 3);
    const err = await assertFails(
      readImage(ASTRONAUT, { maxPixels: limit - 1 }),
      'MOODLENS_ERR_TOO_MANY_PIXELS',
      ASTRONAUT,
    );
    assert.ok(err.message.includes(String(limit)) && err.message.includes(String(limit - 1)), err.message);
    assertGeometry(await readImage(ASTRONAUT, { maxPixels: Infinity }), 512, 512, 3);
  });

  void test('invalid arguments -> MOODLENS_ERR_INVALID_ARGUMENT', async () => {
    for (const maxPixels of [0, -1, 1.5, Number.NaN]) {
      await assertFails(readImage(ASTRONAUT, { maxPixels }), 'MOODLENS_ERR_INVALID_ARGUMENT', 'maxPixels');
    }
    await assertFails(
      decodeImage('not bytes' as unknown as Uint8Array, {}, 'upload'),
      'MOODLENS_ERR_INVALID_ARGUMENT',
      'upload',
    );
  });
});
