import { MoodLensError } from '../core/errors.js';
import type { Box, GrayImage, Image } from '../core/image.js';
import type { InferenceBackend } from '../emotion/backend.js';
import { mirrorHorizontal, toInputTensor } from '../emotion/preprocess.js';
import { toGray } from '../image/gray.js';
import { fromCropUnits, landmarkCrop, landmarkCropSquare, type LandmarkCropGeometry } from './crop.js';
import { parseLandmarkModelMetadata, type LandmarkModelInfo } from './model-info.js';
import { interocularDistance, MIRRORED_INDEX, type Point } from './points.js';
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
   * inference.
   */
  readonly flipTta?: boolean;
  /**
   * Crop sides, as multiples of the model's own crop, whose answers are averaged (test-time augmentation
   * over scale; each with its mirror image when `flipTta` is on). Default {@link DEFAULT_LANDMARK_SCALES}.
   * `[1]`: the model's crop only.
   */
  readonly scales?: readonly number[];
}

export const DEFAULT_LANDMARK_BATCH_SIZE = 32;

/**
 * The crop scales averaged by default: the model's crop and crops 8% tighter and looser. Measured on the
 * held-out and the selection faces of face300w and on PublicTest (models/landmarks/landmarks.md): lower
 * error on all three, for three times the inference.
 */
export const DEFAULT_LANDMARK_SCALES: readonly number[] = [1, 0.92, 1.08];

/** The crop geometry whose square side is `scale` times the model's: the margin grows or shrinks. */
export function scaledGeometry(geometry: LandmarkCropGeometry, scale: number): LandmarkCropGeometry {
  if (scale === 1) return geometry;
  return { ...geometry, cropMargin: Math.max(0, (scale * (1 + 2 * geometry.cropMargin) - 1) / 2) };
}

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
    /** Crop sides (multiples of the model's crop) whose answers are averaged. */
    readonly scales: readonly number[],
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
      scales = DEFAULT_LANDMARK_SCALES,
    } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`Expected a positive integer for batchSize but received ${String(batchSize)}`);
    }
    if (scales.length === 0 || scales.some((s) => !Number.isFinite(s) || s < 0.5 || s > 2)) {
      throw new RangeError(`Expected crop scales from 0.5 to 2 but received [${scales.join(', ')}]`);
    }
    const info = parseLandmarkModelMetadata(metadata, source);
    return Promise.resolve(
      new LandmarkDetector(backend, info, batchSize, source, thresholds, flipTta, [...scales]),
    );
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
    return this.#averageMirrored(
      await this.predictCrops([...crops, ...crops.map(mirrorHorizontal)]),
      crops.length,
    );
  }

  /** `both` holds the answers for `count` crops, then for their mirror images: each crop's average of the two. */
  #averageMirrored(both: Float32Array, count: number): Float32Array {
    const perFace = this.info.points * 2;
    const out = both.slice(0, count * perFace);
    for (let f = 0; f < count; f++) {
      const plain = f * perFace;
      const mirrored = (count + f) * perFace;
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
    const located = await this.locate(boxes.map((box) => ({ gray, box })));
    return boxes.map((box, i) => ({
      box,
      points: located[i],
      reliability: assessLandmarks(located[i], box, this.thresholds),
    }));
  }

  /**
   * As {@link detect} (the same points), with the spread of the answers they average, from one run of
   * the model: every scale's crop of every box, plain and mirrored (mirrored even when `flipTta` is off,
   * the spread needs them). The spread is the RMS distance of each answer's points from their mean,
   * averaged over the answers, in eye distances (infinite when the mean has none); on a face the answers
   * agree to a few hundredths, on a pattern that is no face each crop guesses otherwise.
   */
  async detectWithSpread(
    image: Image,
    boxes: readonly Box[],
  ): Promise<Array<FaceLandmarks & { spread: number }>> {
    if (boxes.length === 0) return [];
    const gray = toGray(image);
    const geometries = this.scales.map((scale) => scaledGeometry(this.info, scale));
    const crops = geometries.flatMap((geometry) => boxes.map((box) => landmarkCrop(gray, box, geometry)));
    const both = await this.predictCrops([...crops, ...crops.map(mirrorHorizontal)]);
    const units = this.flipTta
      ? this.#averageMirrored(both, crops.length)
      : both.slice(0, crops.length * this.info.points * 2);
    const located = this.#pointsOf(units, boxes, geometries);
    return boxes.map((box, b) => ({
      box,
      points: located[b],
      reliability: assessLandmarks(located[b], box, this.thresholds),
      spread: this.#spread(both, crops.length, boxes, b, geometries),
    }));
  }

  /** The spread of box `b`'s answers (each geometry, plain and mirrored) in `both`, as detectWithSpread. */
  #spread(
    both: Float32Array,
    crops: number,
    boxes: readonly Box[],
    b: number,
    geometries: readonly LandmarkCropGeometry[],
  ): number {
    const n = this.info.points;
    const perFace = n * 2;
    const answers: Point[][] = [];
    geometries.forEach((geometry, k) => {
      const square = landmarkCropSquare(boxes[b], geometry);
      const plain = (k * boxes.length + b) * perFace;
      const mirrored = (crops + k * boxes.length + b) * perFace;
      answers.push(fromCropUnits(both.subarray(plain, plain + perFace), square));
      const flipped = new Float32Array(perFace);
      for (let i = 0; i < n; i++) {
        const j = mirrored + 2 * MIRRORED_INDEX[i];
        flipped[2 * i] = 1 - both[j];
        flipped[2 * i + 1] = both[j + 1];
      }
      answers.push(fromCropUnits(flipped, square));
    });
    const mean: Point[] = [];
    for (let i = 0; i < n; i++) {
      let x = 0;
      let y = 0;
      for (const a of answers) {
        x += a[i][0];
        y += a[i][1];
      }
      mean.push([x / answers.length, y / answers.length]);
    }
    const iod = interocularDistance(mean);
    let sum = 0;
    for (const a of answers) {
      let sq = 0;
      for (let i = 0; i < n; i++) sq += (a[i][0] - mean[i][0]) ** 2 + (a[i][1] - mean[i][1]) ** 2;
      sum += Math.sqrt(sq / n);
    }
    return iod > 0 ? sum / answers.length / iod : Number.POSITIVE_INFINITY;
  }

  /**
   * The 68 points (image pixels) of faces that may come from different gray images, in one batch: every
   * scale's crop of every face (with its mirror image when `flipTta` is on); the answers meet in image
   * pixels and are averaged.
   */
  async locate(faces: readonly { readonly gray: GrayImage; readonly box: Box }[]): Promise<Point[][]> {
    const geometries = this.scales.map((scale) => scaledGeometry(this.info, scale));
    const units = await this.predictCropsTta(
      geometries.flatMap((geometry) => faces.map(({ gray, box }) => landmarkCrop(gray, box, geometry))),
    );
    return this.#pointsOf(
      units,
      faces.map((f) => f.box),
      geometries,
    );
  }

  /**
   * The points of each face box from the answers for its crops (every geometry's crop of every box, in
   * that order), met in image pixels and averaged over the geometries.
   */
  #pointsOf(
    units: Float32Array,
    boxes: readonly Box[],
    geometries: readonly LandmarkCropGeometry[],
  ): Point[][] {
    const perFace = this.info.points * 2;
    return boxes.map((box, i) => {
      const sum = new Float64Array(perFace);
      geometries.forEach((geometry, g) => {
        const at = (g * boxes.length + i) * perFace;
        const points = fromCropUnits(units.subarray(at, at + perFace), landmarkCropSquare(box, geometry));
        points.forEach(([x, y], k) => {
          sum[2 * k] += x;
          sum[2 * k + 1] += y;
        });
      });
      const points: Point[] = [];
      for (let k = 0; k < this.info.points; k++) {
        points.push([sum[2 * k] / geometries.length, sum[2 * k + 1] / geometries.length]);
      }
      return points;
    });
  }

  /** Frees the model. Further calls fail. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.backend.dispose();
  }
}
