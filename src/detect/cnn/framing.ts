import type { Box } from '../../core/image.js';
import type { Corners } from './decode.js';

/**
 * How a learned-detector box becomes the box the Haar cascade would have drawn for the same face: the
 * landmark model and the emotion crop were trained on Haar boxes (square, brows to below the mouth), the
 * detector draws its own (jaw-wide, forehead to chin). With `s` the mean of the box's width and height:
 * side = `scale * s`, centre = the box's centre moved by `(dx * s, dy * s)`. Fitted on training photos by
 * training/moodlens_train/detector/framing.py, stored in the model as `moodlens.haar_framing`.
 */
export interface HaarFraming {
  readonly dx: number;
  readonly dy: number;
  readonly scale: number;
}

/** The detector's own box, unchanged (a model without `moodlens.haar_framing`). */
export const IDENTITY_FRAMING: HaarFraming = { dx: 0, dy: 0, scale: 1 };

/** Parses `"dx,dy,scale"`; undefined for anything else (a finite dx, dy in ±1 and a scale in 0.25-4). */
export function parseHaarFraming(raw: string): HaarFraming | undefined {
  const parts = raw.split(',').map((s) => (s.trim() === '' ? Number.NaN : Number(s)));
  if (parts.length !== 3 || parts.some((v) => !Number.isFinite(v))) return undefined;
  const [dx, dy, scale] = parts;
  if (Math.abs(dx) > 1 || Math.abs(dy) > 1 || scale < 0.25 || scale > 4) return undefined;
  return { dx, dy, scale };
}

/**
 * The square Haar-framed box of a detector box, in whole pixels, clipped to the image as OpenCV clips its
 * faces; undefined when nothing of it is inside the image.
 */
export function haarFramedBox(
  corners: Corners,
  framing: HaarFraming,
  imageWidth: number,
  imageHeight: number,
): Box | undefined {
  const s = (corners.x2 - corners.x1 + (corners.y2 - corners.y1)) / 2;
  const side = framing.scale * s;
  const cx = (corners.x1 + corners.x2) / 2 + framing.dx * s;
  const cy = (corners.y1 + corners.y2) / 2 + framing.dy * s;
  const x0 = Math.max(Math.round(cx - side / 2), 0);
  const y0 = Math.max(Math.round(cy - side / 2), 0);
  const x1 = Math.min(Math.round(cx + side / 2), imageWidth);
  const y1 = Math.min(Math.round(cy + side / 2), imageHeight);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : undefined;
}
