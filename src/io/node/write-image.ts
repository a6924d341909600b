import { extname } from 'node:path';
import sharp from 'sharp';
import { MoodLensError } from '../../core/errors.js';
import type { Image } from '../../core/image.js';
import { writeOutputFile } from './output-path.js';

/** JPEG quality when none is given: high enough that label text stays crisp. */
export const DEFAULT_JPEG_QUALITY = 90;

export interface WriteImageOptions {
  /** JPEG quality, an integer from 1 to 100. Ignored for PNG. Default {@link DEFAULT_JPEG_QUALITY}. */
  quality?: number;
}

/** Output formats by file extension (compared in lower case). */
const FORMATS: ReadonlyMap<string, 'png' | 'jpeg'> = new Map([
  ['.png', 'png'],
  ['.jpg', 'jpeg'],
  ['.jpeg', 'jpeg'],
]);

/**
 * Encodes `image` (gray, RGB or RGBA) and writes it to `path`, as PNG or JPEG by the path's extension
 * (`.png`, `.jpg`, `.jpeg`, any case), creating missing parent directories.
 *
 * - PNG is lossless: reading the file back gives the same pixels and channel count (gray stays gray).
 * - JPEG uses `quality` and full-resolution colour (4:4:4), so coloured labels keep sharp edges; an
 *   RGBA image is flattened onto white, as JPEG has no alpha.
 * - An unsupported extension, a malformed image or a bad option throws `MOODLENS_ERR_INVALID_ARGUMENT`
 *   before anything is written. File-system failures (permissions, a file where a directory should be,
 *   a full disk) throw `MOODLENS_ERR_OUTPUT_UNWRITABLE` naming the path (Node's error as its `cause`).
 */
export async function writeImage(path: string, image: Image, options: WriteImageOptions = {}): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Expected an output path as a non-empty string but received ${describePath(path)}`,
    );
  }
  const extension = extname(path).toLowerCase();
  const format = FORMATS.get(extension);
  if (format === undefined) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Unsupported output format for ${path}: ${extension === '' ? 'no extension' : `'${extension}'`} ` +
        '(expected .png, .jpg or .jpeg)',
    );
  }
  checkImage(image, path);
  const quality = options.quality ?? DEFAULT_JPEG_QUALITY;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Expected an integer from 1 to 100 for quality but received ${String(quality)}`,
    );
  }

  const { width, height, channels, data } = image;
  let pipeline = sharp(data, { raw: { width, height, channels } });
  // sharp reads 1-channel raw pixels as sRGB and would write them as RGB: keep gray files gray.
  if (channels === 1) pipeline = pipeline.toColourspace('b-w');
  if (format === 'png') {
    pipeline = pipeline.png();
  } else {
    if (channels === 4) pipeline = pipeline.flatten({ background: '#ffffff' });
    pipeline = pipeline.jpeg({ quality, chromaSubsampling: '4:4:4' });
  }
  const bytes = await pipeline.toBuffer();

  await writeOutputFile(path, bytes);
}

function describePath(path: unknown): string {
  return typeof path === 'string' ? 'an empty string' : typeof path;
}

function checkImage(image: Image, path: string): void {
  const ok =
    typeof image === 'object' &&
    image !== null &&
    image.data instanceof Uint8Array &&
    Number.isInteger(image.width) &&
    image.width > 0 &&
    Number.isInteger(image.height) &&
    image.height > 0 &&
    (image.channels === 1 || image.channels === 3 || image.channels === 4) &&
    image.data.length === image.width * image.height * image.channels;
  if (!ok) {
    const what =
      typeof image === 'object' && image !== null
        ? `${String(image.width)}x${String(image.height)}x${String(image.channels)} with ` +
          `${image.data instanceof Uint8Array ? `${image.data.length} bytes` : 'no Uint8Array data'}`
        : typeof image;
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Expected an image { width, height, channels: 1 | 3 | 4, data } to write to ${path} but received ${what}`,
    );
  }
}
