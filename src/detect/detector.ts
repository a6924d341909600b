import type { Box, Image } from '../core/image.js';
import { toGray } from '../image/gray.js';
import { parseCascadeXml, type Cascade } from './cascade.js';
import { groupRectangles } from './group.js';
import { resolveDetectOptions, type DetectOptions } from './options.js';
import { scanCascade } from './scan.js';

/** OpenCV's grouping tolerance in `detectMultiScale`. */
const GROUP_EPS = 0.2;

/**
 * A face detector that owns one parsed cascade and answers as OpenCV's
 * `CascadeClassifier.detectMultiScale` does on the same gray pixels. Pure TypeScript: runs in Node and in
 * the browser. Create once, reuse for every image.
 */
export class HaarFaceDetector {
  readonly cascade: Cascade;
  /** Where the cascade came from (a path or a description), for messages. */
  readonly source: string;

  private constructor(cascade: Cascade, source: string) {
    this.cascade = cascade;
    this.source = source;
  }

  /** Parses an OpenCV cascade XML document; throws MOODLENS_ERR_INVALID_CASCADE on a bad one. */
  static fromXml(xml: string, source = 'cascade XML'): HaarFaceDetector {
    return new HaarFaceDetector(parseCascadeXml(xml, source), source);
  }

  /** Faces in image pixels, after OpenCV's grouping (`minNeighbors`). Colour images are converted to gray. */
  detect(image: Image, options?: DetectOptions): Box[] {
    const { scaleFactor, minNeighbors, minSize, maxSize } = resolveDetectOptions(options);
    const raw = scanCascade(this.cascade, toGray(image), { scaleFactor, minSize, maxSize });
    return groupRectangles(raw, minNeighbors, GROUP_EPS).map(({ x, y, width, height }) => ({ x, y, width, height }));
  }

  /** Every window the cascade accepts, before grouping: for tests and diagnostics. */
  detectRaw(image: Image, options?: DetectOptions): Box[] {
    const { scaleFactor, minSize, maxSize } = resolveDetectOptions(options);
    return scanCascade(this.cascade, toGray(image), { scaleFactor, minSize, maxSize });
  }
}
