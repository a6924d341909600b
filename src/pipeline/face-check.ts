/**
 * The false-face check of `moodlens analyze`, the HTTP service and the job queue's photos (issue 23;
 * `EmotionPipeline.analyzeImage`): a box is a face when its 68 landmarks pass the geometric checks
 * (`assessLandmarks`), the landmark model's own answers for the box agree (`landmarkAgreement`: the
 * spread of its test-time-augmented answers), optionally the pixels under them look like a face
 * (`assessFaceEvidence`: eyes darker than the cheeks; off by default here), and it is not part of a
 * larger face box that passed (a duplicate). Measured by `npm run study:false-faces`
 * (docs/people-tracking.md). Pure maths over the landmark model's public API; browser-safe.
 */
import type { Box, GrayImage } from '../core/image.js';
import type { FaceLandmarks, LandmarkDetector } from '../landmarks/detector.js';
import type { Point } from '../landmarks/points.js';
import { assessFaceEvidence, type EvidenceThresholds } from '../landmarks/reliability.js';
import { DEFAULT_DUPLICATE_OVERLAP, intersectionOverSmaller } from '../video/duplicates.js';

/**
 * What the pipeline does with the check: `drop` the boxes that fail it (the default of `analyze` and the
 * server), `mark` them (keep every box, each with its verdict: `--keep-all-faces`, `keepAllFaces=true`),
 * or `off` (no check, no verdict).
 */
export const FACE_CHECK_MODES = ['drop', 'mark', 'off'] as const;
export type FaceCheckMode = (typeof FACE_CHECK_MODES)[number];

/** The verdict on one detector box. */
export interface FaceCheckVerdict {
  /** Every check passed: the box is taken for a face. */
  readonly passed: boolean;
  /** Each failed check in words (empty when passed). */
  readonly problems: readonly string[];
}

/** Thresholds of the whole check. */
export interface FaceCheckThresholds extends EvidenceThresholds {
  /**
   * Largest spread of the landmark model's answers for one box (each crop scale, plain and mirrored),
   * as the RMS distance of each answer's points from their mean, in eye distances. Infinity: not checked.
   */
  readonly maxLandmarkSpread: number;
  /** A box covered by a larger passing box over more than this share of its area is a duplicate. */
  readonly duplicateOverlap: number;
}

/**
 * Calibrated on the tuning half of face300w by `npm run study:false-faces` (docs/people-tracking.md):
 * the landmark spread of real faces is under 0.032 IOD for 99 of 100 (median 0.016), of false faces
 * 0.051 and more; 0.04 lies in that gap and removed every false face there. The eye contrast
 * (`assessFaceEvidence`, DEFAULT_EVIDENCE_THRESHOLDS: 0.1) removed no false face beyond the spread and
 * lost 0.4 points of recall, so this check leaves it out (-Infinity); `moodlens video` still applies it.
 */
export const DEFAULT_FACE_CHECK_THRESHOLDS: FaceCheckThresholds = {
  minEyeContrast: Number.NEGATIVE_INFINITY,
  maxLandmarkSpread: 0.04,
  duplicateOverlap: DEFAULT_DUPLICATE_OVERLAP,
};

/** Landmarks of each box with the spread of the answers they average. */
export interface LandmarksWithSpread {
  readonly points: readonly Point[];
  /** RMS distance of each answer's points from the mean points, averaged over the answers, in IODs. */
  readonly spread: number;
}

/**
 * The landmarks of each box with the spread of the landmark model's answers they average
 * (`LandmarkDetector.detectWithSpread`: one run of the model gives both).
 */
export async function landmarkAgreement(
  detector: LandmarkDetector,
  gray: GrayImage,
  boxes: readonly Box[],
): Promise<LandmarksWithSpread[]> {
  return (await detector.detectWithSpread(gray, boxes)).map(({ points, spread }) => ({ points, spread }));
}

/**
 * The verdict on each box from its landmarks (same order): the geometric checks, the pixel evidence,
 * the spread of the model's answers when given, then duplicates among the boxes that passed so far (of
 * two, the larger stays).
 */
export function checkFaces(
  gray: GrayImage,
  boxes: readonly Box[],
  marks: readonly FaceLandmarks[],
  spreads: readonly number[] | undefined,
  thresholds: FaceCheckThresholds = DEFAULT_FACE_CHECK_THRESHOLDS,
): FaceCheckVerdict[] {
  const problems = boxes.map((box, i): string[] => {
    const found = [...marks[i].reliability.problems];
    if (thresholds.minEyeContrast > Number.NEGATIVE_INFINITY) {
      found.push(...assessFaceEvidence(gray, marks[i].points, box, thresholds).problems);
    }
    const spread = spreads?.[i];
    if (spread !== undefined && !(spread <= thresholds.maxLandmarkSpread)) {
      found.push(
        `landmark answers disagree (spread ${Number.isFinite(spread) ? spread.toFixed(3) : 'none'} IOD, ` +
          `above ${thresholds.maxLandmarkSpread})`,
      );
    }
    return found;
  });
  const order = boxes
    .map((box, index) => ({ box, index, area: box.width * box.height }))
    .filter(({ index }) => problems[index].length === 0)
    .sort((a, b) => b.area - a.area || a.index - b.index);
  const kept: typeof order = [];
  for (const candidate of order) {
    const host = kept.find(
      (k) => intersectionOverSmaller(k.box, candidate.box) > thresholds.duplicateOverlap,
    );
    if (host === undefined) kept.push(candidate);
    else {
      const { x, y, width, height } = host.box;
      problems[candidate.index].push(`part of the larger face at x=${x} y=${y} ${width}x${height}`);
    }
  }
  return problems.map((p) => ({ passed: p.length === 0, problems: p }));
}
