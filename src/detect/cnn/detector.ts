import { MoodLensError } from '../../core/errors.js';
import type { Image } from '../../core/image.js';
import type { CnnDetectorBackend } from './backend.js';
import { mirrorImage } from '../../image/mirror.js';
import {
  decodeCandidates,
  suppressCandidates,
  suppressOnly,
  type DetectedFace,
  type DetectionCandidate,
} from './decode.js';
import { fuseViews, unmirrorCandidates } from './fuse-views.js';
import {
  parseCnnDetectorMetadata,
  type CnnDetectorFinePass,
  type CnnDetectorModelInfo,
} from './model-info.js';
import { detectorInput } from './preprocess.js';

/**
 * With the mirror view, each view keeps faces down to this score before the two are fused (training's
 * metrics.MIRROR_VIEW_FLOOR), so that a face one view scores low still pairs with the other view's.
 */
export const MIRROR_VIEW_FLOOR = 0.05;

/** Per-call settings of {@link CnnFaceDetector.detect}; each defaults to the detector's own. */
export interface CnnDetectOptions {
  /**
   * Keep faces scoring at least this, 0-1. Default: the model's `moodlens.score_threshold`, or with the
   * mirror view its `moodlens.mirror_score_threshold`.
   */
  readonly scoreThreshold?: number;
  /** NMS IoU, 0-1. Default: the model's `moodlens.nms_iou`. */
  readonly nmsIou?: number;
  /** Smallest face side in image pixels (0: none). Default 0. */
  readonly minSize?: number;
  /**
   * Run the model's second pass for small faces (`CnnDetectorModelInfo.finePass`), when it has one and it
   * can find a face of at least `minSize`. Default true.
   */
  readonly finePass?: boolean;
  /**
   * Run the model's pass for faces filling the image (`CnnDetectorModelInfo.coarsePass`), when it has one.
   * Default true.
   */
  readonly coarsePass?: boolean;
  /**
   * Also run the passes on the image's mirror image and fuse the two views: a face both find scores the
   * mean of their scores (boxes and keypoints averaged), a face one finds scores half its score. About
   * twice the time (2.2x measured); fewer false faces at the same recall (the detector's model card).
   * Default false; only a model measured that way (it has `moodlens.mirror_score_threshold`) can run it.
   */
  readonly mirror?: boolean;
}

export interface CnnFaceDetectorOptions extends CnnDetectOptions {
  /** Runs the model; the detector owns it from now on and disposes it in `close()`. */
  readonly backend: CnnDetectorBackend;
  /** The model's `metadata_props` (from `readOnnxMetadata`). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Names the model in messages (a path). Default `'face detector'`. */
  readonly source?: string;
  /** The long side photos are resized to. Default: the model's `moodlens.long_side`. */
  readonly longSide?: number;
  /**
   * The long side of the second pass for small faces (the model's must have one): larger finds more small
   * faces and costs more time; 0 turns the pass off. Default: the model's `moodlens.fine_long_side`.
   */
  readonly fineLongSide?: number;
}

/**
 * The learned face detector (issue 21): a small anchor-free CNN whose ONNX graph decodes boxes, five
 * keypoints and scores itself; this class resizes the image (long side from the model's metadata), runs
 * the model through an injected {@link CnnDetectorBackend}, keeps the faces over the score threshold and
 * runs NMS. Browser-safe. Owns its backend: call `close()`.
 */
export class CnnFaceDetector {
  private closed = false;

  private constructor(
    private readonly backend: CnnDetectorBackend,
    /** What the model says about itself. */
    readonly info: CnnDetectorModelInfo,
    /** Names the model in messages. */
    readonly source: string,
    /** The long side the image is resized to. */
    readonly longSide: number,
    /** The settings `detect` uses unless told otherwise. */
    readonly defaults: Required<CnnDetectOptions>,
    /** The second pass for small faces this detector runs (the model's, or at the `fineLongSide` given). */
    readonly finePass: CnnDetectorFinePass | undefined,
    /** Whether `create` was given a score threshold (else each view mode takes the model's own). */
    private readonly thresholdGiven: boolean,
  ) {}

  /**
   * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` when the metadata is not a MoodLens face detector's.
   * @throws RangeError for an option out of range, naming it.
   */
  static create(options: CnnFaceDetectorOptions): CnnFaceDetector {
    const source = options.source ?? 'face detector';
    const info = parseCnnDetectorMetadata(options.metadata, source);
    const longSide = options.longSide ?? info.longSide;
    if (!Number.isInteger(longSide) || longSide < 32) {
      throw new RangeError(
        `Expected an integer of at least 32 for longSide but received ${String(longSide)}`,
      );
    }
    const finePass = resolveFinePass(info, longSide, options.fineLongSide, source);
    const mirror = options.mirror ?? false;
    const defaults = resolveCnnDetectOptions(options, {
      scoreThreshold: modelThreshold(info, mirror, source),
      nmsIou: info.nmsIou,
      minSize: 0,
      finePass: true,
      coarsePass: true,
      mirror,
    });
    const thresholdGiven = options.scoreThreshold !== undefined;
    return new CnnFaceDetector(options.backend, info, source, longSide, defaults, finePass, thresholdGiven);
  }

  /** The faces of `image`, highest score first, in image pixels. */
  async detect(image: Image, options: CnnDetectOptions = {}): Promise<DetectedFace[]> {
    if (this.closed) throw new Error(`The face detector ${this.source} has been closed`);
    const resolved = resolveCnnDetectOptions(options, this.defaults);
    const { nmsIou, minSize, mirror } = resolved;
    // a view mode other than the default, with no threshold given: the model's threshold for that mode
    const scoreThreshold =
      options.scoreThreshold === undefined && !this.thresholdGiven && mirror !== this.defaults.mirror
        ? modelThreshold(this.info, mirror, this.source)
        : resolved.scoreThreshold;
    if (mirror) assertMirrorMeasured(this.info, this.source);
    const passes = { finePass: resolved.finePass, coarsePass: resolved.coarsePass };
    if (!mirror) {
      const candidates = await this.#view(image, { scoreThreshold, minSize, ...passes });
      return suppressCandidates(candidates, nmsIou, image.width, image.height);
    }
    // Both views keep faces down to the floor and of any size: a face of one view may pair with a
    // weaker or slightly smaller one of the other; the threshold and minimum size apply to the fused faces.
    const view = { scoreThreshold: Math.min(scoreThreshold, MIRROR_VIEW_FLOOR), minSize: 0, ...passes };
    const found = suppressOnly(await this.#view(image, view), nmsIou);
    const mirrored = unmirrorCandidates(
      suppressOnly(await this.#view(mirrorImage(image), view), nmsIou),
      image.width,
    );
    const fused = fuseViews(found, mirrored, nmsIou).filter(({ corners, score }) => {
      const w = corners.x2 - corners.x1;
      const h = corners.y2 - corners.y1;
      return score >= scoreThreshold && Math.min(w, h) >= minSize;
    });
    return suppressCandidates(fused, nmsIou, image.width, image.height);
  }

  /** One view's candidates (before NMS): the first pass, then the fine and coarse passes where they apply. */
  async #view(
    image: Image,
    settings: { scoreThreshold: number; minSize: number; finePass: boolean; coarsePass: boolean },
  ): Promise<DetectionCandidate[]> {
    const { scoreThreshold, minSize } = settings;
    const first = await this.#pass(image, this.longSide, { scoreThreshold, minSize });
    let candidates = first.candidates;
    const fine = this.finePass;
    const maxFace = this.fineMaxFace(image.width, image.height);
    // The fine pass adds faces under maxFace pixels; with a minimum size at or above that it could add
    // none, so it is skipped.
    if (settings.finePass && fine !== undefined && maxFace !== undefined && maxFace > minSize) {
      const second = await this.#pass(image, fine.longSide, { scoreThreshold, minSize, maxFace });
      candidates = [...candidates, ...second.candidates];
    }
    const coarse = this.info.coarsePass;
    if (settings.coarsePass && coarse !== undefined) {
      // faces over minFace at the first pass's size: larger than the crops the model learnt from
      const minFace = this.#firstPassToImage(coarse.minFace, image.width, image.height);
      const third = await this.#pass(image, coarse.longSide, { scoreThreshold, minSize, minFace });
      candidates = [...candidates, ...third.candidates];
    }
    return candidates;
  }

  /**
   * The largest face (image pixels, square root of the box area) this detector's fine pass can add on an
   * image of this size, or undefined when it has no fine pass finer than its first.
   */
  fineMaxFace(width: number, height: number): number | undefined {
    const fine = this.finePass;
    if (fine === undefined || fine.longSide <= this.longSide) return undefined;
    return this.#firstPassToImage(fine.maxFace, width, height);
  }

  /**
   * The smallest face (image pixels, square root of the box area) this detector's coarse pass can add on an
   * image of this size, or undefined when the model has no coarse pass.
   */
  coarseMinFace(width: number, height: number): number | undefined {
    const coarse = this.info.coarsePass;
    return coarse === undefined ? undefined : this.#firstPassToImage(coarse.minFace, width, height);
  }

  /** A size in first-pass input pixels (what the model's metadata gives) in pixels of an image this size. */
  #firstPassToImage(size: number, width: number, height: number): number {
    return size / (this.longSide / Math.max(width, height));
  }

  async #pass(
    image: Image,
    longSide: number,
    limits: { scoreThreshold: number; minSize: number; maxFace?: number; minFace?: number },
  ): Promise<{ candidates: DetectionCandidate[]; scale: number }> {
    const input = detectorInput(image, longSide, Math.max(...this.info.strides));
    const outputs = await this.backend.run(input.data, input.height, input.width);
    return { candidates: decodeCandidates(outputs, { ...limits, scale: input.scale }), scale: input.scale };
  }

  /** Frees the model. Further `detect` calls fail; calling it again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.backend.dispose();
  }
}

/**
 * The model's score threshold for a view mode: `moodlens.mirror_score_threshold` with the mirror view,
 * `moodlens.score_threshold` without.
 */
function modelThreshold(info: CnnDetectorModelInfo, mirror: boolean, source: string): number {
  return mirror ? assertMirrorMeasured(info, source) : info.scoreThreshold;
}

/**
 * The model's threshold for the mirror view.
 * @throws MoodLensError `MOODLENS_ERR_INVALID_ARGUMENT` for a model without one: its fused scores were
 *   never measured, so it does not run the mirror view.
 */
function assertMirrorMeasured(info: CnnDetectorModelInfo, source: string): number {
  if (info.mirrorScoreThreshold === undefined) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `The face detector ${source} was not measured with the mirror view (no moodlens.mirror_score_threshold); ` +
        'run it without the mirror view',
    );
  }
  return info.mirrorScoreThreshold;
}

/**
 * The fine pass a detector runs: the model's, at `fineLongSide` when given (0: none).
 * @throws MoodLensError `MOODLENS_ERR_INVALID_ARGUMENT` for a `fineLongSide` that is not 0 or an integer
 *   above the first pass's long side; `MOODLENS_ERR_MODEL_LOAD` when the model has no fine pass to resize
 *   (the faces it adds, `maxFace`, are the model's to say).
 */
function resolveFinePass(
  info: CnnDetectorModelInfo,
  longSide: number,
  fineLongSide: number | undefined,
  source: string,
): CnnDetectorFinePass | undefined {
  if (fineLongSide === undefined) return info.finePass;
  if (fineLongSide === 0) return undefined;
  if (!Number.isInteger(fineLongSide) || fineLongSide <= longSide) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Expected 0 or an integer above the first pass's long side ${longSide} for the fine pass's long side ` +
        `but received ${String(fineLongSide)}`,
    );
  }
  if (info.finePass === undefined) {
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `The face detector ${source} has no fine pass (moodlens.fine_long_side) whose long side could be set`,
    );
  }
  return { longSide: fineLongSide, maxFace: info.finePass.maxFace };
}

/** Fills in `defaults` and checks each option, naming it and what arrived. */
export function resolveCnnDetectOptions(
  options: CnnDetectOptions,
  defaults: Required<CnnDetectOptions>,
): Required<CnnDetectOptions> {
  const scoreThreshold = options.scoreThreshold ?? defaults.scoreThreshold;
  const nmsIou = options.nmsIou ?? defaults.nmsIou;
  const minSize = options.minSize ?? defaults.minSize;
  for (const [name, value, ok] of [
    ['scoreThreshold', scoreThreshold, scoreThreshold >= 0 && scoreThreshold <= 1],
    ['nmsIou', nmsIou, nmsIou > 0 && nmsIou <= 1],
    ['minSize', minSize, minSize >= 0],
  ] as const) {
    if (!Number.isFinite(value) || !ok) {
      throw new RangeError(`Expected a number in range for ${name} but received ${String(value)}`);
    }
  }
  const finePass = options.finePass ?? defaults.finePass;
  const coarsePass = options.coarsePass ?? defaults.coarsePass;
  const mirror = options.mirror ?? defaults.mirror;
  for (const [name, value] of [
    ['finePass', finePass],
    ['coarsePass', coarsePass],
    ['mirror', mirror],
  ] as const) {
    if (typeof value !== 'boolean') {
      throw new RangeError(`Expected true or false for ${name} but received ${String(value)}`);
    }
  }
  return { scoreThreshold, nmsIou, minSize, finePass, coarsePass, mirror };
}
