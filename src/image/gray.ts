import { createImage, type GrayImage, type Image } from '../core/image.js';

// OpenCV 4's fixed-point BT.601 luma weights (cvtColor COLOR_BGR2GRAY on 8-bit, 15 fractional bits;
// checked against cv2.cvtColor on all 2^24 colours), so our gray pixels equal OpenCV's bit for bit.
const R_WEIGHT = 9798;
const G_WEIGHT = 19235;
const B_WEIGHT = 3735;
const SHIFT = 15;
const HALF = 1 << (SHIFT - 1);

/** Converts an image to 8-bit gray exactly as OpenCV does; alpha is ignored; gray input is returned as is. */
export function toGray(image: Image): GrayImage {
  if (image.channels === 1) return image as GrayImage;
  const { width, height, channels, data } = image;
  const out = new Uint8Array(width * height);
  for (let i = 0, p = 0; i < out.length; i++, p += channels) {
    out[i] = (data[p] * R_WEIGHT + data[p + 1] * G_WEIGHT + data[p + 2] * B_WEIGHT + HALF) >> SHIFT;
  }
  return createImage(width, height, 1, out);
}
