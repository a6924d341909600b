import type { Alignment } from '../align/aligner.js';
import { MoodLensError } from '../core/errors.js';
import type { Box } from '../core/image.js';
import type { EmotionResult } from '../emotion/classifier.js';
import type { AnalyzedFace, RejectedFace } from '../pipeline/pipeline.js';
import type { RestoreMethod } from '../enhance/restore.js';
import { LANDMARK_PARTS, type Point } from '../landmarks/points.js';
import { DEFAULT_LANDMARK_MODEL_PATH, hasDefaultLandmarkModel } from '../io/node/landmark-model.js';

/** How the landmark commands print points and alignments (text and `--json`). */

/** A coordinate rounded to 1/100 pixel (JSON stays short; the model is not more precise). */
export function roundCoordinate(value: number): number {
  return Math.round(value * 100) / 100;
}

/** A detector score as JSON gives it: 4 decimals. */
export function roundScore(score: number): number {
  return Math.round(score * 10_000) / 10_000;
}

/** The points as `[[x, y], ...]` rounded to 1/100 pixel. */
export function jsonPoints(points: readonly Point[]): [number, number][] {
  return points.map(([x, y]) => [roundCoordinate(x), roundCoordinate(y)]);
}

/** The alignment as `--json` prints it: angle in 0.1 degrees, scale and residual to 4 and 3 decimals. */
export function jsonAlignment(alignment: Alignment): Alignment {
  if (alignment.method === 'box') return alignment;
  return {
    method: alignment.method,
    angle: Math.round(alignment.angle * 10) / 10,
    scale: Math.round(alignment.scale * 10_000) / 10_000,
    residual: Math.round(alignment.residual * 1000) / 1000,
  };
}

/** One face as `moodlens analyze --json` (and the HTTP service) writes it. */
export interface JsonFace {
  readonly box: Box;
  /** The learned detector's score (0-1, 4 decimals), with `--detector cnn`; absent with Haar. */
  readonly score?: number;
  readonly emotion: EmotionResult;
  /** 68 `[x, y]` in image pixels, when the landmark stage ran. */
  readonly landmarks?: [number, number][];
  /** How the classifier's input was made, when alignment is on. */
  readonly alignment?: Alignment;
  /** Whether the face was restored by the super-resolution model before classification. */
  readonly enhanced: boolean;
  /** How the face was brought to the classifier's size, when the pipeline has an enhance stage. */
  readonly restoration?: RestoreMethod;
  /** The false-face check's verdict, when it ran. */
  readonly faceCheck?: { readonly passed: boolean; readonly problems: string[] };
}

/** A detector box the false-face check dropped, as `--json` lists it under "rejected". */
export interface JsonRejected {
  readonly box: Box;
  readonly problems: string[];
}

/** A dropped box as `--json` writes it. */
export function jsonRejected({ box, faceCheck }: RejectedFace): JsonRejected {
  return { box, problems: [...faceCheck.problems] };
}

/** A pipeline result as `--json` writes it: points and alignment rounded, `enhanced` always present. */
export function jsonFace({
  box,
  score,
  emotion,
  landmarks,
  alignment,
  enhanced,
  restoration,
  faceCheck,
}: AnalyzedFace): JsonFace {
  return {
    box,
    ...(score === undefined ? {} : { score: roundScore(score) }),
    emotion,
    ...(landmarks === undefined ? {} : { landmarks: jsonPoints(landmarks.points) }),
    ...(alignment === undefined ? {} : { alignment: jsonAlignment(alignment) }),
    enhanced: enhanced === true,
    ...(restoration === undefined ? {} : { restoration }),
    ...(faceCheck === undefined
      ? {}
      : { faceCheck: { passed: faceCheck.passed, problems: [...faceCheck.problems] } }),
  };
}

/** One line about an alignment for the text output. */
export function describeAlignment(alignment: Alignment): string {
  if (alignment.method === 'box') {
    // The first two reasons are enough on a terminal; --json has them all.
    const parts = alignment.reason.split('; ');
    const reason =
      parts.length > 2 ? `${parts.slice(0, 2).join('; ')}; ${parts.length - 2} more` : alignment.reason;
    return `box crop (${reason})`;
  }
  return (
    `aligned by ${alignment.method} (roll ${alignment.angle.toFixed(1)} deg, ` +
    `residual ${alignment.residual.toFixed(2)})`
  );
}

/** The 68 points as indented lines, one per part of the face: `jaw: (x, y) ...`. */
export function describePoints(points: readonly Point[], indent: string): string {
  const width = Math.max(...Object.keys(LANDMARK_PARTS).map((k) => k.length));
  return Object.entries(LANDMARK_PARTS)
    .map(([part, [first, last]]) => {
      const list = points
        .slice(first, last + 1)
        .map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`)
        .join(' ');
      return `${indent}${`${part}:`.padEnd(width + 1)} ${list}\n`;
    })
    .join('');
}

/**
 * The landmark model to load: the one given, else the shipped one when installed, else undefined.
 * `required` turns a missing shipped model into a coded error naming what to do.
 */
export function resolveLandmarkModel(
  given: string | undefined,
  required: string | false,
  flag = '--landmark-model',
): string | undefined {
  if (given !== undefined) return given;
  if (hasDefaultLandmarkModel()) return DEFAULT_LANDMARK_MODEL_PATH;
  if (required !== false) {
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `${required} needs the landmark model, which is not installed at ${DEFAULT_LANDMARK_MODEL_PATH}; ` +
        `give one with ${flag} FILE`,
    );
  }
  return undefined;
}
