import type { Alignment, FaceAligner } from '../align/aligner.js';
import type { Box, GrayImage, Image } from '../core/image.js';
import { boxScore } from '../detect/cnn/box-detector.js';
import type { DetectOptions } from '../detect/options.js';
import type { EmotionClassifier, EmotionResult } from '../emotion/classifier.js';
import { cropFace, faceCropSquare, type CropFaceOptions } from '../emotion/preprocess.js';
import { enhancedClassifierInput, nativeFaceCrop } from '../enhance/enhanced-face.js';
import type { FaceEnhancer } from '../enhance/face-enhancer.js';
import { bicubicResizeGray } from '../enhance/bicubic.js';
import { DEFAULT_ENHANCE_BELOW, restorationFor } from '../enhance/policy.js';
import type { RestoreMethod } from '../enhance/restore.js';
import { toGray } from '../image/gray.js';
import type { FaceLandmarks, LandmarkDetector } from '../landmarks/detector.js';
import {
  checkFaces,
  DEFAULT_FACE_CHECK_THRESHOLDS,
  FACE_CHECK_MODES,
  type FaceCheckMode,
  type FaceCheckThresholds,
  type FaceCheckVerdict,
} from './face-check.js';

/**
 * Anything that finds faces: `HaarFaceDetector` (sync), `ParallelFaceDetector` (async) or the learned
 * `CnnBoxDetector` (async; its boxes carry a `score`, which `analyzeImage` puts on the face records).
 */
export interface FaceDetector {
  detect(image: Image, options?: DetectOptions): Box[] | Promise<Box[]>;
}

/** A face as every stage reports it: the detector's box, then what later stages add. */
export interface DetectedFace {
  readonly box: Box;
  /** The learned detector's score (0-1), when the detector gives one (`--detector cnn`; Haar: absent). */
  readonly score?: number;
}

/**
 * A detector's box as the face record every stage reports: `box` the plain `{x, y, width, height}` (so JSON
 * boxes keep their shape) and, when the box carries a score, `score`. A Haar box is kept as it is.
 */
export function detectedFace(box: Box): DetectedFace {
  const score = boxScore(box);
  if (score === undefined) return { box };
  return { box: { x: box.x, y: box.y, width: box.width, height: box.height }, score };
}

/** A face with its emotion (the classifier stage's field added to the detector's record). */
export type FaceWithEmotion<T extends DetectedFace = DetectedFace> = T & { readonly emotion: EmotionResult };

/** A classified face with what the optional landmark and alignment stages add (when they ran). */
export type AnalyzedFace<T extends DetectedFace = DetectedFace> = FaceWithEmotion<T> & {
  /** The 68 points and their reliability, when the pipeline has a landmark stage. */
  readonly landmarks?: FaceLandmarks;
  /** How the classifier's input was made, when the pipeline has an alignment stage. */
  readonly alignment?: Alignment;
  /** Whether FSRNet restored the face, when the pipeline has an enhancer. */
  readonly enhanced?: boolean;
  /** How the face was brought to the classifier's size, when the pipeline has an enhance stage. */
  readonly restoration?: RestoreMethod;
  /** The false-face check's verdict, when it ran (`analyze` with the landmark stage; see `faceCheck`). */
  readonly faceCheck?: FaceCheckVerdict;
};

/** A detector box the false-face check dropped, with its landmarks and why. */
export interface RejectedFace {
  readonly box: Box;
  readonly landmarks: FaceLandmarks;
  readonly faceCheck: FaceCheckVerdict;
}

/** What `analyzeImage` found: the faces, and the boxes the false-face check dropped. */
export interface ImageAnalysis {
  /** Every face with its emotion, in the detector's order. */
  readonly faces: AnalyzedFace[];
  /** Detector boxes taken for no face (only in `drop` mode), in the detector's order. */
  readonly rejected: RejectedFace[];
  /** Whether the false-face check ran (it needs the landmark stage and a mode other than `off`). */
  readonly checked: boolean;
}

export interface PipelineOptions {
  readonly detect?: DetectOptions;
  /** How faces are cut out for the classifier; the defaults match the training crops. */
  readonly crop?: Omit<CropFaceOptions, 'size'>;
  /** Landmark stage: 68 points per face, added to each result as `landmarks`. */
  readonly landmarks?: LandmarkDetector;
  /**
   * Alignment stage: each face is warped onto the canonical template by its landmarks (from the landmark
   * stage) before classification, or cut as the box crop when they are missing or unreliable; each result
   * says which as `alignment`. Its size must be the classifier's input size.
   */
  readonly aligner?: FaceAligner;
  /**
   * Enhance stage: faces whose box side is below `enhanceBelow` are cut from the image at its own
   * resolution (the classifier's square crop), restored by the super-resolution network and classified
   * from the restored face (aligned by the landmarks found on the image, when the alignment stage is on;
   * see `src/enhance/enhanced-face.ts`). Each result then says `enhanced`. Its size must be the
   * classifier's input size.
   */
  readonly enhancer?: FaceEnhancer;
  /** Box side in pixels below which the enhancer restores a face; Infinity: every face. Default {@link DEFAULT_ENHANCE_BELOW}. */
  readonly enhanceBelow?: number;
  /**
   * Box side in pixels below which a face that the enhancer does not restore is enlarged bicubically
   * from the same native crop instead (then equalized and aligned as a restored face); default 0: never.
   * `moodlens analyze` and `video` pass {@link DEFAULT_UPSCALE_BELOW} under `--enhance auto`.
   */
  readonly upscaleBelow?: number;
  /**
   * The false-face check of `analyze` (src/pipeline/face-check.ts: the landmarks' geometric checks, the
   * eyes darker than the cheeks, the landmark model's answers agreeing, no box that is part of a larger
   * face): `drop` (default) leaves the boxes that fail it out of the faces, `mark` keeps every box with
   * its verdict as `faceCheck`, `off` runs no check. Needs the landmark stage (without it no box is
   * checked). `classifyFaces` never checks: it classifies the records it is given (video checks its own
   * detections: src/video/frame-analyzer.ts).
   */
  readonly faceCheck?: FaceCheckMode;
  /** Thresholds of the false-face check. Default {@link DEFAULT_FACE_CHECK_THRESHOLDS}. */
  readonly faceCheckThresholds?: FaceCheckThresholds;
}

/**
 * Detect, crop and classify: the whole image-to-emotions pipeline over one detector and one classifier,
 * both created once by the caller and reused for every image. Browser-safe.
 */
export class EmotionPipeline {
  constructor(
    readonly detector: FaceDetector,
    readonly classifier: EmotionClassifier,
    readonly options: PipelineOptions = {},
  ) {
    const { aligner } = options;
    if (aligner !== undefined && aligner.size !== classifier.info.inputSize) {
      throw new RangeError(
        `The aligner makes ${aligner.size}x${aligner.size} faces but the classifier takes ` +
          `${classifier.info.inputSize}x${classifier.info.inputSize}`,
      );
    }
    const { enhancer, enhanceBelow } = options;
    if (enhancer !== undefined && enhancer.size !== classifier.info.inputSize) {
      throw new RangeError(
        `The enhancer restores ${enhancer.size}x${enhancer.size} faces but the classifier takes ` +
          `${classifier.info.inputSize}x${classifier.info.inputSize}`,
      );
    }
    if (enhanceBelow !== undefined && !(enhanceBelow >= 0)) {
      throw new RangeError(`Expected a number >= 0 for enhanceBelow but received ${String(enhanceBelow)}`);
    }
    const { upscaleBelow } = options;
    if (upscaleBelow !== undefined && !(upscaleBelow >= 0)) {
      throw new RangeError(`Expected a number >= 0 for upscaleBelow but received ${String(upscaleBelow)}`);
    }
    const { faceCheck } = options;
    if (faceCheck !== undefined && !FACE_CHECK_MODES.includes(faceCheck)) {
      throw new RangeError(
        `Expected one of ${FACE_CHECK_MODES.join(', ')} for faceCheck but received ${String(faceCheck)}`,
      );
    }
  }

  /** The false-face check's mode: the option, or `drop`. */
  get faceCheckMode(): FaceCheckMode {
    return this.options.faceCheck ?? 'drop';
  }

  /**
   * The face sizes (box side, px) under which faces are restored by FSRNet and, above that, under which
   * they are enlarged bicubically: the options, or their defaults (an `upscaleBelow` of 0: never).
   */
  get restorationThresholds(): { readonly enhanceBelow: number; readonly upscaleBelow: number } {
    return {
      enhanceBelow: this.options.enhanceBelow ?? DEFAULT_ENHANCE_BELOW,
      upscaleBelow: this.options.upscaleBelow ?? 0,
    };
  }

  /**
   * Every face in the image with its emotion, in the detector's order, without the boxes the false-face
   * check drops (see `faceCheck`). No face: an empty list.
   */
  async analyze(image: Image): Promise<AnalyzedFace[]> {
    return (await this.analyzeImage(image)).faces;
  }

  /**
   * Detects, checks (see `faceCheck`) and classifies: the faces, and the boxes the check dropped. With
   * the check, each face carries its verdict as `faceCheck`.
   */
  async analyzeImage(image: Image): Promise<ImageAnalysis> {
    const found = await this.detector.detect(image, this.options.detect);
    const records = found.map(detectedFace);
    const boxes = records.map((record) => record.box);
    const { landmarks: landmarker } = this.options;
    const mode = this.faceCheckMode;
    if (boxes.length === 0)
      return { faces: [], rejected: [], checked: landmarker !== undefined && mode !== 'off' };
    if (landmarker === undefined || mode === 'off') {
      return {
        faces: await this.classifyFaces(image, records),
        rejected: [],
        checked: false,
      };
    }
    const gray = toGray(image);
    const thresholds = this.options.faceCheckThresholds ?? DEFAULT_FACE_CHECK_THRESHOLDS;
    // One run of the landmark model gives the points and, for the check, how far its answers disagree.
    const measured = Number.isFinite(thresholds.maxLandmarkSpread)
      ? await landmarker.detectWithSpread(gray, boxes)
      : undefined;
    const marks: FaceLandmarks[] = measured ?? (await landmarker.detect(gray, boxes));
    const spreads = measured?.map((m) => m.spread);
    const verdicts = checkFaces(gray, boxes, marks, spreads, thresholds);
    const keep = boxes.map((_, i) => mode === 'mark' || verdicts[i].passed);
    const kept = records.flatMap((record, i) => (keep[i] ? [{ ...record, faceCheck: verdicts[i] }] : []));
    const faces = await this.#classify(
      gray,
      kept,
      marks.filter((_, i) => keep[i]),
    );
    const rejected = boxes.flatMap((box, i) =>
      keep[i] ? [] : [{ box, landmarks: marks[i], faceCheck: verdicts[i] }],
    );
    return { faces, rejected, checked: true };
  }

  /**
   * Classifies given face records (e.g. from a tracker), keeping every field they already carry; with the
   * landmark, alignment and enhance stages, adds `landmarks`, `alignment`, `enhanced` and `restoration`.
   */
  async classifyFaces<T extends DetectedFace>(image: Image, faces: readonly T[]): Promise<AnalyzedFace<T>[]> {
    if (faces.length === 0) return [];
    const gray = toGray(image);
    const { landmarks: landmarker } = this.options;
    const marks =
      landmarker === undefined
        ? undefined
        : await landmarker.detect(
            gray,
            faces.map((f) => f.box),
          );
    return this.#classify(gray, faces, marks);
  }

  /** Classifies face records with their landmarks (when the pipeline has the landmark stage). */
  async #classify<T extends DetectedFace>(
    gray: GrayImage,
    faces: readonly T[],
    marks: readonly FaceLandmarks[] | undefined,
  ): Promise<AnalyzedFace<T>[]> {
    if (faces.length === 0) return [];
    const size = this.classifier.info.inputSize;
    const { aligner, crop, enhancer } = this.options;
    const { enhanceBelow: below, upscaleBelow } = this.restorationThresholds;
    const restorations = faces.map((f): RestoreMethod => {
      const r = restorationFor(f.box, below, upscaleBelow, enhancer !== undefined);
      // bicubic only ever enlarges: a crop (with its margin) as large as the input takes the plain path
      return r === 'bicubic' && faceCropSquare(f.box, crop?.margin).width >= size ? 'none' : r;
    });
    const native = (f: T): GrayImage => nativeFaceCrop(gray, f.box, crop?.margin);
    const restored =
      enhancer === undefined
        ? []
        : await enhancer.enhance(faces.filter((_, i) => restorations[i] === 'fsrnet').map(native));
    let next = 0;
    const aligned = faces.map((face, i) => {
      const restoration = restorations[i];
      if (restoration !== 'none') {
        const large =
          restoration === 'fsrnet' ? restored[next++] : bicubicResizeGray(native(face), size, size);
        return enhancedClassifierInput(large, face.box, marks?.[i], aligner, crop);
      }
      return aligner === undefined
        ? { face: cropFace(gray, face.box, { ...crop, size }), alignment: undefined }
        : aligner.align(gray, face.box, marks?.[i], crop);
    });
    const emotions = await this.classifier.classify(aligned.map((a) => a.face));
    return faces.map((face, i) => ({
      ...face,
      emotion: emotions[i],
      ...(marks === undefined ? {} : { landmarks: marks[i] }),
      ...(aligned[i].alignment === undefined ? {} : { alignment: aligned[i].alignment }),
      ...(enhancer === undefined ? {} : { enhanced: restorations[i] === 'fsrnet' }),
      ...(enhancer === undefined && upscaleBelow === 0 ? {} : { restoration: restorations[i] }),
    }));
  }
}
