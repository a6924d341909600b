import type { Box } from '../../core/image.js';

/** A box as two corners, in real (not rounded) pixels: x1, y1 top-left, x2, y2 bottom-right. */
export interface Corners {
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
}

/** One face found by the learned detector. */
export interface DetectedFace {
  /** The box in whole image pixels, clipped to the image (what the other stages take). */
  readonly box: Box;
  /** The box as the model gives it, in real image pixels, not clipped. */
  readonly corners: Corners;
  /** The detector's score, 0-1. */
  readonly score: number;
  /**
   * Five points `[x, y]` in image pixels: the eye on the image's left, the other eye, the nose tip, the
   * mouth corner on the image's left, the other corner (`CNN_DETECTOR_KEYPOINTS`).
   */
  readonly keypoints: readonly (readonly [number, number])[];
}

/** The decoded outputs of the detector graph for one image: A anchor points. */
export interface CnnDetectorOutputs {
  /** A scores, 0-1. */
  readonly scores: Float32Array;
  /** A x 4 values: x1, y1, x2, y2 in input pixels. */
  readonly boxes: Float32Array;
  /** A x 10 values: five x, y pairs in input pixels. */
  readonly kps: Float32Array;
}

/** How the outputs become faces. */
export interface DecodeSettings {
  /** Keep anchors scoring at least this. */
  readonly scoreThreshold: number;
  /** NMS removes a box whose IoU with a higher-scored kept box is above this. */
  readonly nmsIou: number;
  /** Input pixels per image pixel. */
  readonly scale: number;
  /** The image's size, for clipping `box`. */
  readonly imageWidth: number;
  readonly imageHeight: number;
  /** Drop faces whose box (image pixels) is narrower or lower than this. 0: no minimum. */
  readonly minSize: number;
}

/** How one pass's outputs become candidates (before NMS). */
export interface CandidateSettings {
  /** Keep anchors scoring at least this. */
  readonly scoreThreshold: number;
  /** Input pixels per image pixel. */
  readonly scale: number;
  /** Drop faces whose box (image pixels) is narrower or lower than this. 0: no minimum. */
  readonly minSize: number;
  /** Keep only faces under this size (image pixels, square root of the box's area). Default: no maximum. */
  readonly maxFace?: number;
  /** Keep only faces over this size (image pixels, square root of the box's area). Default: no minimum. */
  readonly minFace?: number;
}

/** A face of one pass before NMS, in image pixels. */
export interface DetectionCandidate {
  readonly corners: Corners;
  readonly score: number;
  readonly keypoints: readonly (readonly [number, number])[];
}

/** Intersection over union of two corner boxes (0 when both are empty). */
export function iouCorners(a: Corners, b: Corners): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  const inter = iw > 0 && ih > 0 ? iw * ih : 0;
  const areaA = Math.max(a.x2 - a.x1, 0) * Math.max(a.y2 - a.y1, 0);
  const areaB = Math.max(b.x2 - b.x1, 0) * Math.max(b.y2 - b.y1, 0);
  return inter / Math.max(areaA + areaB - inter, 1e-9);
}

/**
 * Greedy NMS as training/moodlens_train/detector/metrics.py `nms`: indices kept, highest score first (ties
 * in input order); a box is removed when its IoU with a kept box is above `iou`.
 */
export function nonMaximumSuppression(
  boxes: readonly Corners[],
  scores: ArrayLike<number>,
  iou: number,
): number[] {
  const order = boxes.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const removed = new Uint8Array(boxes.length);
  const keep: number[] = [];
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    if (removed[i] === 1) continue;
    keep.push(i);
    for (let m = k + 1; m < order.length; m++) {
      const j = order[m];
      if (removed[j] === 0 && iouCorners(boxes[i], boxes[j]) > iou) removed[j] = 1;
    }
  }
  return keep;
}

/**
 * The faces in the outputs: anchors scoring at least the threshold, mapped to image pixels, those under
 * the minimum size dropped, then NMS; highest score first.
 */
export function decodeDetections(outputs: CnnDetectorOutputs, settings: DecodeSettings): DetectedFace[] {
  const { nmsIou, imageWidth, imageHeight } = settings;
  return suppressCandidates(decodeCandidates(outputs, settings), nmsIou, imageWidth, imageHeight);
}

/** One pass's anchors scoring at least the threshold, in image pixels, within the size limits; no NMS. */
export function decodeCandidates(
  outputs: CnnDetectorOutputs,
  settings: CandidateSettings,
): DetectionCandidate[] {
  const { scores, boxes, kps } = outputs;
  const { scoreThreshold, scale, minSize } = settings;
  const maxFace = settings.maxFace ?? Infinity;
  const minFace = settings.minFace ?? -Infinity;
  const candidates: DetectionCandidate[] = [];
  for (let a = 0; a < scores.length; a++) {
    const score = scores[a];
    if (!(score >= scoreThreshold)) continue;
    const corners = {
      x1: boxes[4 * a] / scale,
      y1: boxes[4 * a + 1] / scale,
      x2: boxes[4 * a + 2] / scale,
      y2: boxes[4 * a + 3] / scale,
    };
    const w = corners.x2 - corners.x1;
    const h = corners.y2 - corners.y1;
    if (Math.min(w, h) < minSize) continue;
    // As training's metrics.detect: the side is the square root of the (non-negative) area.
    const side = Math.sqrt(Math.max(w, 0) * Math.max(h, 0));
    if (!(side < maxFace && side > minFace)) continue;
    const keypoints: [number, number][] = [];
    for (let p = 0; p < 5; p++) {
      keypoints.push([kps[10 * a + 2 * p] / scale, kps[10 * a + 2 * p + 1] / scale]);
    }
    candidates.push({ corners, score, keypoints });
  }
  return candidates;
}

/** NMS over candidates, keeping them as candidates (unclipped), highest score first. */
export function suppressOnly(
  candidates: readonly DetectionCandidate[],
  nmsIou: number,
): DetectionCandidate[] {
  const keep = nonMaximumSuppression(
    candidates.map((c) => c.corners),
    candidates.map((c) => c.score),
    nmsIou,
  );
  return keep.map((i) => candidates[i]);
}

/** NMS over candidates (of one pass or several), then each box clipped to the image; highest score first. */
export function suppressCandidates(
  candidates: readonly DetectionCandidate[],
  nmsIou: number,
  imageWidth: number,
  imageHeight: number,
): DetectedFace[] {
  const faces: DetectedFace[] = [];
  for (const { corners, score, keypoints } of suppressOnly(candidates, nmsIou)) {
    const box = clipBox(corners, imageWidth, imageHeight);
    if (box === undefined) continue;
    faces.push({ box, corners, score, keypoints });
  }
  return faces;
}

/** The corner box rounded to whole pixels and clipped to the image; undefined when nothing is left. */
export function clipBox(corners: Corners, imageWidth: number, imageHeight: number): Box | undefined {
  const x0 = Math.max(Math.round(corners.x1), 0);
  const y0 = Math.max(Math.round(corners.y1), 0);
  const x1 = Math.min(Math.round(corners.x2), imageWidth);
  const y1 = Math.min(Math.round(corners.y2), imageHeight);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : undefined;
}
