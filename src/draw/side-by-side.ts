import { createImage, type GrayImage, type RgbImage } from '../core/image.js';
import { resizeGrayNearest } from '../image/resize.js';
import { drawText, fillRect, type Rgb } from './canvas.js';
import { FONT_METRICS, measureText } from './font.js';

/** One labelled panel of a side-by-side picture. */
export interface Panel {
  readonly image: GrayImage;
  /** Drawn above the panel (clipped to its width). */
  readonly label: string;
}

export interface SideBySideOptions {
  /** Side of every panel in pixels; each image is enlarged to it by repeating pixels. Default 192. */
  readonly side?: number;
  /** Pixels between panels and around the picture. Default 8. */
  readonly gap?: number;
}

const BACKGROUND: Rgb = [32, 32, 32];
const INK: Rgb = [240, 240, 240];

/**
 * Gray images side by side at one size, each under its label, on a dark background: for comparing a
 * face as it was, enlarged and restored. Nearest-neighbour enlargement shows each image's own pixels.
 * Browser-safe.
 */
export function sideBySide(panels: readonly Panel[], options: SideBySideOptions = {}): RgbImage {
  const { side = 192, gap = 8 } = options;
  if (panels.length === 0) throw new RangeError('Expected at least one panel');
  if (!Number.isInteger(side) || side < 1) {
    throw new RangeError(`Expected a positive integer for side but received ${String(side)}`);
  }
  if (!Number.isInteger(gap) || gap < 0) {
    throw new RangeError(`Expected an integer >= 0 for gap but received ${String(gap)}`);
  }
  const fontScale = side >= 160 ? 2 : 1;
  const band = FONT_METRICS.lineHeight * fontScale + gap;
  const width = panels.length * (side + gap) + gap;
  const height = band + side + 2 * gap;
  const out = createImage(width, height, 3, new Uint8Array(width * height * 3));
  fillRect(out, { x: 0, y: 0, width, height }, BACKGROUND);
  panels.forEach(({ image, label }, i) => {
    const x0 = gap + i * (side + gap);
    const text = fitText(label, side, fontScale);
    drawText(
      out,
      text,
      x0 + Math.floor((side - measureText(text, fontScale).width) / 2),
      gap,
      fontScale,
      INK,
    );
    const shown = resizeGrayNearest(image, side, side);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const v = shown.data[y * side + x];
        const o = ((gap + band + y) * width + x0 + x) * 3;
        out.data[o] = v;
        out.data[o + 1] = v;
        out.data[o + 2] = v;
      }
    }
  });
  return out;
}

/** `text`, shortened from the end until it fits `width` pixels at `scale`. */
function fitText(text: string, width: number, scale: number): string {
  let chars = [...text];
  while (chars.length > 0 && measureText(chars.join(''), scale).width > width) chars = chars.slice(0, -1);
  return chars.join('');
}
