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

/** Whether a labelled face counts: side at least `minFace` (every face when it is 0). */
export function countsAsFace(face: Box, minFace: number): boolean {
  return minFace <= 0 || boxSide(face) >= minFace;
}

/** One detection after matching, in score order (see {@link matchFaces}). */
interface MatchedDetection {
  /** Index into the detections given. */
  readonly detection: number;
  readonly score: number;
  /** Index of the labelled face it found (into the faces given), or -1. */
  readonly face: number;
  /** False for a detection that counts neither way (on a face under `minFace`, or itself too small). */
  readonly counted: boolean;
}

/**
 * Greedy matching against the labelled faces of side at least `minFace`, as the training code's
 * `match_ignoring`: detections by score (ties in input order) each take the unused counted face of highest
 * IoU, if it is at least `iou`; a detection that finds no such face but overlaps a smaller one at IoU >=
 * `iou`, or is itself smaller than 0.75 `minFace`, counts neither way: crowd photos label faces of a few
 * pixels, which no one asks MoodLens to read. `minFace` 0: every face counts.
 */
function matchFaces(
  detections: readonly ScoredBox[],
  faces: readonly Box[],
  iou: number,
  minFace: number,
): MatchedDetection[] {
  const counted = faces.map((f) => countsAsFace(f, minFace));
  const faceCorners = faces.map(corners);
  const used = new Uint8Array(faces.length);
  const order = detections
    .map((_, i) => i)
    .sort((a, b) => detections[b].score - detections[a].score || a - b);
  return order.map((i) => {
    const det = corners(detections[i].box);
    let best = -1;
    let bestIou = -1;
    faceCorners.forEach((face, j) => {
      const value = iouCorners(det, face);
      if (counted[j] && used[j] === 0 && value >= iou && value > bestIou) {
        best = j;
        bestIou = value;
      }
    });
    if (best >= 0) used[best] = 1;
    const nearSmall = best < 0 && faceCorners.some((face, j) => !counted[j] && iouCorners(det, face) >= iou);
    const tooSmall = best < 0 && minFace > 0 && boxSide(detections[i].box) < 0.75 * minFace;
    return { detection: i, score: detections[i].score, face: best, counted: !nearSmall && !tooSmall };
  });
}

/**
 * The true-positive flag and score of each detection that counts, in score order, against the labelled
 * faces of side at least `minFace` ({@link matchFaces}).
 */
export function matchIgnoringSmall(
  detections: readonly ScoredBox[],
  faces: readonly Box[],
  iou: number,
  minFace: number,
): { tp: boolean; score: number }[] {
  return matchFaces(detections, faces, iou, minFace)
    .filter((m) => m.counted)
    .map((m) => ({ tp: m.face >= 0, score: m.score }));
}

/** What a detector got wrong on one image, at one score threshold. */
export interface DetectionErrors {
  /** Detections scoring at least `minScore` that found no labelled face (and count: not on a small one). */
  readonly falseDetections: ScoredBox[];
  /** Labelled faces of at least `minFace` that no such detection found. */
  readonly missedFaces: Box[];
}

/** The false detections and missed faces of one image, matched as {@link evaluateDetections} counts them. */
export function detectionErrors(
  image: EvaluatedImage,
  iou: number,
  minScore: number,
  minFace = 0,
): DetectionErrors {
  const kept = image.detections.filter((d) => d.score >= minScore);
  const matched = matchFaces(kept, image.faces, iou, minFace);
  const found = new Set(matched.map((m) => m.face));
  return {
    falseDetections: matched.filter((m) => m.counted && m.face < 0).map((m) => kept[m.detection]),
    missedFaces: image.faces.filter((f, j) => countsAsFace(f, minFace) && !found.has(j)),
  };
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
  return matchFaces(detections, faces, iou, 0).map((m) => ({ tp: m.face >= 0, score: m.score }));
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
  const faces = images.reduce(
    (n, image) => n + image.faces.filter((f) => countsAsFace(f, minFace)).length,
    0,
  );
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
