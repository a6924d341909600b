import type { Box } from '../../core/image.js';
import { iouCorners, type Corners } from './decode.js';

/** One detection to score: a box in image pixels and a score (1 for detectors without scores). */
export interface ScoredBox {
  readonly box: Box;
  readonly score: number;
}

/** The detections and the labelled faces of one image. */
export interface EvaluatedImage {
  readonly detections: readonly ScoredBox[];
  readonly faces: readonly Box[];
}

/** Detection figures at one IoU (see {@link evaluateDetections}). */
export interface DetectionFigures {
  readonly iou: number;
  readonly minScore: number;
  readonly images: number;
  readonly faces: number;
  /** Detections scoring at least `minScore`. */
  readonly detections: number;
  /** Those matched to a labelled face at IoU >= `iou`. */
  readonly truePositives: number;
  readonly falsePositives: number;
  /** truePositives / faces (0 when there are no faces). */
  readonly recall: number;
  /** truePositives / detections (0 when there are none). */
  readonly precision: number;
  /** All-point average precision over every detection given (all scores), at IoU >= `iou`. */
  readonly ap: number;
}

function corners(box: Box): Corners {
  return { x1: box.x, y1: box.y, x2: box.x + box.width, y2: box.y + box.height };
}

/**
 * Greedy matching as training/moodlens_train/detector/metrics.py `match`: detections by score (ties in
 * input order) each take the unused labelled face of highest IoU, if it is at least `iou`. Returns the
 * true-positive flag and score of each detection, in that order.
 */
export function matchDetections(
  detections: readonly ScoredBox[],
  faces: readonly Box[],
  iou: number,
): { tp: boolean; score: number }[] {
  const order = detections
    .map((_, i) => i)
    .sort((a, b) => detections[b].score - detections[a].score || a - b);
  const used = new Uint8Array(faces.length);
  const faceCorners = faces.map(corners);
  return order.map((i) => {
    const det = corners(detections[i].box);
    let best = -1;
    let bestIou = -1;
    faceCorners.forEach((face, j) => {
      const value = iouCorners(det, face);
      if (used[j] === 0 && value >= iou && value > bestIou) {
        best = j;
        bestIou = value;
      }
    });
    if (best >= 0) used[best] = 1;
    return { tp: best >= 0, score: detections[i].score };
  });
}

/**
 * Recall and precision of the detections scoring at least `minScore`, and the all-point AP (VOC style, as
 * the training code computes it) over all detections given, each at IoU >= `iou`. For a detector without
 * scores (every score 1, ties in input order) AP says little: read its recall and precision.
 */
export function evaluateDetections(
  images: readonly EvaluatedImage[],
  iou: number,
  minScore: number,
): DetectionFigures {
  const faces = images.reduce((n, image) => n + image.faces.length, 0);
  let detections = 0;
  let truePositives = 0;
  const all: { tp: boolean; score: number }[] = [];
  for (const image of images) {
    all.push(...matchDetections(image.detections, image.faces, iou));
    const kept = image.detections.filter((d) => d.score >= minScore);
    detections += kept.length;
    truePositives += matchDetections(kept, image.faces, iou).filter((m) => m.tp).length;
  }
  return {
    iou,
    minScore,
    images: images.length,
    faces,
    detections,
    truePositives,
    falsePositives: detections - truePositives,
    recall: faces > 0 ? truePositives / faces : 0,
    precision: detections > 0 ? truePositives / detections : 0,
    ap: averagePrecision(all, faces),
  };
}

/** All-point interpolated AP of matched detections (any order) against `faces` labelled faces. */
export function averagePrecision(matched: readonly { tp: boolean; score: number }[], faces: number): number {
  const order = matched.map((_, i) => i).sort((a, b) => matched[b].score - matched[a].score || a - b);
  const recall: number[] = [0];
  const precision: number[] = [1];
  let tp = 0;
  let fp = 0;
  for (const i of order) {
    if (matched[i].tp) tp++;
    else fp++;
    recall.push(tp / Math.max(faces, 1));
    precision.push(tp / Math.max(tp + fp, 1));
  }
  recall.push(1);
  precision.push(0);
  for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i], precision[i + 1]);
  let ap = 0;
  for (let i = 0; i + 1 < recall.length; i++) {
    if (recall[i + 1] !== recall[i]) ap += (recall[i + 1] - recall[i]) * precision[i + 1];
  }
  return ap;
}
