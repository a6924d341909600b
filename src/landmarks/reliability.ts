import type { Box, GrayImage } from '../core/image.js';
import { centroid, interocularDistance, LANDMARK, partIndices, type Point } from './points.js';

/**
 * Whether 68 predicted points look like a face in its detector box. A landmark regressor always returns
 * 68 points, also for a false detection, a face turned away, or a crop it cannot read; the alignment must
 * then not warp the face by them. The checks are geometric, in the face's own frame: the eye axis (right
 * eye centre to left eye centre) gives the face's roll and its "down" direction; distances are in units
 * of the outer-eye-corner distance (IOD, points 36-45, the 300-W normaliser). A face is reliable when
 * every check passes:
 *
 * 1. every coordinate is a finite number;
 * 2. scale: the IOD is a plausible share of the box width (the Haar box is about two IODs wide);
 * 3. roll: the eye axis is within `maxRoll` degrees of horizontal (the frontal cascade, even with the
 *    rotated search, finds faces up to about 30 degrees, and the model was trained to +-30);
 * 4. order across the face: right eye outer < inner < left eye inner < outer corner, and the mouth's right
 *    corner before its left one, along the eye axis (a mirrored or scrambled shape fails);
 * 5. order down the face: brows above the eyes, the eyes above the nose tip, the nose tip above the
 *    mouth, the mouth above the chin, each drop within the range real faces show;
 * 6. centred: the nose tip and the mouth centre lie within `maxShift` IODs of the eyes' midpoint across
 *    the face (a head turned sideways moves them, but not by more);
 * 7. every point lies in the box widened by `boxSlack` of its side on each side.
 *
 * The ranges are set just outside what human-labelled faces show with their Haar boxes (see
 * `DEFAULT_RELIABILITY_THRESHOLDS`), so real faces pass and collapsed, scattered, mirrored, upside-down or
 * displaced points fail, with the failed checks named.
 */
export interface ReliabilityThresholds {
  /** Range of IOD / box width. */
  readonly interocular: readonly [number, number];
  /** Largest |roll| in degrees. */
  readonly maxRoll: number;
  /** Range of the nose tip's drop below the eye line, in IODs. */
  readonly noseDrop: readonly [number, number];
  /** Range of the mouth centre's drop below the eye line, in IODs. */
  readonly mouthDrop: readonly [number, number];
  /** Range of the chin's drop below the eye line, in IODs. */
  readonly chinDrop: readonly [number, number];
  /** Largest sideways offset of the nose tip and of the mouth centre from the eyes' midpoint, in IODs. */
  readonly maxShift: number;
  /** Points may lie this share of the box side outside it. */
  readonly boxSlack: number;
}

/**
 * Calibrated on the face300w faces (870 Helen crops, human 300-W labels, varied poses and expressions)
 * whose largest Haar box lies on the labelled face (837; `npm run eval:landmarks -- --calibrate` prints
 * the measures): each range is the observed minimum to maximum widened by about a fifth of its span
 * (observed: eye distance 0.35-1.12 box widths, roll -22 to 26 degrees, nose drop -0.02 to 0.66 IOD,
 * mouth 0.46-1.18, chin 0.76-1.92, sideways shift of nose or mouth up to 0.55 IOD, farthest point 0.88 box
 * sides out), so every one of those faces passes.
 */
export const DEFAULT_RELIABILITY_THRESHOLDS: ReliabilityThresholds = {
  interocular: [0.25, 1.3],
  maxRoll: 45,
  noseDrop: [-0.15, 0.8],
  mouthDrop: [0.3, 1.35],
  chinDrop: [0.5, 2.2],
  maxShift: 0.65,
  boxSlack: 1,
};

/** The measures behind a verdict (in the face frame; see {@link ReliabilityThresholds}). */
export interface LandmarkMeasures {
  /** In-plane rotation of the face in degrees, positive when turned counter-clockwise on screen. */
  readonly roll: number;
  /** IOD / box width. */
  readonly interocular: number;
  readonly noseDrop: number;
  readonly mouthDrop: number;
  readonly chinDrop: number;
  /** The larger sideways offset of the nose tip and the mouth centre from the eyes' midpoint, in IODs. */
  readonly shift: number;
  /** Points outside the widened box. */
  readonly outside: number;
}

export interface LandmarkReliability {
  /** Every check passed: the points may be used for alignment. */
  readonly reliable: boolean;
  /** Each failed check in words (empty when reliable). */
  readonly problems: readonly string[];
  /** The measures (NaN where the points were not finite). */
  readonly measures: LandmarkMeasures;
}

const RIGHT_EYE = partIndices('rightEye');
const LEFT_EYE = partIndices('leftEye');
const BROWS = [...partIndices('rightBrow'), ...partIndices('leftBrow')];
const MOUTH = [...partIndices('outerLips'), ...partIndices('innerLips')];

/** Checks 68 points against their face box; see {@link ReliabilityThresholds} for the checks. */
export function assessLandmarks(
  points: readonly Point[],
  box: Box,
  thresholds: ReliabilityThresholds = DEFAULT_RELIABILITY_THRESHOLDS,
): LandmarkReliability {
  const problems: string[] = [];
  if (points.length !== 68 || !points.every((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]))) {
    const nan = Number.NaN;
    return {
      reliable: false,
      problems: [points.length !== 68 ? `${points.length} points, not 68` : 'points are not finite numbers'],
      measures: {
        roll: nan,
        interocular: nan,
        noseDrop: nan,
        mouthDrop: nan,
        chinDrop: nan,
        shift: nan,
        outside: points.length,
      },
    };
  }
  const measures = measureLandmarks(points, box, thresholds.boxSlack);
  const t = thresholds;
  const fmt = (v: number): string => v.toFixed(2);
  const inRange = (name: string, value: number, [lo, hi]: readonly [number, number], unit: string): void => {
    if (!(value >= lo && value <= hi)) {
      problems.push(`${name} ${fmt(value)}${unit} outside ${fmt(lo)}-${fmt(hi)}`);
    }
  };
  inRange('eye distance', measures.interocular, t.interocular, ' box widths');
  if (!(Math.abs(measures.roll) <= t.maxRoll)) {
    problems.push(`roll ${measures.roll.toFixed(1)} degrees beyond ${t.maxRoll}`);
  }
  const across = acrossOrder(points);
  if (across !== undefined) problems.push(across);
  const browDrop = dropOf(centroid(points, BROWS), points);
  if (!(browDrop < 0)) problems.push('brows not above the eyes');
  inRange('nose drop', measures.noseDrop, t.noseDrop, ' IOD');
  inRange('mouth drop', measures.mouthDrop, t.mouthDrop, ' IOD');
  inRange('chin drop', measures.chinDrop, t.chinDrop, ' IOD');
  if (!(measures.noseDrop < measures.mouthDrop && measures.mouthDrop < measures.chinDrop)) {
    problems.push('nose, mouth and chin not in order down the face');
  }
  if (!(measures.shift <= t.maxShift)) {
    problems.push(
      `nose or mouth ${fmt(measures.shift)} IOD off the face's middle (beyond ${fmt(t.maxShift)})`,
    );
  }
  if (measures.outside > 0) {
    problems.push(`${measures.outside} points outside the face box (widened by ${t.boxSlack} of its side)`);
  }
  return { reliable: problems.length === 0, problems, measures };
}

/** The measures of {@link assessLandmarks} for finite points. */
export function measureLandmarks(points: readonly Point[], box: Box, boxSlack: number): LandmarkMeasures {
  const right = centroid(points, RIGHT_EYE);
  const left = centroid(points, LEFT_EYE);
  // Image y points down: an axis rising to the subject's left (the image's right) is a counter-clockwise roll.
  const roll = (-Math.atan2(left[1] - right[1], left[0] - right[0]) * 180) / Math.PI;
  const iod = interocularDistance(points);
  const slackX = boxSlack * box.width;
  const slackY = boxSlack * box.height;
  let outside = 0;
  for (const [x, y] of points) {
    if (
      x < box.x - slackX ||
      x > box.x + box.width + slackX ||
      y < box.y - slackY ||
      y > box.y + box.height + slackY
    )
      outside++;
  }
  return {
    roll,
    interocular: iod / box.width,
    noseDrop: dropOf(points[LANDMARK.noseTip], points),
    mouthDrop: dropOf(centroid(points, MOUTH), points),
    chinDrop: dropOf(points[LANDMARK.chin], points),
    shift: Math.max(
      Math.abs(offsetOf(points[LANDMARK.noseTip], points)[0]),
      Math.abs(offsetOf(centroid(points, MOUTH), points)[0]),
    ),
    outside,
  };
}

/**
 * Where `p` lies from the eyes' midpoint in the face's own frame, in IODs: `[across, down]`, across along
 * the eye axis (towards the subject's left eye), down perpendicular to it.
 */
function offsetOf(p: Point, points: readonly Point[]): [number, number] {
  const right = centroid(points, RIGHT_EYE);
  const left = centroid(points, LEFT_EYE);
  const ex = left[0] - right[0];
  const ey = left[1] - right[1];
  const length = Math.hypot(ex, ey);
  const iod = interocularDistance(points);
  if (length === 0 || iod === 0) return [Number.NaN, Number.NaN];
  const ux = ex / length;
  const uy = ey / length;
  // Down = the eye axis turned a quarter clockwise on screen: (1, 0) -> (0, 1).
  const dx = p[0] - (right[0] + left[0]) / 2;
  const dy = p[1] - (right[1] + left[1]) / 2;
  return [(dx * ux + dy * uy) / iod, (-dx * uy + dy * ux) / iod];
}

/** How far `p` lies below the eye line (through both eye centres), in IODs. */
function dropOf(p: Point, points: readonly Point[]): number {
  return offsetOf(p, points)[1];
}

/** The first left-to-right order along the eye axis that is broken, in words; undefined when all hold. */
function acrossOrder(points: readonly Point[]): string | undefined {
  const right = centroid(points, RIGHT_EYE);
  const left = centroid(points, LEFT_EYE);
  const ex = left[0] - right[0];
  const ey = left[1] - right[1];
  const along = (i: number): number => points[i][0] * ex + points[i][1] * ey;
  const eyes = [LANDMARK.rightEyeOuter, LANDMARK.rightEyeInner, LANDMARK.leftEyeInner, LANDMARK.leftEyeOuter];
  for (let k = 1; k < eyes.length; k++) {
    if (!(along(eyes[k - 1]) < along(eyes[k]))) return 'eye corners not in order across the face';
  }
  if (!(along(LANDMARK.mouthRight) < along(LANDMARK.mouthLeft))) return 'mouth corners not in order';
  if (!(along(0) < along(16))) return 'jaw ends not in order';
  return undefined;
}

/**
 * Thresholds of {@link assessFaceEvidence}. The geometric checks above pass whatever 68 points the
 * regressor returns in a plausible shape, and it returns such a shape on hair, a collar or a plain wall
 * too; these check the pixels under the points instead.
 */
export interface EvidenceThresholds {
  /**
   * Smallest eye contrast: how much darker each eye is than the cheek below it, in units of the box's
   * gray standard deviation (the smaller of the two sides). Eyes (iris, lashes, the socket's shade) are
   * darker than the cheek on nearly every real face in any lighting; on a false face the "eyes" fall on
   * whatever is there.
   */
  readonly minEyeContrast: number;
}

/** Calibrated by `npm run study:false-faces` (docs/people-tracking.md). */
export const DEFAULT_EVIDENCE_THRESHOLDS: EvidenceThresholds = { minEyeContrast: 0.1 };

export interface FaceEvidence {
  /** The pixels under the points look like a face. */
  readonly plausible: boolean;
  readonly problems: readonly string[];
  readonly measures: { readonly eyeContrast: number };
}

/** Mean gray of a disc (radius `r`, at least one pixel) centred on `p`, clipped to the image. */
function discMean(gray: GrayImage, p: Point, r: number): number {
  const radius = Math.max(1, r);
  let sum = 0;
  let n = 0;
  for (let y = Math.floor(p[1] - radius); y <= Math.ceil(p[1] + radius); y++) {
    if (y < 0 || y >= gray.height) continue;
    for (let x = Math.floor(p[0] - radius); x <= Math.ceil(p[0] + radius); x++) {
      if (x < 0 || x >= gray.width || (x - p[0]) ** 2 + (y - p[1]) ** 2 > radius * radius) continue;
      sum += gray.data[y * gray.width + x];
      n++;
    }
  }
  return n > 0 ? sum / n : Number.NaN;
}

/**
 * Whether the image under the 68 points looks like a face: each eye darker than the cheek below it
 * (halfway from the eye's centre to the same side's mouth corner), measured in discs a fifth of the eye
 * distance across, relative to the gray spread of the box. Pure pixel maths; browser-safe.
 */
export function assessFaceEvidence(
  gray: GrayImage,
  points: readonly Point[],
  box: Box,
  thresholds: EvidenceThresholds = DEFAULT_EVIDENCE_THRESHOLDS,
): FaceEvidence {
  if (points.length !== 68 || !points.every((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]))) {
    return {
      plausible: false,
      problems: ['points are not 68 finite numbers'],
      measures: { eyeContrast: NaN },
    };
  }
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(gray.width, Math.ceil(box.x + box.width));
  const y1 = Math.min(gray.height, Math.ceil(box.y + box.height));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const v = gray.data[y * gray.width + x];
      sum += v;
      sumSq += v * v;
      n++;
    }
  }
  const mean = n > 0 ? sum / n : 0;
  // A floor on the spread: a nearly flat box must not turn a gray level of noise into a large contrast.
  const spread = Math.max(8, Math.sqrt(Math.max(0, (n > 0 ? sumSq / n : 0) - mean * mean)));
  const radius = interocularDistance(points) / 10;
  const side = (eye: Point, mouthCorner: Point): number => {
    const cheek: Point = [(eye[0] + mouthCorner[0]) / 2, (eye[1] + mouthCorner[1]) / 2];
    return (discMean(gray, cheek, radius) - discMean(gray, eye, radius)) / spread;
  };
  const eyeContrast = Math.min(
    side(centroid(points, RIGHT_EYE), points[LANDMARK.mouthRight]),
    side(centroid(points, LEFT_EYE), points[LANDMARK.mouthLeft]),
  );
  const problems: string[] = [];
  if (!(eyeContrast >= thresholds.minEyeContrast)) {
    problems.push(
      `eyes not darker than the cheeks (contrast ${Number.isFinite(eyeContrast) ? eyeContrast.toFixed(2) : 'none'}, ` +
        `below ${thresholds.minEyeContrast})`,
    );
  }
  return { plausible: problems.length === 0, problems, measures: { eyeContrast } };
}
