/**
 * A real-face clip built in memory: a camera window panning across the astronaut photo (NASA, public
 * domain), so the face moves by a known offset each frame. Frames can be replaced by blank ones to
 * make stretches without a face. Deterministic.
 */
import { createImage, type Box, type RgbImage } from '../../src/core/image.js';
import { loadAstronaut } from './fer-scenes.js';

export interface PanClipOptions {
  /** Frames in the clip (default 30). */
  readonly frames?: number;
  /** Window size (default 320x240). */
  readonly width?: number;
  readonly height?: number;
  /** Window movement per frame in photo pixels (default 5 right, 1 down). */
  readonly dx?: number;
  readonly dy?: number;
  /** Frame indices that are blank mid-gray (no face). */
  readonly blank?: readonly number[];
}

export interface PanClip {
  readonly frames: RgbImage[];
  /** The top-left corner of each frame's window in the photo (face boxes move by minus this). */
  readonly offsets: readonly { readonly x: number; readonly y: number }[];
}

function crop(photo: RgbImage, x0: number, y0: number, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const start = ((y0 + y) * photo.width + x0) * 3;
    out.set(photo.data.subarray(start, start + width * 3), y * width * 3);
  }
  return createImage(width, height, 3, out);
}

/** The astronaut photo seen through a window that pans right and down. */
export async function astronautPanClip(options: PanClipOptions = {}): Promise<PanClip> {
  const { frames = 30, width = 320, height = 240, dx = 5, dy = 1, blank = [] } = options;
  const { rgb } = await loadAstronaut();
  const photo = rgb as RgbImage;
  const out: RgbImage[] = [];
  const offsets: { x: number; y: number }[] = [];
  for (let f = 0; f < frames; f++) {
    const x = Math.min(photo.width - width, Math.round(f * dx));
    const y = Math.min(photo.height - height, Math.round(f * dy));
    offsets.push({ x, y });
    out.push(
      blank.includes(f)
        ? createImage(width, height, 3, new Uint8Array(width * height * 3).fill(128))
        : crop(photo, x, y, width, height),
    );
  }
  return { frames: out, offsets };
}

/** A box moved by minus the window offset (photo coordinates to frame coordinates). */
export function toFrame(box: Box, offset: { readonly x: number; readonly y: number }): Box {
  return { x: box.x - offset.x, y: box.y - offset.y, width: box.width, height: box.height };
}
