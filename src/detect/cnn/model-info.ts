import { MoodLensError } from '../../core/errors.js';
import { IDENTITY_FRAMING, parseHaarFraming, type HaarFraming } from './framing.js';

/** The `moodlens.format` of the detector models this code decodes (training/moodlens_train/detector/export.py). */
export const CNN_DETECTOR_FORMAT = 'moodlens-detector/1';

/** The keypoint names in model order, as `moodlens.keypoints` lists them. */
export const CNN_DETECTOR_KEYPOINTS = ['eye_left', 'eye_right', 'nose', 'mouth_left', 'mouth_right'] as const;

/**
 * A second pass for small faces: the image also resized to `longSide` (more than the first pass's), adding
 * the faces it finds that would be under `maxFace` pixels (square root of the box's area) at the first
 * pass's size, which misses small faces more often; both passes' boxes go through one NMS.
 */
export interface CnnDetectorFinePass {
  /** `moodlens.fine_long_side`. */
  readonly longSide: number;
  /** `moodlens.fine_max_face`, in first-pass input pixels. */
  readonly maxFace: number;
}

/**
 * A pass for faces filling the image: the image also resized to `longSide` (less than the first pass's),
 * adding the faces it finds that would be over `minFace` pixels (square root of the box's area) at the first
 * pass's size, larger than the crops the model was trained on; all passes' boxes go through one NMS.
 */
export interface CnnDetectorCoarsePass {
  /** `moodlens.coarse_long_side`. */
  readonly longSide: number;
  /** `moodlens.coarse_min_face`, in first-pass input pixels. */
  readonly minFace: number;
}

/** What a detector model says about itself in its `moodlens.*` metadata. */
export interface CnnDetectorModelInfo {
  /** `moodlens.format`. */
  readonly format: string;
  /** The long side (pixels) photos are resized to before the model sees them (`moodlens.long_side`). */
  readonly longSide: number;
  /** The score threshold chosen on the validation photos (`moodlens.score_threshold`). */
  readonly scoreThreshold: number;
  /** The IoU above which NMS removes the lower-scored box (`moodlens.nms_iou`). */
  readonly nmsIou: number;
  /** The anchor strides, coarsest last (`moodlens.strides`); the input is padded to a multiple of the last. */
  readonly strides: readonly number[];
  /**
   * How its boxes map onto the Haar cascade's framing (`moodlens.haar_framing`, "dx,dy,scale"); the
   * identity for a model without it.
   */
  readonly haarFraming: HaarFraming;
  /** The second pass for small faces, for a model that has one (both keys or neither). */
  readonly finePass?: CnnDetectorFinePass;
  /** The pass for faces filling the image, for a model that has one (both keys or neither). */
  readonly coarsePass?: CnnDetectorCoarsePass;
  /**
   * For a model measured with the mirror view (the passes also run on the mirror image, the two views'
   * faces fused): the score threshold chosen on the validation photos that way
   * (`moodlens.mirror_score_threshold`). Without it the detector does not run the mirror view.
   */
  readonly mirrorScoreThreshold?: number;
}

/**
 * Reads and checks a detector model's metadata.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` for a model that is not a MoodLens face detector (naming
 *   what it is instead when its metadata says) or whose metadata is out of range, naming the key.
 */
export function parseCnnDetectorMetadata(
  metadata: Readonly<Record<string, string>>,
  source: string,
): CnnDetectorModelInfo {
  const format = metadata['moodlens.format'];
  const task = metadata['moodlens.task'];
  if (format !== CNN_DETECTOR_FORMAT || task !== 'face_detection') {
    const what =
      task !== undefined
        ? `a '${task}' model (moodlens.task), format '${format ?? 'none'}'`
        : 'a model without MoodLens detector metadata (moodlens.task, moodlens.format)';
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `${source} is not a MoodLens face detector (moodlens.format ${CNN_DETECTOR_FORMAT}): it is ${what}`,
    );
  }
  const longSide = readNumber(metadata, 'moodlens.long_side', source, (v) => Number.isInteger(v) && v >= 32);
  const scoreThreshold = readNumber(metadata, 'moodlens.score_threshold', source, (v) => v >= 0 && v <= 1);
  const nmsIou = readNumber(metadata, 'moodlens.nms_iou', source, (v) => v > 0 && v <= 1);
  const rawStrides = metadata['moodlens.strides'] ?? '';
  const strides = rawStrides.split(',').map((s) => Number(s.trim()));
  if (strides.length === 0 || strides.some((s) => !Number.isInteger(s) || s < 1)) {
    throw badValue(source, 'moodlens.strides', rawStrides, 'positive integers separated by commas');
  }
  const rawFraming = metadata['moodlens.haar_framing'];
  const haarFraming = rawFraming === undefined ? IDENTITY_FRAMING : parseHaarFraming(rawFraming);
  if (haarFraming === undefined) {
    throw badValue(
      source,
      'moodlens.haar_framing',
      rawFraming,
      "'dx,dy,scale' (|dx|, |dy| <= 1, scale 0.25-4)",
    );
  }
  const finePass = hasPair(metadata, source, 'moodlens.fine_long_side', 'moodlens.fine_max_face', 'fine')
    ? {
        longSide: readNumber(
          metadata,
          'moodlens.fine_long_side',
          source,
          (v) => Number.isInteger(v) && v > longSide,
        ),
        maxFace: readNumber(metadata, 'moodlens.fine_max_face', source, (v) => v > 0),
      }
    : undefined;
  const coarsePass = hasPair(
    metadata,
    source,
    'moodlens.coarse_long_side',
    'moodlens.coarse_min_face',
    'coarse',
  )
    ? {
        longSide: readNumber(
          metadata,
          'moodlens.coarse_long_side',
          source,
          (v) => Number.isInteger(v) && v >= 32 && v < longSide,
        ),
        minFace: readNumber(metadata, 'moodlens.coarse_min_face', source, (v) => v > 0),
      }
    : undefined;
  const mirrorScoreThreshold =
    metadata['moodlens.mirror_score_threshold'] === undefined
      ? undefined
      : readNumber(metadata, 'moodlens.mirror_score_threshold', source, (v) => v >= 0 && v <= 1);
  return {
    format,
    longSide,
    scoreThreshold,
    nmsIou,
    strides,
    haarFraming,
    ...(finePass === undefined ? {} : { finePass }),
    ...(coarsePass === undefined ? {} : { coarsePass }),
    ...(mirrorScoreThreshold === undefined ? {} : { mirrorScoreThreshold }),
  };
}

/** Whether a pass's two keys are there; one without the other is an error naming the missing one. */
function hasPair(
  metadata: Readonly<Record<string, string>>,
  source: string,
  sideKey: string,
  faceKey: string,
  pass: string,
): boolean {
  const has = [sideKey, faceKey].map((k) => metadata[k] !== undefined);
  if (has[0] !== has[1]) {
    throw badValue(source, has[0] ? faceKey : sideKey, undefined, `both ${pass}-pass keys or neither`);
  }
  return has[0] === true;
}

function readNumber(
  metadata: Readonly<Record<string, string>>,
  key: string,
  source: string,
  valid: (value: number) => boolean,
): number {
  const raw = metadata[key];
  const value = raw === undefined || raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value) || !valid(value)) throw badValue(source, key, raw, 'a number in range');
  return value;
}

function badValue(source: string, key: string, raw: string | undefined, expected: string): MoodLensError {
  return new MoodLensError(
    'MOODLENS_ERR_MODEL_LOAD',
    `The face detector ${source} has ${key} = ${raw === undefined ? '(missing)' : `'${raw}'`}; expected ${expected}`,
  );
}
