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
  /** Labelled faces smaller than this (side: the square root of the box area) were ignored. */
  readonly minFace: number;
  readonly images: number;
  /** Labelled faces counted (at least `minFace`). */
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

/** A box's side for the size rule: the square root of its area. */
export function boxSide(box: Box): number {
  return Math.sqrt(Math.max(box.width, 0) * Math.max(box.height, 0));
}

/**
 * `matchDetections` against the labelled faces of side at least `minFace`, as the training code's
 * `match_ignoring`: a detection that finds no such face but overlaps a smaller one at IoU >= `iou`, or is
 * itself smaller than 0.75 `minFace`, is dropped (neither true nor false): crowd photos label faces of a
 * few pixels, which no one asks MoodLens to read. `minFace` 0: every face counts.
 */
export function matchIgnoringSmall(
  detections: readonly ScoredBox[],
  faces: readonly Box[],
  iou: number,
  minFace: number,
): { tp: boolean; score: number }[] {
  if (minFace <= 0) return matchDetections(detections, faces, iou);
  const counted = faces.filter((f) => boxSide(f) >= minFace);
  const small = faces.filter((f) => boxSide(f) < minFace).map(corners);
  const order = detections
    .map((_, i) => i)
    .sort((a, b) => detections[b].score - detections[a].score || a - b);
  const matched = matchDetections(detections, counted, iou);
  return matched.filter((m, k) => {
    if (m.tp) return true;
    const det = detections[order[k]].box;
    const nearSmall = small.some((face) => iouCorners(corners(det), face) >= iou);
    return !nearSmall && boxSide(det) >= 0.75 * minFace;
  });
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
 * the training code computes it) over all detections given, each at IoU >= `iou`; labelled faces under
 * `minFace` are ignored ({@link matchIgnoringSmall}). For a detector without scores (every score 1, ties
 * in input order) AP says little: read its recall and precision.
 */
export function evaluateDetections(
  images: readonly EvaluatedImage[],
  iou: number,
  minScore: number,
  minFace = 0,
): DetectionFigures {
  const faces = images.reduce((n, image) => n + image.faces.filter((f) => boxSide(f) >= minFace).length, 0);
  let detections = 0;
  let truePositives = 0;
  const all: { tp: boolean; score: number }[] = [];
  for (const image of images) {
    all.push(...matchIgnoringSmall(image.detections, image.faces, iou, minFace));
    const kept = matchIgnoringSmall(
      image.detections.filter((d) => d.score >= minScore),
      image.faces,
      iou,
      minFace,
    );
    detections += kept.length;
    truePositives += kept.filter((m) => m.tp).length;
  }
  return {
    iou,
    minScore,
    minFace,
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
