import { MoodLensError } from '../core/errors.js';
import type { Box, GrayImage, Image } from '../core/image.js';
import type { InferenceBackend } from '../emotion/backend.js';
import { mirrorHorizontal, toInputTensor } from '../emotion/preprocess.js';
import { toGray } from '../image/gray.js';
import { fromCropUnits, landmarkCrop, landmarkCropSquare } from './crop.js';
import { parseLandmarkModelMetadata, type LandmarkModelInfo } from './model-info.js';
import { MIRRORED_INDEX, type Point } from './points.js';
import {
  assessLandmarks,
  DEFAULT_RELIABILITY_THRESHOLDS,
  type LandmarkReliability,
  type ReliabilityThresholds,
} from './reliability.js';

/** The landmarks of one face. */
export interface FaceLandmarks {
  /** The detector box the crop came from. */
  readonly box: Box;
  /** 68 points `[x, y]` in image pixels (0-based pixel centres), iBUG order. */
  readonly points: readonly Point[];
  /** Whether the points look like a face in this box, and why not (see `assessLandmarks`). */
  readonly reliability: LandmarkReliability;
}

export interface LandmarkDetectorOptions {
  /** Runs the model; the detector owns it from now on and disposes it. */
  readonly backend: InferenceBackend;
  /** The model's `metadata_props` (from `readOnnxMetadata`): crop geometry and sizes come from here. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Names the model in error messages (a path). Default `'landmark model'`. */
  readonly source?: string;
  /** Faces per inference call, integer >= 1. Default 32. */
  readonly batchSize?: number;
  /** Thresholds of the reliability checks. Default {@link DEFAULT_RELIABILITY_THRESHOLDS}. */
  readonly thresholds?: ReliabilityThresholds;
  /**
   * Also run each crop mirrored and average the two answers (test-time augmentation). Default true: it
   * lowers the error on held-out human-labelled faces (see models/landmarks/landmarks.md) for twice the
   * inference (about 0.4 ms more per face).
   */
  readonly flipTta?: boolean;
}

export const DEFAULT_LANDMARK_BATCH_SIZE = 32;

/**
 * The landmark stage: 68 points for each face box of an image, from a small CNN run through an injected
 * {@link InferenceBackend}; the crop geometry comes from the model's own metadata. All faces of an image
 * go through the model in one batch. Browser-safe. Owns its backend: call `dispose()`.
 */
export class LandmarkDetector {
  private disposed = false;

  private constructor(
    private readonly backend: InferenceBackend,
    /** What the model says about itself. */
    readonly info: LandmarkModelInfo,
    /** Faces per inference call. */
    readonly batchSize: number,
    private readonly source: string,
    /** The reliability thresholds applied to every face. */
    readonly thresholds: ReliabilityThresholds,
    /** Whether each crop is also run mirrored and the answers averaged. */
    readonly flipTta: boolean,
  ) {}

  /**
   * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` when the metadata is not a landmark model's or asks for
   *   something MoodLens does not implement (naming the model, the key and what arrived).
   */
  static create(options: LandmarkDetectorOptions): Promise<LandmarkDetector> {
    const {
      backend,
      metadata,
      source = 'landmark model',
      batchSize = DEFAULT_LANDMARK_BATCH_SIZE,
      thresholds = DEFAULT_RELIABILITY_THRESHOLDS,
      flipTta = true,
    } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`Expected a positive integer for batchSize but received ${String(batchSize)}`);
    }
    const info = parseLandmarkModelMetadata(metadata, source);
    return Promise.resolve(new LandmarkDetector(backend, info, batchSize, source, thresholds, flipTta));
  }

  /** The model's input crop for `box` (see `landmarkCrop`). */
  crop(gray: GrayImage, box: Box): GrayImage {
    return landmarkCrop(gray, box, this.info);
  }

  /**
   * The raw model output for prepared crops (`inputSize` x `inputSize`, gray, from {@link crop}):
   * `crops.length * 68 * 2` values, `[u, v]` per point in crop units, row-major.
   */
  async predictCrops(crops: readonly GrayImage[]): Promise<Float32Array> {
    if (this.disposed) throw new Error(`The landmark detector for ${this.source} has been disposed`);
    const perFace = this.info.points * 2;
    const out = new Float32Array(crops.length * perFace);
    for (let start = 0; start < crops.length; start += this.batchSize) {
      const batch = crops.slice(start, start + this.batchSize);
      const input = toInputTensor(batch, this.info.scaling, this.info.inputSize);
      const units = await this.backend.run(input, batch.length);
      if (units.length !== batch.length * perFace) {
        throw new MoodLensError(
          'MOODLENS_ERR_MODEL_LOAD',
          `The landmark model ${this.source} returned ${units.length} values for ${batch.length} faces; ` +
            `expected ${batch.length * perFace} (${this.info.points} points x 2 each)`,
        );
      }
      out.set(units, start * perFace);
    }
    return out;
  }

  /**
   * The points of prepared crops in crop units (as {@link predictCrops}), averaged with the answer for the
   * mirrored crops when `flipTta` is on.
   */
  async predictCropsTta(crops: readonly GrayImage[]): Promise<Float32Array> {
    if (!this.flipTta) return this.predictCrops(crops);
    const both = await this.predictCrops([...crops, ...crops.map(mirrorHorizontal)]);
    const perFace = this.info.points * 2;
    const out = both.slice(0, crops.length * perFace);
    for (let f = 0; f < crops.length; f++) {
      const plain = f * perFace;
      const mirrored = (crops.length + f) * perFace;
      for (let i = 0; i < this.info.points; i++) {
        // Point i of the face is point MIRRORED_INDEX[i] of the mirrored crop, at u' = 1 - u.
        const j = mirrored + 2 * MIRRORED_INDEX[i];
        out[plain + 2 * i] = (out[plain + 2 * i] + 1 - both[j]) / 2;
        out[plain + 2 * i + 1] = (out[plain + 2 * i + 1] + both[j + 1]) / 2;
      }
    }
    return out;
  }

  /** The 68 points of each face box in `image` (same order), with their reliability. */
  async detect(image: Image, boxes: readonly Box[]): Promise<FaceLandmarks[]> {
    if (boxes.length === 0) return [];
    const gray = toGray(image);
    const units = await this.predictCropsTta(boxes.map((box) => this.crop(gray, box)));
    const perFace = this.info.points * 2;
    return boxes.map((box, i) => {
      const points = fromCropUnits(
        units.subarray(i * perFace, (i + 1) * perFace),
        landmarkCropSquare(box, this.info),
      );
      return { box, points, reliability: assessLandmarks(points, box, this.thresholds) };
    });
  }

  /** Frees the model. Further calls fail. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.backend.dispose();
  }
}
