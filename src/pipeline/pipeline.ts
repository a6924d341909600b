import type { Box, Image } from '../core/image.js';
import type { DetectOptions } from '../detect/options.js';
import type { EmotionClassifier, EmotionResult } from '../emotion/classifier.js';
import { cropFace, type CropFaceOptions } from '../emotion/preprocess.js';
import { toGray } from '../image/gray.js';

/** Anything that finds faces: `HaarFaceDetector` (sync) or `ParallelFaceDetector` (async). */
export interface FaceDetector {
  detect(image: Image, options?: DetectOptions): Box[] | Promise<Box[]>;
}

/** A face as every stage reports it: the detector's box, then what later stages add. */
export interface DetectedFace {
  readonly box: Box;
}

/** A face with its emotion (the classifier stage's field added to the detector's record). */
export type FaceWithEmotion<T extends DetectedFace = DetectedFace> = T & { readonly emotion: EmotionResult };

export interface PipelineOptions {
  readonly detect?: DetectOptions;
  /** How faces are cut out for the classifier; the defaults match the training crops. */
  readonly crop?: Omit<CropFaceOptions, 'size'>;
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
  ) {}

  /** Every face in the image with its emotion, in the detector's order. No face: an empty list. */
  async analyze(image: Image): Promise<FaceWithEmotion[]> {
    const boxes = await this.detector.detect(image, this.options.detect);
    if (boxes.length === 0) return [];
    return this.classifyFaces(
      image,
      boxes.map((box) => ({ box })),
    );
  }

  /** Classifies given face records (e.g. from a tracker), keeping every field they already carry. */
  async classifyFaces<T extends DetectedFace>(
    image: Image,
    faces: readonly T[],
  ): Promise<FaceWithEmotion<T>[]> {
    if (faces.length === 0) return [];
    const gray = toGray(image);
    const size = this.classifier.info.inputSize;
    const crops = faces.map((face) => cropFace(gray, face.box, { ...this.options.crop, size }));
    const emotions = await this.classifier.classify(crops);
    return faces.map((face, i) => ({ ...face, emotion: emotions[i] }));
  }
}
