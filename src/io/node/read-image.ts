import { readFile, stat } from 'node:fs/promises';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { MoodLensError } from '../../core/errors.js';
import { inputFileError } from './file-errors.js';
import { checkJpegIntegrity } from '../../image/jpeg-integrity.js';
import { createImage, type Channels, type Image } from '../../core/image.js';

/**
 * The default pixel limit (width x height of the first frame, 40 megapixels).
 *
 * A decompression-bomb guard: a few kilobytes of PNG can declare 20000x20000 pixels and expand to
 * hundreds of megabytes once decoded. The limit is checked from the image header, before any pixel
 * is decoded or allocated. 40 MP leaves room for any phone or DSLR photo.
 */
export const DEFAULT_MAX_PIXELS = 40_000_000;

export interface DecodeOptions {
  /**
   * Reject images with more pixels than this (width x height of the first frame), checked from the
   * header before decoding. A positive integer, or `Infinity` for no limit. Default {@link DEFAULT_MAX_PIXELS}.
   */
  maxPixels?: number;
}

/** The container formats MoodLens decodes; anything else sharp may know (SVG, HEIF, PDF...) is refused. */
const SUPPORTED_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'tiff', 'gif']);

/**
 * sharp's strictest level: a warning from the decoder (libjpeg's "premature end of data segment" on a
 * damaged stream, for instance) aborts the decode, so a truncated or damaged file never comes back as a
 * half-grey or garbled image. 'truncated' and 'error' both let a bit-flipped JPEG through silently.
 */
const FAIL_ON = 'warning' as const;

/**
 * Decodes an encoded image (JPEG, PNG, WebP, TIFF, or the first frame of a GIF) into an {@link Image}.
 *
 * - EXIF orientation is applied: the result is upright, width and height as displayed.
 * - Grey (with or without alpha) gives 1 channel, alpha dropped; colour gives 3 (RGB) or 4 (RGBA).
 *   Palette images become RGB(A), CMYK becomes RGB, 16-bit samples become 8-bit.
 * - Failures throw {@link MoodLensError}: `MOODLENS_ERR_EMPTY_INPUT`, `MOODLENS_ERR_NOT_AN_IMAGE`,
 *   `MOODLENS_ERR_CORRUPT_IMAGE`, `MOODLENS_ERR_TOO_MANY_PIXELS` (checked from the header, before decoding)
 *   or `MOODLENS_ERR_INVALID_ARGUMENT`; sharp's own error, if any, is the `cause`.
 *
 * @param name names the input in error messages (a file path, an upload's name).
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeOptions = {},
  name = 'input',
): Promise<Image> {
  if (!(bytes instanceof Uint8Array)) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Expected the bytes of ${name} as a Uint8Array but received ${describe(bytes)}`,
    );
  }
  const maxPixels = checkMaxPixels(options.maxPixels);
  if (bytes.length === 0) {
    throw new MoodLensError('MOODLENS_ERR_EMPTY_INPUT', `Empty input: ${name} has no bytes`);
  }

  // 1. Header only: format, geometry, colour space. No pixel is decoded here, and sharp's own pixel
  //    limit is lifted so that an oversized image is reported with its real size below.
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
  } catch (cause) {
    throw classifySharpError(cause, bytes, name);
  }
  if (!SUPPORTED_FORMATS.has(metadata.format)) {
    throw new MoodLensError(
      'MOODLENS_ERR_NOT_AN_IMAGE',
      `Unsupported image format in ${name}: ${metadata.format} (expected JPEG, PNG, WebP, TIFF or GIF)`,
    );
  }
  // For multi-page GIF and TIFF, width and height describe the first page, the one decoded.
  const pixels = metadata.width * metadata.height;
  if (pixels > maxPixels) {
    throw new MoodLensError(
      'MOODLENS_ERR_TOO_MANY_PIXELS',
      `Image too large: ${name} is ${metadata.width}x${metadata.height} = ${pixels} pixels, ` +
        `over the limit of ${maxPixels} pixels`,
    );
  }

  // libjpeg repairs damaged entropy-coded data with a warning sharp does not pass on, and the garbled
  // picture would be analysed as a real one: walk the coded data first.
  if (metadata.format === 'jpeg') {
    const integrity = checkJpegIntegrity(bytes);
    if (integrity.status === 'damaged') {
      throw new MoodLensError(
        'MOODLENS_ERR_CORRUPT_IMAGE',
        `Damaged JPEG: ${name}: ${integrity.reason} (at byte ${integrity.offset})`,
      );
    }
  }

  // 2. Pixels, with the limit enforced again by sharp itself.
  const grey = metadata.space === 'b-w' || metadata.space === 'grey16';
  const channels: Channels = grey ? 1 : metadata.hasAlpha ? 4 : 3;
  let pipeline = sharp(bytes, {
    failOn: FAIL_ON,
    limitInputPixels: Number.isFinite(maxPixels) ? maxPixels : false,
    autoOrient: true,
    page: 0,
    pages: 1,
  });
  if (channels === 1) {
    pipeline = pipeline.removeAlpha().toColourspace('b-w');
  } else if (channels === 3) {
    pipeline = pipeline.removeAlpha().toColourspace('srgb');
  } else {
    pipeline = pipeline.ensureAlpha().toColourspace('srgb');
  }
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw classifySharpError(cause, bytes, name);
  }

  const { data, info } = decoded;
  if (info.channels !== channels || data.length !== info.width * info.height * channels) {
    throw new MoodLensError(
      'MOODLENS_ERR_NOT_AN_IMAGE',
      `Unsupported pixel layout in ${name}: ${metadata.format} with ${metadata.channels} ${metadata.space} ` +
        `channels decoded to ${info.channels} channels instead of ${channels}`,
    );
  }
  // A plain Uint8Array view of sharp's Buffer: no copy.
  return createImage(
    info.width,
    info.height,
    channels,
    new Uint8Array(data.buffer, data.byteOffset, data.length),
  );
}

/**
 * Reads and decodes an image file; see {@link decodeImage}. Adds `MOODLENS_ERR_FILE_NOT_FOUND` (missing or
 * unreadable path) and `MOODLENS_ERR_NOT_A_FILE` (a directory, a device, a FIFO). Messages name the path.
 */
export async function readImage(path: string, options: DecodeOptions = {}): Promise<Image> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Expected an image path as a non-empty string but received ${describe(path)}`,
    );
  }
  checkMaxPixels(options.maxPixels);
  const info = await stat(path).catch((cause: unknown) => {
    throw inputFileError(path, cause);
  });
  if (!info.isFile()) {
    throw new MoodLensError(
      'MOODLENS_ERR_NOT_A_FILE',
      `Not a file: ${path} is a ${info.isDirectory() ? 'directory' : 'special file'}`,
    );
  }
  if (info.size === 0) {
    throw new MoodLensError('MOODLENS_ERR_EMPTY_INPUT', `Empty file: ${path} has no bytes`);
  }
  const bytes = await readFile(path).catch((cause: unknown) => {
    throw inputFileError(path, cause);
  });
  return decodeImage(bytes, options, path);
}

function checkMaxPixels(maxPixels: number | undefined): number {
  if (maxPixels === undefined) return DEFAULT_MAX_PIXELS;
  if (maxPixels === Number.POSITIVE_INFINITY || (Number.isSafeInteger(maxPixels) && maxPixels > 0)) {
    return maxPixels;
  }
  throw new MoodLensError(
    'MOODLENS_ERR_INVALID_ARGUMENT',
    `Expected a positive integer or Infinity for maxPixels but received ${describe(maxPixels)}`,
  );
}

/**
 * Maps a sharp failure to a coded error. sharp says "unsupported image format" both for bytes that are
 * no image and for a file whose header cannot be found (a truncated TIFF loses its directory at the
 * end), so the leading magic bytes decide between "not an image" and "corrupt".
 */
function classifySharpError(cause: unknown, bytes: Uint8Array, name: string): MoodLensError {
  const reason = messageOf(cause);
  if (/exceeds pixel limit/i.test(reason)) {
    return new MoodLensError('MOODLENS_ERR_TOO_MANY_PIXELS', `Image too large: ${name} (${reason})`, {
      cause,
    });
  }
  const signature = sniffFormat(bytes);
  if (/unsupported image format/i.test(reason) && signature === undefined) {
    return new MoodLensError(
      'MOODLENS_ERR_NOT_AN_IMAGE',
      `Not an image: ${name} is not a JPEG, PNG, WebP, TIFF or GIF file`,
      { cause },
    );
  }
  const what = signature === undefined ? 'an image' : `a ${signature}`;
  return new MoodLensError(
    'MOODLENS_ERR_CORRUPT_IMAGE',
    `Corrupt image: ${name} looks like ${what} but cannot be decoded (truncated or damaged): ${reason}`,
    { cause },
  );
}

/** The format named by the leading magic bytes, if they are one of the supported formats'. */
export function sniffFormat(bytes: Uint8Array): string | undefined {
  const starts = (...sig: number[]): boolean => sig.every((b, i) => bytes[i] === b);
  const ascii = (offset: number, text: string): boolean =>
    [...text].every((c, i) => bytes[offset + i] === c.charCodeAt(0));
  if (starts(0xff, 0xd8, 0xff)) return 'JPEG';
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'PNG';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'GIF';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'WebP';
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return 'TIFF';
  if (starts(0x49, 0x49, 0x2b, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2b)) return 'TIFF'; // BigTIFF
  return undefined;
}

function messageOf(value: unknown): string {
  const text = value instanceof Error ? value.message : String(value);
  // sharp repeats libvips' log lines; the first one says it.
  return text.split('\n')[0].trim();
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'an object';
  return typeof value === 'number' ? String(value) : typeof value;
}
