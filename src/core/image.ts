/**
 * The one image type of the library: 8-bit pixels, interleaved, row-major, tightly packed.
 * Width, height and channel count travel with the bytes so no stage has to guess them.
 */
export type Channels = 1 | 3 | 4;

export interface Image<C extends Channels = Channels> {
  readonly width: number;
  readonly height: number;
  readonly channels: C;
  /** `width * height * channels` bytes; RGB(A) order for colour images. */
  readonly data: Uint8Array;
}

export type GrayImage = Image<1>;
export type RgbImage = Image<3>;
export type RgbaImage = Image<4>;

/** An axis-aligned rectangle in whole image pixels. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Builds an image after checking that the buffer matches the stated geometry. */
export function createImage<C extends Channels>(
  width: number,
  height: number,
  channels: C,
  data: Uint8Array = new Uint8Array(width * height * channels),
): Image<C> {
  if (!Number.isInteger(width) || width <= 0) {
    throw new RangeError(`Expected a positive integer for width but received ${String(width)}`);
  }
  if (!Number.isInteger(height) || height <= 0) {
    throw new RangeError(`Expected a positive integer for height but received ${String(height)}`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new RangeError(`Expected 1, 3 or 4 for channels but received ${String(channels)}`);
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    throw new RangeError(
      `Expected ${expected} bytes for a ${width}x${height}x${channels} image but received ${data.length}`,
    );
  }
  return { width, height, channels, data };
}
