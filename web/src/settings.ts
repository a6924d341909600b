/**
 * The web app's settings, each with its default and why. A page URL may override them for measurements
 * (`?minSize=48&detectEvery=2&threads=1&inflight=2`, `?detector=cnn&minScore=0.5&coarsePass=1`); `npm run bench:web`
 * uses that.
 */
import { DEFAULT_DETECTOR, isDetectorKind, type DetectorKind } from '../../src/detect/detector-kind.js';
import { APP_DETECT_OPTIONS } from '../../src/detect/options.js';
import {
  DEFAULT_ENHANCE_BELOW,
  DEFAULT_SMOOTHING_ALPHA,
  DEFAULT_UPSCALE_BELOW,
  ENHANCE_MODES,
  resolveDetectOptions,
  type DetectOptions,
  type EnhanceMode,
} from '../../src/core.js';

/** Small faces, as the CLI's `--enhance`, `--enhance-below` and `--upscale-below` set them. */
export interface EnhanceSetting {
  /** `auto`: by size (below); `always`: FSRNet for every face; `never`: no FSRNet model is even loaded. */
  readonly mode: EnhanceMode;
  /** Box side (analysis pixels) under which `auto` restores a face with FSRNet. */
  readonly below: number;
  /** Box side under which `auto` enlarges a face FSRNet does not restore bicubically. */
  readonly upscaleBelow: number;
}

export interface AppSettings {
  /**
   * The face detector (`?detector=cnn|haar`): `haar`, OpenCV's cascade, or `cnn`, the learned detector
   * (models/detector/face-detector.onnx). Default: `DEFAULT_DETECTOR` (src/detect/detector-kind.ts), the one
   * constant every surface reads.
   */
  readonly detector: DetectorKind;
  /**
   * `cnn` only (`?minScore=0.5`): keep faces scoring at least this, 0-1. Undefined: the model's own
   * threshold (`moodlens.score_threshold`, chosen on its validation photos).
   */
  readonly minScore: number | undefined;
  /**
   * `cnn` only (`?coarsePass=1|0`): run the model's third pass for faces filling the frame (a face leaning
   * into the camera). Default off: see `loadWebCnnDetector`.
   */
  readonly coarsePass: boolean;
  /** Frames wider than this are scaled down before analysis (the camera is asked for 640x480). */
  readonly maxWidth: number;
  /**
   * Face detection: the settings `moodlens video` uses (APP_DETECT_OPTIONS: OpenCV's scale step with 4
   * neighbours, measured in docs/people-tracking.md; false faces are further dropped by their landmarks
   * and by the tracker's confirmation) and a smallest face of 64 px, for speed: a face at arm's length from a webcam fills far more, and the small scales
   * are most of the scan's time (at 640x480: 78 ms with no minimum, 24 ms with 64 px, in Node).
   */
  readonly detect: Required<DetectOptions>;
  /** Run the detector on every Nth frame; the tracker carries boxes in between (1: every frame). */
  readonly detectEvery: number;
  /** Weight of the newest frame in each person's moving average of scores. */
  readonly smoothingAlpha: number;
  /** ONNX Runtime threads per inference (1 was fastest for this small model). */
  readonly threads: number;
  /**
   * Frames sent to the worker before the answer to the first arrives. 1: on 2 cores a second frame in
   * flight only competed with the worker for the CPU (fewer frames per second, twice the latency).
   */
  readonly inflight: number;
  /**
   * Small faces (`?enhance=auto|always|never&enhanceBelow=32&upscaleBelow=48`): the CLI's defaults, from
   * src/enhance/policy.ts, where the size study that chose them is quoted. With `detect.minSize` at 64
   * the detector finds no face under 48 px, so under `auto` FSRNet and bicubic act only once `?minSize=`
   * is lowered (the cascade finds faces from 24 px); `?enhance=always` restores every face.
   */
  readonly enhance: EnhanceSetting;
}

export const DEFAULT_SETTINGS: AppSettings = {
  detector: DEFAULT_DETECTOR,
  minScore: undefined,
  coarsePass: false,
  maxWidth: 640,
  detect: { ...APP_DETECT_OPTIONS, minSize: 64 },
  detectEvery: 1,
  smoothingAlpha: DEFAULT_SMOOTHING_ALPHA,
  threads: 1,
  inflight: 1,
  enhance: { mode: 'auto', below: DEFAULT_ENHANCE_BELOW, upscaleBelow: DEFAULT_UPSCALE_BELOW },
};

/** The settings with the page URL's overrides; throws RangeError naming a bad parameter. */
export function settingsFromUrl(search: string): AppSettings {
  const params = new URLSearchParams(search);
  const number = (name: string, fallback: number, integer = true, min = 1): number => {
    const raw = params.get(name);
    if (raw === null || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min) {
      throw new RangeError(
        `Expected ${integer ? 'an integer' : 'a number'} >= ${min} for ?${name} but received ${raw}`,
      );
    }
    return value;
  };
  const d = DEFAULT_SETTINGS;
  const mode = params.get('enhance') || d.enhance.mode;
  if (!(ENHANCE_MODES as readonly string[]).includes(mode)) {
    throw new RangeError(`Expected ${ENHANCE_MODES.join(', ')} for ?enhance but received ${mode}`);
  }
  const detector = params.get('detector') || d.detector;
  if (!isDetectorKind(detector)) {
    throw new RangeError(`Expected cnn or haar for ?detector but received ${detector}`);
  }
  const rawScore = params.get('minScore');
  let minScore = d.minScore;
  if (rawScore !== null && rawScore !== '') {
    minScore = Number(rawScore);
    if (!(minScore >= 0 && minScore <= 1)) {
      throw new RangeError(`Expected a number from 0 to 1 for ?minScore but received ${rawScore}`);
    }
    if (detector !== 'cnn') {
      throw new RangeError('?minScore applies to ?detector=cnn only: the Haar cascade gives no scores');
    }
  }
  const rawCoarse = params.get('coarsePass');
  let coarsePass = d.coarsePass;
  if (rawCoarse !== null && rawCoarse !== '') {
    if (rawCoarse !== '0' && rawCoarse !== '1') {
      throw new RangeError(`Expected 0 or 1 for ?coarsePass but received ${rawCoarse}`);
    }
    if (detector !== 'cnn') {
      throw new RangeError('?coarsePass applies to ?detector=cnn only: the Haar cascade has no passes');
    }
    coarsePass = rawCoarse === '1';
  }
  return {
    detector,
    minScore,
    coarsePass,
    maxWidth: number('maxWidth', d.maxWidth, true, 64),
    detect: resolveDetectOptions({
      scaleFactor: number('scaleFactor', d.detect.scaleFactor, false),
      minNeighbors: number('minNeighbors', d.detect.minNeighbors, true, 0),
      minSize: number('minSize', d.detect.minSize, true, 0),
      maxSize: number('maxSize', d.detect.maxSize, true, 0),
    }),
    detectEvery: number('detectEvery', d.detectEvery),
    smoothingAlpha: number('smoothing', d.smoothingAlpha, false, 0),
    threads: number('threads', d.threads),
    inflight: number('inflight', d.inflight),
    enhance: {
      mode: mode as EnhanceMode,
      below: number('enhanceBelow', d.enhance.below, true, 0),
      upscaleBelow: number('upscaleBelow', d.enhance.upscaleBelow, true, 0),
    },
  };
}
