import { createImage, type Channels, type Image } from '../core/image.js';

/** The image mirrored left to right (column x becomes width - 1 - x), any channel count. */
export function mirrorImage<C extends Channels>(image: Image<C>): Image<C> {
  const { width, height, channels, data } = image;
  const out = new Uint8Array(data.length);
  const row = width * channels;
  for (let y = 0; y < height; y++) {
    const start = y * row;
    for (let x = 0; x < width; x++) {
      const from = start + x * channels;
      const to = start + (width - 1 - x) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = data[from + c];
    }
  }
  return createImage(width, height, channels, out);
}
