/**
 * The overlay over the camera video: each face's box, track id, label and confidence (and whether
 * FSRNet restored it), in the colours the CLI's labelled images use (EMOTION_COLORS). Drawn with the
 * canvas API so text stays crisp.
 */
import { EMOTION_COLORS, type Point } from '../../src/core.js';
import { textColorOn } from '../../src/draw/annotate.js';
import type { OverlayFace } from './protocol.js';

const css = (rgb: readonly number[]): string => `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;

/** The tag of a face: `#1 happy 87%`, and `#1 happy 87% · FSRNet` for a face FSRNet restored. */
export function faceTag(face: Pick<OverlayFace, 'track' | 'label' | 'confidence' | 'restoration'>): string {
  const restored = face.restoration === 'fsrnet' ? ' · FSRNet' : '';
  return `#${face.track} ${face.label} ${Math.round(face.confidence * 100)}%${restored}`;
}

/**
 * Clears `canvas` to the frame's size and draws the faces (in that frame's pixels). Line width and text
 * size follow the frame, with a floor in screen pixels for small screens.
 */
export function drawOverlay(
  canvas: HTMLCanvasElement,
  width: number,
  height: number,
  faces: readonly OverlayFace[],
  show: { readonly points?: boolean } = {},
): void {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext('2d');
  if (ctx === null) return;
  ctx.clearRect(0, 0, width, height);
  const side = Math.min(width, height);
  // Frame pixels per CSS pixel as shown (a phone shows a 640 px frame about 350 px wide): text and lines
  // are kept at least 13 and 2 CSS pixels, so tags stay readable on small screens.
  const shrink = canvas.clientWidth > 0 ? width / canvas.clientWidth : 1;
  const line = Math.max(2 * shrink, Math.round(side / 160));
  const fontSize = Math.round(Math.max(13 * shrink, side / 26));
  ctx.font = `600 ${fontSize}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  for (const face of faces) {
    const color = EMOTION_COLORS[face.label];
    const { x, y, width: w, height: h } = face.box;
    ctx.lineWidth = line;
    ctx.strokeStyle = css(color);
    // A box carried over from an earlier detection is dashed: it was not found on this frame.
    ctx.setLineDash(face.detected ? [] : [line * 3, line * 2]);
    ctx.strokeRect(x + line / 2, y + line / 2, w - line, h - line);
    ctx.setLineDash([]);

    const text = faceTag(face);
    const pad = Math.round(fontSize / 4);
    const tagWidth = Math.ceil(ctx.measureText(text).width) + 2 * pad;
    const tagHeight = fontSize + 2 * pad;
    // Above the box when there is room, else inside its top; slid to stay on the frame.
    const ty = y - tagHeight >= 0 ? y - tagHeight : y;
    const tx = Math.max(0, Math.min(x, width - tagWidth));
    ctx.fillStyle = css(color);
    ctx.fillRect(tx, ty, tagWidth, tagHeight);
    ctx.fillStyle = css(textColorOn(color));
    ctx.fillText(text, tx + pad, ty + pad);
    if (show.points !== false && face.points !== undefined) drawPoints(ctx, face.points, color, line);
  }
}

/** The 68 landmarks as small dots in the face's colour, ringed in dark so they show on any skin. */
function drawPoints(
  ctx: CanvasRenderingContext2D,
  points: readonly Point[],
  color: readonly number[],
  line: number,
): void {
  const radius = Math.max(1.5, line * 0.75);
  ctx.fillStyle = css(color);
  ctx.strokeStyle = 'rgba(0, 0, 0, 0.6)';
  ctx.lineWidth = Math.max(0.5, radius / 3);
  for (const [x, y] of points) {
    ctx.beginPath();
    // +0.5: points are pixel centres, the canvas puts pixel x's centre at x + 0.5.
    ctx.arc(x + 0.5, y + 0.5, radius, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
  }
}

/** Clears the overlay (camera stopped). */
export function clearOverlay(canvas: HTMLCanvasElement): void {
  canvas.getContext('2d')?.clearRect(0, 0, canvas.width, canvas.height);
}
