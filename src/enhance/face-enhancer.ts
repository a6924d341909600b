import { MoodLensError } from '../core/errors.js';
import { createImage, type GrayImage } from '../core/image.js';
import type { InferenceBackend } from '../emotion/backend.js';
import { cropFace, equalizeHist, toInputTensor } from '../emotion/preprocess.js';
import { bicubicResizeGray } from './bicubic.js';
import { inCropSides, parseEnhanceModelMetadata, type EnhanceModelInfo } from './model-info.js';

export interface FaceEnhancerOptions {
  /** Runs the model; the enhancer owns it from now on and disposes it. */
  readonly backend: InferenceBackend;
  /** The model's `metadata_props` (from `readOnnxMetadata`): the input size and scaling come from here. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Names the model in error messages (a path). Default `'super-resolution model'`. */
  readonly source?: string;
  /** Faces per inference call, integer >= 1. Default 32. */
  readonly batchSize?: number;
  /**
   * Models trained for fewer degradation factors (a x4-only model, say): each face then goes to the model
   * measured best for its crop size, else the one whose trained factors come nearest its enlargement (see
   * {@link modelForCrop}). The enhancer owns them; their size must be this model's.
   */
  readonly specialists?: readonly FaceEnhancer[];
}

/**
 * Which of several models restores a face crop whose longer side is `side` pixels (enlarged by `inputSize /
 * side`): the first whose measured `cropSides` range holds the side (see `moodlens.crop_sides`); otherwise
 * the one with a trained factor nearest the enlargement, on a tie the one trained for fewer factors (the
 * specialist), then the earlier one. A model whose factors are unknown counts as trained for 2, 3 and 4
 * (what every MoodLens FSRNet before `moodlens.trained_factors` was). Returns an index into `models`.
 */
export function modelForCrop(
  side: number,
  inputSize: number,
  models: readonly Pick<EnhanceModelInfo, 'trainedFactors' | 'cropSides'>[],
): number {
  const measured = models.findIndex((m) => m.cropSides !== undefined && inCropSides(side, m.cropSides));
  if (measured >= 0) return measured;
  const ratio = inputSize / side;
  let best = 0;
  let bestDistance = Infinity;
  let bestCount = Infinity;
  models.forEach((model, i) => {
    const factors = model.trainedFactors ?? DEFAULT_TRAINED_FACTORS;
    const distance = Math.min(...factors.map((f) => Math.abs(f - ratio)));
    if (distance < bestDistance || (distance === bestDistance && factors.length < bestCount)) {
      best = i;
      bestDistance = distance;
      bestCount = factors.length;
    }
  });
  return best;
}

const DEFAULT_TRAINED_FACTORS: readonly number[] = [2, 3, 4];

/**
 * Loads a model with its specialists, the same way from files (Node) or URLs (browser): the specialists
 * first, then the model that owns them. Whatever loaded before a source failed is disposed, so a failure
 * leaves no ONNX Runtime session behind.
 */
export async function loadWithSpecialists(
  specialistSources: readonly string[],
  loadSpecialist: (source: string) => Promise<FaceEnhancer>,
  loadOwner: (specialists: readonly FaceEnhancer[]) => Promise<FaceEnhancer>,
): Promise<FaceEnhancer> {
  const specialists: FaceEnhancer[] = [];
  try {
    for (const source of specialistSources) specialists.push(await loadSpecialist(source));
    return await loadOwner(specialists);
  } catch (error) {
    for (const specialist of specialists) await specialist.dispose();
    throw error;
  }
}

export const DEFAULT_ENHANCE_BATCH_SIZE = 32;

/**
 * A pixel level from a model output in [0, 1]: `floor(v * 255 + 0.5)` clamped, computed in float32 as the
 * training code computes it (sr_train.enhance on float32 arrays), so both give the same pixels.
 */
export function outputPixel(value: number): number {
  const level = Math.floor(Math.fround(Math.fround(value * 255) + 0.5));
  return level < 0 ? 0 : level > 255 ? 255 : level;
}

/**
 * The enhance stage: restores low-resolution face crops with a face super-resolution network (FSRNet,
 * trained by training/moodlens_train/sr_train.py) run through an injected {@link InferenceBackend}.
 *
 * A face crop of any size becomes the model's input as training made it: resampled bicubically to the
 * input size (PyTorch's bicubic, rounded half up) and histogram-equalized, scaled as the metadata says.
 * The model returns the restored face in [0, 1]; pixels are `floor(v * 255 + 0.5)`. The restored face is
 * not equalized (it approximates the original face's own levels). Square crops larger than the input are
 * area-averaged down to it instead (bicubic without antialiasing would alias); the network then only
 * cleans the face, it has nothing to enlarge. Browser-safe. Owns its backend: call `dispose()`.
 */
export class FaceEnhancer {
  private disposed = false;

  private constructor(
    private readonly backend: InferenceBackend,
    /** What the model says about itself. */
    readonly info: EnhanceModelInfo,
    /** Faces per inference call. */
    readonly batchSize: number,
    private readonly source: string,
    /** Models for fewer factors that take the faces they fit better (see {@link modelForCrop}). */
    readonly specialists: readonly FaceEnhancer[],
  ) {}

  /**
   * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` when the metadata is not a super-resolution model's
   *   (an emotion or landmark model, for instance) or asks for something MoodLens does not implement.
   */
  static create(options: FaceEnhancerOptions): Promise<FaceEnhancer> {
    const {
      backend,
      metadata,
      source = 'super-resolution model',
      batchSize = DEFAULT_ENHANCE_BATCH_SIZE,
      specialists = [],
    } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`Expected a positive integer for batchSize but received ${String(batchSize)}`);
    }
    const info = parseEnhanceModelMetadata(metadata, source);
    const wrongSize = specialists.find((s) => s.size !== info.inputSize);
    if (wrongSize !== undefined) {
      throw new RangeError(
        `The specialist ${wrongSize.source} restores ${wrongSize.size}x${wrongSize.size} faces, not ` +
          `${info.inputSize}x${info.inputSize} as ${source}`,
      );
    }
    return Promise.resolve(new FaceEnhancer(backend, info, batchSize, source, specialists));
  }

  /** Side of the restored faces (the model's input and output size). */
  get size(): number {
    return this.info.inputSize;
  }

  /**
   * The face resized to the model's input size, before equalization: bicubic (the model's contract) for
   * a crop up to that size, an area average for a larger square crop. This is also the plain bicubic
   * upscale the restored face is compared with.
   */
  resized(face: GrayImage): GrayImage {
    const size = this.size;
    const channels: number = face.channels;
    if (channels !== 1) throw new RangeError(`Expected a gray face but received ${channels} channels`);
    if (face.width === face.height && face.width > size) {
      return cropFace(
        face,
        { x: 0, y: 0, width: face.width, height: face.height },
        { size, equalize: false },
      );
    }
    return bicubicResizeGray(face, size, size);
  }

  /** The model's input for a face crop: {@link resized}, then histogram-equalized. */
  modelInput(face: GrayImage): GrayImage {
    return equalizeHist(this.resized(face));
  }

  /**
   * The raw model output for prepared inputs (from {@link modelInput}): `inputs.length * size * size`
   * values in [0, 1], row-major.
   */
  async predict(inputs: readonly GrayImage[]): Promise<Float32Array> {
    if (this.disposed) throw new Error(`The face enhancer for ${this.source} has been disposed`);
    const plane = this.size * this.size;
    const out = new Float32Array(inputs.length * plane);
    for (let start = 0; start < inputs.length; start += this.batchSize) {
      const batch = inputs.slice(start, start + this.batchSize);
      const input = toInputTensor(batch, this.info.scaling, this.size);
      const restored = await this.backend.run(input, batch.length);
      if (restored.length !== batch.length * plane) {
        throw new MoodLensError(
          'MOODLENS_ERR_MODEL_LOAD',
          `The super-resolution model ${this.source} returned ${restored.length} values for ` +
            `${batch.length} faces; expected ${batch.length * plane} (${this.size}x${this.size} each)`,
        );
      }
      out.set(restored, start * plane);
    }
    return out;
  }

  /**
   * Restores face crops (any size, gray): each becomes a `size` x `size` face, same order. With
   * specialists, each face is restored by the model {@link modelForCrop} picks for it.
   */
  async enhance(faces: readonly GrayImage[]): Promise<GrayImage[]> {
    if (this.specialists.length === 0) return this.restore(faces);
    const models: FaceEnhancer[] = [this, ...this.specialists];
    const infos = models.map((m) => m.info);
    const choice = faces.map((face) => modelForCrop(Math.max(face.width, face.height), this.size, infos));
    const out = new Array<GrayImage>(faces.length);
    for (const [m, model] of models.entries()) {
      const mine = faces.flatMap((_, i) => (choice[i] === m ? [i] : []));
      const restored = await model.restore(mine.map((i) => faces[i]));
      mine.forEach((i, k) => (out[i] = restored[k]));
    }
    return out;
  }

  /** {@link enhance} by this model alone. */
  private async restore(faces: readonly GrayImage[]): Promise<GrayImage[]> {
    if (faces.length === 0) return [];
    const values = await this.predict(faces.map((face) => this.modelInput(face)));
    const plane = this.size * this.size;
    return faces.map((_, i) => {
      const data = new Uint8Array(plane);
      for (let p = 0; p < plane; p++) data[p] = outputPixel(values[i * plane + p]);
      return createImage(this.size, this.size, 1, data);
    });
  }

  /** Frees the model. Further calls fail. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.backend.dispose();
    for (const specialist of this.specialists) await specialist.dispose();
  }
}
