/**
 * Labelled copies of images: a box around each face, a filled tag with its label and confidence
 * (`happy 87%`), and optional landmark dots. Used by `moodlens analyze` for photos and, later, for video
 * frames, so it allocates one output image and nothing per face. Browser-safe: no Node imports.
 */
import type { Box, Image, RgbImage } from '../core/image.js';
import { fillCircle, fillRect, strokeRect, drawText, toRgb, type Rgb } from './canvas.js';
import { checkScale, FONT_METRICS, measureText } from './font.js';

/** The emotion labels with a colour of their own (FER-2013's seven classes, in its order). */
export const EMOTION_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;
export type EmotionLabel = (typeof EMOTION_LABELS)[number];

/** One fixed colour per emotion, distinct from each other and from the default. */
export const EMOTION_COLORS: Readonly<Record<EmotionLabel, Rgb>> = Object.freeze({
  angry: [229, 57, 53], // red
  disgust: [67, 160, 71], // green
  fear: [142, 36, 170], // purple
  happy: [253, 216, 53], // yellow
  sad: [30, 136, 229], // blue
  surprise: [251, 140, 0], // orange
  neutral: [176, 190, 197], // blue grey
});

/** The colour of a face without a label, or with a label outside {@link EMOTION_LABELS}: cyan. */
export const DEFAULT_FACE_COLOR: Rgb = Object.freeze([0, 229, 255] as const);

/** What to draw for one face. Only `box` is required. */
export interface FaceAnnotation {
  /** The face, in image pixels. */
  readonly box: Box;
  /** Shown in the tag; also picks the colour when it is one of {@link EMOTION_LABELS} (any case). */
  readonly label?: string;
  /** From 0 to 1, shown as a whole percentage after the label. */
  readonly confidence?: number;
  /** Overrides the label's colour. */
  readonly color?: Rgb;
  /** Landmarks `[x, y]` in image pixels, drawn as small dots in the face's colour. */
  readonly points?: readonly (readonly [number, number])[];
}

export interface AnnotateOptions {
  /** Box line width in pixels, a positive integer. Default: per face, see {@link annotationSizes}. */
  thickness?: number;
  /** Text scale (font pixel size), a positive integer. Default: chosen per face like `thickness`. */
  textScale?: number;
  /** Radius of landmark dots in pixels. Default: chosen per face like `thickness`. */
  pointRadius?: number;
  /** Show the confidence after the label. Default `true`. */
  showConfidence?: boolean;
}

/** The defaults of {@link AnnotateOptions} that do not depend on the image. */
export const DEFAULT_ANNOTATE_OPTIONS = { showConfidence: true } as const;

/** Sizes for one face's drawing, in image pixels. */
export interface AnnotationSizes {
  readonly thickness: number;
  readonly textScale: number;
  readonly pointRadius: number;
}

const LABEL_COLORS: ReadonlyMap<string, Rgb> = new Map(Object.entries(EMOTION_COLORS));

/** The colour for a label: its emotion's colour (case and surrounding spaces ignored), else the default. */
export function colorForLabel(label: string | undefined): Rgb {
  return (
    (label === undefined ? undefined : LABEL_COLORS.get(label.trim().toLowerCase())) ?? DEFAULT_FACE_COLOR
  );
}

/** Black or white, whichever reads better on `background` (by its BT.601 luma). */
export function textColorOn(background: Rgb): Rgb {
  const luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2];
  return luma >= 140 ? [0, 0, 0] : [255, 255, 255];
}

/** The tag text: `happy 87%`, `happy`, `87%` or `''` (no tag). */
export function formatLabel(label?: string, confidence?: number, showConfidence = true): string {
  const parts: string[] = [];
  const name = label?.trim() ?? '';
  if (name !== '') parts.push(name);
  if (confidence !== undefined && showConfidence) parts.push(`${Math.round(confidence * 100)}%`);
  return parts.join(' ');
}

/**
 * Line width, text scale and dot radius for a face, from the image's shorter side (so a whole photo,
 * viewed fitted to a screen, shows readable labels: text about 2% of that side, lines about 0.4%) held
 * back by the box's shorter side (so a small face in a large photo, or a crowd, is not buried under its
 * label; but never below a third of the image-based size, which would be unreadable). A 512 px photo
 * gets lines of 2 px and 14 px tall capitals; a 4000x3000 photo 12 px lines and 63 px capitals; a
 * thumbnail 1 and 7.
 */
export function annotationSizes(
  image: { readonly width: number; readonly height: number },
  box: Box,
): AnnotationSizes {
  const side = Math.min(image.width, image.height);
  const boxSide = Math.max(1, Math.min(Math.abs(box.width), Math.abs(box.height)));
  const imageScale = Math.max(1, Math.round(side / 320));
  const textScale = Math.min(imageScale, Math.max(Math.round(boxSide / 16), Math.ceil(imageScale / 3)));
  const imageThickness = Math.max(1, Math.round(side / 250));
  const thickness = Math.min(
    imageThickness,
    Math.max(Math.round(boxSide / 30), Math.ceil(imageThickness / 3)),
  );
  const pointRadius = Math.max(1, Math.min(thickness, Math.round(boxSide / 100)));
  return { thickness, textScale, pointRadius };
}

/**
 * A new RGB image with the faces drawn on a copy of `image` (gray, RGB or RGBA; alpha is dropped); the
 * input is never changed. Each face gets its box outline and, when it has a label or a confidence, a tag
 * filled with its colour, text in black or white: above the box, or below it when there is no room above,
 * or inside its top when there is no room either way, moved up or down when that would cover another
 * face's tag (tags never overlap each other). Boxes partly outside the image are clipped; boxes wholly
 * outside draw nothing (no outline, no tag). Tags are drawn after all boxes, so that no box crosses a label.
 *
 * Throws `TypeError`/`RangeError` naming the bad field (`faces[1].box.x`, `faces[0].confidence`, ...).
 */
export function annotateFaces(
  image: Image,
  faces: readonly FaceAnnotation[],
  options: AnnotateOptions = {},
): RgbImage {
  const list: unknown = faces; // checked through a copy: Array.isArray would narrow `faces` to any[]
  if (!Array.isArray(list)) {
    throw new TypeError(`Expected an array for faces but received ${typeof faces}`);
  }
  const showConfidence = options.showConfidence ?? DEFAULT_ANNOTATE_OPTIONS.showConfidence;
  checkOptions(options);
  const out = toRgb(image);
  const { width, height } = out;

  const visible: { face: FaceAnnotation; color: Rgb; sizes: AnnotationSizes }[] = [];
  faces.forEach((face, i) => {
    checkFace(face, i);
    const auto = annotationSizes(out, face.box);
    const sizes: AnnotationSizes = {
      thickness: options.thickness ?? auto.thickness,
      textScale: options.textScale ?? auto.textScale,
      pointRadius: options.pointRadius ?? auto.pointRadius,
    };
    const color = face.color ?? colorForLabel(face.label);
    const { box } = face;
    // Whether any pixel of the box (rounded as the canvas rounds it) is on the image.
    const inside =
      Math.max(0, Math.round(box.x)) < Math.min(width, Math.round(box.x + box.width)) &&
      Math.max(0, Math.round(box.y)) < Math.min(height, Math.round(box.y + box.height));
    if (inside) {
      strokeRect(out, box, color, sizes.thickness);
      visible.push({ face, color, sizes });
    }
    for (const [px, py] of face.points ?? []) fillCircle(out, px, py, sizes.pointRadius, color);
  });

  // Tags are placed one by one, each where it overlaps none placed before (see placeTag), so that in a
  // crowd every number and label stays readable and matches its face.
  const placed: Box[] = [];
  for (const { face, color, sizes } of visible) {
    const text = formatLabel(face.label, face.confidence, showConfidence);
    if (text === '') continue;
    const s = sizes.textScale;
    // Two font pixels of margin left, right and above the capitals; below, the descender rows and one more.
    const padX = 2 * s;
    const padTop = 2 * s;
    const tagWidth = measureText(text, s).width + 2 * padX;
    const tagHeight = padTop + FONT_METRICS.lineHeight * s + s;
    const tag = placeTag(out, face.box, tagWidth, tagHeight, placed);
    placed.push(tag);
    fillRect(out, tag, color);
    drawText(out, text, tag.x + padX, tag.y + padTop, s, textColorOn(color));
  }
  return out;
}

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/**
 * Where a tag of `width` x `height` goes for `box`: above the box, or below it when there is no room
 * above, or inside its top when there is no room either way (slid left or right to stay on the image).
 * When that spot overlaps a tag already placed, the nearest free spot straight up or down from it (in
 * steps of one tag height, on the image) is taken instead; with no free spot at all, the first choice.
 */
export function placeTag(
  image: { readonly width: number; readonly height: number },
  box: Box,
  width: number,
  height: number,
  placed: readonly Box[],
): Box {
  const top = Math.max(0, Math.round(box.y));
  const bottom = Math.min(image.height, Math.round(box.y + box.height));
  let y: number;
  if (top - height >= 0) y = top - height;
  else if (bottom + height <= image.height) y = bottom;
  else y = top;
  // Slide the tag left or right to keep it on the image (from the left edge if it is wider than the image).
  const x = Math.max(0, Math.min(Math.round(box.x), image.width - width));
  const first: Box = { x, y, width, height };
  if (!placed.some((p) => overlaps(p, first))) return first;
  const limit = Math.ceil(image.height / Math.max(1, height)) + 1;
  for (let step = 1; step <= limit; step++) {
    for (const dy of [-step * height, step * height]) {
      const candidate: Box = { x, y: y + dy, width, height };
      if (candidate.y < 0 || candidate.y + height > image.height) continue;
      if (!placed.some((p) => overlaps(p, candidate))) return candidate;
    }
  }
  return first;
}

function checkFace(face: FaceAnnotation, i: number): void {
  if (typeof face !== 'object' || face === null) {
    throw new TypeError(`Expected an object { box, label?, confidence?, color?, points? } for faces[${i}]`);
  }
  const { box } = face;
  if (typeof box !== 'object' || box === null) {
    throw new TypeError(
      `Expected a box { x, y, width, height } for faces[${i}].box but received ${String(box)}`,
    );
  }
  for (const key of ['x', 'y', 'width', 'height'] as const) {
    if (!Number.isFinite(box[key])) {
      throw new RangeError(
        `Expected a finite number for faces[${i}].box.${key} but received ${String(box[key])}`,
      );
    }
  }
  if (face.label !== undefined && typeof face.label !== 'string') {
    throw new TypeError(`Expected a string for faces[${i}].label but received ${typeof face.label}`);
  }
  const { confidence } = face;
  if (confidence !== undefined && !(typeof confidence === 'number' && confidence >= 0 && confidence <= 1)) {
    throw new RangeError(
      `Expected a number from 0 to 1 for faces[${i}].confidence but received ${String(confidence)}`,
    );
  }
  const { color } = face;
  if (
    color !== undefined &&
    !(
      Array.isArray(color) &&
      color.length === 3 &&
      color.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)
    )
  ) {
    throw new RangeError(
      `Expected [r, g, b] integers from 0 to 255 for faces[${i}].color but received ${JSON.stringify(color)}`,
    );
  }
  if (face.points !== undefined) {
    if (!Array.isArray(face.points)) {
      throw new TypeError(
        `Expected an array of [x, y] for faces[${i}].points but received ${typeof face.points}`,
      );
    }
    face.points.forEach((point, j) => {
      if (!Array.isArray(point) || point.length !== 2 || !point.every((v) => Number.isFinite(v))) {
        throw new RangeError(
          `Expected [x, y] finite numbers for faces[${i}].points[${j}] but received ${JSON.stringify(point)}`,
        );
      }
    });
  }
}

function checkOptions(options: AnnotateOptions): void {
  const { thickness, textScale, pointRadius } = options;
  if (thickness !== undefined && !(Number.isInteger(thickness) && thickness >= 1)) {
    throw new RangeError(`Expected a positive integer for thickness but received ${String(thickness)}`);
  }
  if (textScale !== undefined) checkScale(textScale, 'textScale');
  if (pointRadius !== undefined && !(Number.isFinite(pointRadius) && pointRadius >= 0)) {
    throw new RangeError(`Expected a finite number >= 0 for pointRadius but received ${String(pointRadius)}`);
  }
}
