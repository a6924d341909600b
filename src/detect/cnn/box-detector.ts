import type { Box, Image } from '../../core/image.js';
import type { DetectOptions } from '../options.js';
import type { CnnDetectOptions, CnnFaceDetector } from './detector.js';
import { haarFramedBox } from './framing.js';

/** A face box with the learned detector's score (0-1). */
export interface ScoredBox extends Box {
  readonly score: number;
}

/**
 * The score a detector's box carries (a {@link ScoredBox}), or undefined (a Haar box): detectors share one
 * `detect(image) => Box[]` interface, and only the learned one adds a score to its boxes.
 */
export function boxScore(box: Box): number | undefined {
  const { score } = box as { score?: unknown };
  return typeof score === 'number' ? score : undefined;
}

/**
 * The learned detector behind the interface the pipeline, `video` and the server take (the Haar
 * detector's: `detect(image, DetectOptions)`): boxes in the Haar cascade's framing (the model's
 * `moodlens.haar_framing`), so the landmark model and the emotion crop see faces framed as they were
 * trained; each box carries its `score`. Of the Haar options only `minSize` and `maxSize` apply (to the
 * framed box side); the scan's `scaleFactor` and `minNeighbors` mean nothing here. Browser-safe.
 */
export class CnnBoxDetector {
  constructor(
    readonly detector: CnnFaceDetector,
    /** Score threshold, NMS IoU (defaults: the model's). */
    readonly options: Omit<CnnDetectOptions, 'minSize'> = {},
  ) {}

  /** Faces in image pixels, highest score first. */
  async detect(image: Image, options: DetectOptions = {}): Promise<ScoredBox[]> {
    const { minSize = 0, maxSize = 0 } = options;
    const framing = this.detector.info.haarFraming;
    // Skip the fine pass when none of its faces could reach minSize once framed (the web page's 64 px on a
    // camera frame): its framed side is framing.scale x the mean of width and height, which exceeds the
    // square root of the area by under 10% for any face box (aspect ratio 1:2 or squarer).
    const maxFace = this.detector.fineMaxFace(image.width, image.height);
    const fineCanReach = maxFace === undefined || 1.1 * framing.scale * maxFace >= minSize;
    // Skip the coarse pass when every face it can add is over maxSize once framed: the framed side is at
    // least framing.scale x the square root of the area (the mean of width and height is never less).
    // A framed box cut by the image edge can come out under maxSize, but its face is over it: skipping
    // the pass leaves such faces out, as maxSize asks.
    const minFace = this.detector.coarseMinFace(image.width, image.height);
    const coarseCanFit = maxSize <= 0 || minFace === undefined || framing.scale * minFace < maxSize;
    const passes: CnnDetectOptions = {
      ...(fineCanReach ? {} : { finePass: false }),
      ...(coarseCanFit ? {} : { coarsePass: false }),
    };
    const faces = await this.detector.detect(image, { ...this.options, ...passes });
    const boxes: ScoredBox[] = [];
    for (const face of faces) {
      const box = haarFramedBox(face.corners, framing, image.width, image.height);
      if (box === undefined) continue;
      const side = Math.max(box.width, box.height);
      if (side < minSize || (maxSize > 0 && side > maxSize)) continue;
      boxes.push({ ...box, score: face.score });
    }
    return boxes;
  }

  /** Frees the model. */
  async close(): Promise<void> {
    await this.detector.close();
  }
}
