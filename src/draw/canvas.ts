/**
 * Drawing primitives on 8-bit RGB and RGBA images: rectangles, alpha-blended fills, discs and bitmap
 * text. Browser-safe (no Node imports) and allocation-free, for video frames.
 *
 * Every primitive draws INTO the image it is given (its `data` is changed in place): make a copy first
 * with {@link toRgb} or {@link cloneImage} when the original must stay as it was. Everything is clipped to
 * the image: shapes partly or wholly outside draw only their inside part (or nothing), never throw, and
 * never wrap around to the other edge. Coordinates are image pixels, rounded to the nearest whole pixel.
 * On RGBA images, opaque drawing sets alpha to 255; blended drawing mixes the colour as on an opaque
 * image and combines alpha "source over" (`a + (1 - a) * alpha`).
 */
import {
  createImage,
  type Box,
  type Channels,
  type Image,
  type RgbImage,
  type RgbaImage,
} from '../core/image.js';
import { checkScale, FONT_METRICS, glyphFor } from './font.js';

/** A colour as red, green, blue, each an integer from 0 to 255. */
export type Rgb = readonly [r: number, g: number, b: number];

/** The images the primitives draw on. */
export type DrawableImage = RgbImage | RgbaImage;

/**
 * A new RGB copy of any image, for drawing in colour: gray is repeated into the three channels, RGB is
 * copied, RGBA loses its alpha channel (the colour values are kept as they are, not composited).
 */
export function toRgb(image: Image): RgbImage {
  const { width, height, channels, data } = checkImage(image, 'image');
  if (channels === 3) return createImage(width, height, 3, data.slice());
  const out = new Uint8Array(width * height * 3);
  if (channels === 1) {
    for (let i = 0, o = 0; i < data.length; i++, o += 3) {
      const v = data[i];
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    }
  } else {
    for (let i = 0, o = 0; i < data.length; i += 4, o += 3) {
      out[o] = data[i];
      out[o + 1] = data[i + 1];
      out[o + 2] = data[i + 2];
    }
  }
  return createImage(width, height, 3, out);
}

/** A copy of an image with its own pixel buffer. */
export function cloneImage<C extends Channels>(image: Image<C>): Image<C> {
  const { width, height, channels, data } = checkImage(image, 'image');
  return createImage(width, height, channels, data.slice());
}

/**
 * Fills `box` with `color`. With `alpha` below 1 the colour is blended over the pixels
 * (`alpha * color + (1 - alpha) * pixel`, rounded); 0 leaves them unchanged.
 */
export function fillRect(image: DrawableImage, box: Box, color: Rgb, alpha = 1): void {
  checkDrawable(image);
  const [r, g, b] = checkColor(color);
  if (!(alpha >= 0 && alpha <= 1)) {
    throw new RangeError(`Expected a number from 0 to 1 for alpha but received ${String(alpha)}`);
  }
  const { x0, y0, x1, y1 } = boxEdges(box);
  fillClipped(image, x0, y0, x1, y1, r, g, b, Math.round(alpha * 255));
}

/**
 * Outlines `box` with lines `thickness` pixels wide (a positive integer), drawn inside the box: its
 * outermost pixels are the box's own first and last rows and columns. A box thinner than two lines is
 * filled.
 */
export function strokeRect(image: DrawableImage, box: Box, color: Rgb, thickness = 1): void {
  checkDrawable(image);
  const [r, g, b] = checkColor(color);
  if (!Number.isInteger(thickness) || thickness < 1) {
    throw new RangeError(`Expected a positive integer for thickness but received ${String(thickness)}`);
  }
  const { x0, y0, x1, y1 } = boxEdges(box);
  if (x1 <= x0 || y1 <= y0) return;
  const t = thickness;
  if (2 * t >= x1 - x0 || 2 * t >= y1 - y0) {
    fillClipped(image, x0, y0, x1, y1, r, g, b, 255);
    return;
  }
  fillClipped(image, x0, y0, x1, y0 + t, r, g, b, 255); // top
  fillClipped(image, x0, y1 - t, x1, y1, r, g, b, 255); // bottom
  fillClipped(image, x0, y0 + t, x0 + t, y1 - t, r, g, b, 255); // left
  fillClipped(image, x1 - t, y0 + t, x1, y1 - t, r, g, b, 255); // right
}

/** Fills a disc centred on (`cx`, `cy`): the pixels whose centres lie within `radius + 0.5` of it. */
export function fillCircle(image: DrawableImage, cx: number, cy: number, radius: number, color: Rgb): void {
  checkDrawable(image);
  const [r, g, b] = checkColor(color);
  const x = checkCoordinate(cx, 'cx');
  const y = checkCoordinate(cy, 'cy');
  if (!(Number.isFinite(radius) && radius >= 0)) {
    throw new RangeError(`Expected a finite number >= 0 for radius but received ${String(radius)}`);
  }
  const reach = Math.floor(radius + 0.5);
  const limit = (radius + 0.5) * (radius + 0.5);
  for (let dy = -reach; dy <= reach; dy++) {
    const half = Math.floor(Math.sqrt(Math.max(0, limit - dy * dy)));
    fillClipped(image, x - half, y + dy, x + half + 1, y + dy + 1, r, g, b, 255);
  }
}

/**
 * Draws `text` in the built-in bitmap font (see `font.ts`) with the top-left corner of its first cell at
 * (`x`, `y`): capitals occupy rows `y` to `y + 7 * scale - 1`, descenders go down to `y + 9 * scale - 1`.
 * `scale` is a positive integer; characters the font lacks are drawn as an empty box. Only the ink is
 * drawn (no background): put a {@link fillRect} behind it for a label.
 */
export function drawText(
  image: DrawableImage,
  text: string,
  x: number,
  y: number,
  scale: number,
  color: Rgb,
): void {
  checkDrawable(image);
  const [r, g, b] = checkColor(color);
  checkScale(scale);
  if (typeof text !== 'string') {
    throw new TypeError(`Expected a string for text but received ${typeof text}`);
  }
  const left = checkCoordinate(x, 'x');
  const top = checkCoordinate(y, 'y');
  if (top >= image.height || top + FONT_METRICS.lineHeight * scale <= 0) return;
  const advance = FONT_METRICS.advance * scale;
  let gx = left;
  for (const char of text) {
    if (gx >= image.width) break;
    if (gx + advance > 0) {
      for (const [row, column, length] of glyphFor(char).runs) {
        const rx = gx + column * scale;
        const ry = top + row * scale;
        fillClipped(image, rx, ry, rx + length * scale, ry + scale, r, g, b, 255);
      }
    }
    gx += advance;
  }
}

/** Exact `round(v / 255)` for `0 <= v <= 255 * 255`. */
function div255(v: number): number {
  const w = v + 128;
  return (w + (w >> 8)) >> 8;
}

/** Fills the half-open pixel rectangle [x0, x1) x [y0, y1), clipped to the image; `a` is 0-255. */
function fillClipped(
  image: DrawableImage,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  r: number,
  g: number,
  b: number,
  a: number,
): void {
  const { width, height, channels: ch, data } = image;
  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x1 > width) x1 = width;
  if (y1 > height) y1 = height;
  if (x0 >= x1 || y0 >= y1 || a <= 0) return;
  const stride = width * ch;
  const rowStart = y0 * stride + x0 * ch;
  const rowEnd = rowStart + (x1 - x0) * ch;
  if (a >= 255) {
    for (let p = rowStart; p < rowEnd; p += ch) {
      data[p] = r;
      data[p + 1] = g;
      data[p + 2] = b;
      if (ch === 4) data[p + 3] = 255;
    }
    // Later rows copy the first: one native copy per row beats a per-pixel loop once rows are long.
    if (rowEnd - rowStart >= 48) {
      for (let y = y0 + 1, q = rowStart + stride; y < y1; y++, q += stride)
        data.copyWithin(q, rowStart, rowEnd);
    } else {
      for (let y = y0 + 1, q = rowStart + stride; y < y1; y++, q += stride) {
        for (let p = rowStart, o = q; p < rowEnd; p++, o++) data[o] = data[p];
      }
    }
    return;
  }
  const inv = 255 - a;
  const ra = r * a;
  const ga = g * a;
  const ba = b * a;
  for (let y = y0, q = rowStart; y < y1; y++, q += stride) {
    const end = q + (x1 - x0) * ch;
    for (let p = q; p < end; p += ch) {
      data[p] = div255(ra + data[p] * inv);
      data[p + 1] = div255(ga + data[p + 1] * inv);
      data[p + 2] = div255(ba + data[p + 2] * inv);
      if (ch === 4) data[p + 3] = a + div255(data[p + 3] * inv);
    }
  }
}

/** A box's pixel edges, rounded: columns [x0, x1), rows [y0, y1). Negative sizes give an empty range. */
function boxEdges(box: Box): { x0: number; y0: number; x1: number; y1: number } {
  if (typeof box !== 'object' || box === null) {
    throw new TypeError(`Expected a box { x, y, width, height } but received ${String(box)}`);
  }
  for (const key of ['x', 'y', 'width', 'height'] as const) {
    if (!Number.isFinite(box[key])) {
      throw new RangeError(`Expected a finite number for box.${key} but received ${String(box[key])}`);
    }
  }
  return {
    x0: Math.round(box.x),
    y0: Math.round(box.y),
    x1: Math.round(box.x + box.width),
    y1: Math.round(box.y + box.height),
  };
}

function checkCoordinate(value: number, name: string): number {
  if (!Number.isFinite(value)) {
    throw new RangeError(`Expected a finite number for ${name} but received ${String(value)}`);
  }
  return Math.round(value);
}

function checkColor(color: Rgb): Rgb {
  if (
    !Array.isArray(color) ||
    color.length !== 3 ||
    !color.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)
  ) {
    throw new RangeError(
      `Expected a colour [r, g, b] of integers from 0 to 255 but received ${JSON.stringify(color)}`,
    );
  }
  return color;
}

function checkImage<C extends Channels>(image: Image<C>, name: string): Image<C> {
  if (typeof image !== 'object' || image === null || !(image.data instanceof Uint8Array)) {
    throw new TypeError(`Expected an image { width, height, channels, data } for ${name}`);
  }
  const { width, height, channels, data } = image;
  if (data.length !== width * height * channels) {
    throw new RangeError(
      `Expected ${width * height * channels} bytes for a ${width}x${height}x${channels} ${name} ` +
        `but received ${data.length}`,
    );
  }
  return image;
}

function checkDrawable(image: Image): asserts image is DrawableImage {
  checkImage(image, 'image');
  if (image.channels !== 3 && image.channels !== 4) {
    throw new RangeError(
      `Expected an RGB or RGBA image to draw on but received ${image.channels} channel(s); ` +
        'convert gray images with toRgb() first',
    );
  }
}
