/** Options of the multi-scale Haar scan; the defaults equal OpenCV's `CascadeClassifier.detectMultiScale`. */
export interface DetectOptions {
  /** Step between scales of the pyramid; must be > 1. Default 1.1. */
  readonly scaleFactor?: number;
  /** A group of raw hits needs more than this many members to become a face. Default 3. */
  readonly minNeighbors?: number;
  /** Smallest face side in pixels (0: no minimum). Default 0. */
  readonly minSize?: number;
  /** Largest face side in pixels (0: no maximum beyond the image). Default 0. */
  readonly maxSize?: number;
}

export const DEFAULT_DETECT_OPTIONS: Required<DetectOptions> = {
  scaleFactor: 1.1,
  minNeighbors: 3,
  minSize: 0,
  maxSize: 0,
};

/**
 * The detector settings MoodLens's own surfaces share: `moodlens analyze`, the HTTP service, the job
 * queue's photos, `moodlens video` and the web app (OpenCV's scale step with 4 neighbours instead of 3);
 * `moodlens detect` and `landmarks` keep OpenCV's defaults (they are the parity commands). Measured by
 * `npm run study:false-faces` (docs/people-tracking.md): on face300w photos (tuning half) 4 neighbours
 * plus the landmark checks remove 70% of the false faces of OpenCV's defaults for 0.7 points of recall,
 * and with the false-face check of src/pipeline/face-check.ts every one for 0.5 points; 5 neighbours
 * lost 2.8 points of recall on its own. The minimum size stays a per-surface speed setting (0 here).
 */
export const APP_DETECT_OPTIONS: Required<DetectOptions> = {
  scaleFactor: 1.1,
  minNeighbors: 4,
  minSize: 0,
  maxSize: 0,
};

/** Fills in defaults and checks each option, naming the parameter, the expectation and what arrived. */
export function resolveDetectOptions(options: DetectOptions = {}): Required<DetectOptions> {
  const resolved = { ...DEFAULT_DETECT_OPTIONS, ...stripUndefined(options) };
  const { scaleFactor, minNeighbors, minSize, maxSize } = resolved;
  if (
    typeof scaleFactor !== 'number' ||
    !Number.isFinite(scaleFactor) ||
    scaleFactor <= 1 ||
    scaleFactor > 4
  ) {
    throw new RangeError(
      `Expected a number above 1 and at most 4 for scaleFactor but received ${String(scaleFactor)}`,
    );
  }
  for (const [name, value] of [
    ['minNeighbors', minNeighbors],
    ['minSize', minSize],
    ['maxSize', maxSize],
  ] as const) {
    if (!Number.isInteger(value) || value < 0) {
      throw new RangeError(`Expected a non-negative integer for ${name} but received ${String(value)}`);
    }
  }
  return resolved;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
