/**
 * The 68-point facial landmark convention MoodLens uses: iBUG 300-W's, 0-based. "Right" and "left" are
 * the subject's, as in 300-W, so on an upright face seen from the front the subject's right eye appears
 * on the image's left. Coordinates are image pixels, 0-based pixel centres (x right, y down): the
 * centre of the top-left pixel is (0, 0).
 */

/** A point `[x, y]` in image pixels. */
export type Point = readonly [number, number];

/** The number of points of the convention. */
export const LANDMARK_COUNT = 68;

/** Index ranges `[first, last]` (inclusive) of each part of the face. */
export const LANDMARK_PARTS = {
  jaw: [0, 16],
  rightBrow: [17, 21],
  leftBrow: [22, 26],
  noseBridge: [27, 30],
  noseBase: [31, 35],
  rightEye: [36, 41],
  leftEye: [42, 47],
  outerLips: [48, 59],
  innerLips: [60, 67],
} as const satisfies Record<string, readonly [number, number]>;

export type LandmarkPart = keyof typeof LANDMARK_PARTS;

/** Named single points used by the reliability checks and the alignment. */
export const LANDMARK = {
  chin: 8,
  noseTop: 27,
  noseTip: 30,
  rightEyeOuter: 36,
  rightEyeInner: 39,
  leftEyeInner: 42,
  leftEyeOuter: 45,
  mouthRight: 48,
  mouthLeft: 54,
  upperLipTop: 51,
  lowerLipBottom: 57,
} as const;

/**
 * Where each point goes when the face is mirrored left-right (300-W's permutation: the subject's right
 * and left swap): point `i` of the mirrored face is point `MIRRORED_INDEX[i]` of the original.
 */
export const MIRRORED_INDEX: readonly number[] = [
  16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 27, 28,
  29, 30, 35, 34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, 54, 53, 52, 51, 50, 49, 48, 59,
  58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65,
];

/** Indices `first..last` of a part. */
export function partIndices(part: LandmarkPart): number[] {
  const [first, last] = LANDMARK_PARTS[part];
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/** The mean of the given points. */
export function centroid(points: readonly Point[], indices: readonly number[]): Point {
  let x = 0;
  let y = 0;
  for (const i of indices) {
    x += points[i][0];
    y += points[i][1];
  }
  return [x / indices.length, y / indices.length];
}

/** The outer-eye-corner distance (points 36 and 45): the 300-W normaliser of landmark errors. */
export function interocularDistance(points: readonly Point[]): number {
  const a = points[LANDMARK.rightEyeOuter];
  const b = points[LANDMARK.leftEyeOuter];
  return Math.hypot(b[0] - a[0], b[1] - a[1]);
}

/** Checks a list holds 68 finite `[x, y]` pairs; names the first bad entry. */
export function checkLandmarks(points: readonly Point[], what = 'landmarks'): void {
  if (!Array.isArray(points) || points.length !== LANDMARK_COUNT) {
    throw new RangeError(
      `Expected ${LANDMARK_COUNT} points for ${what} but received ` +
        `${Array.isArray(points) ? points.length : typeof points}`,
    );
  }
  points.forEach((p, i) => {
    if (!Array.isArray(p) || p.length !== 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) {
      throw new RangeError(
        `Expected [x, y] finite numbers for ${what}[${i}] but received ${JSON.stringify(p)}`,
      );
    }
  });
}
