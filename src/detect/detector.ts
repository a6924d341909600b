import type { Box, Image } from '../core/image.js';
import { toGray } from '../image/gray.js';
import { parseCascadeXml, type Cascade } from './cascade.js';
import { groupRectangles } from './group.js';
import { resolveDetectOptions, type DetectOptions } from './options.js';
import { scanCascade } from './scan.js';
import { WasmStumpKernel } from './wasm-kernel.js';

/** `wasm` (default) scans stump cascades with the WebAssembly kernel; `js` forces the TypeScript path. */
export type HaarEngine = 'wasm' | 'js';

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

  /** The WebAssembly scan kernel, when the cascade and platform allow it. */
  readonly kernel: WasmStumpKernel | undefined;

  private constructor(cascade: Cascade, source: string, engine: HaarEngine) {
    this.cascade = cascade;
    this.source = source;
    this.kernel =
      engine === 'wasm' && cascade.featureType === 'HAAR' ? WasmStumpKernel.tryCreate(cascade) : undefined;
  }

  /** Parses an OpenCV cascade XML document; throws MOODLENS_ERR_INVALID_CASCADE on a bad one. */
  static fromXml(xml: string, source = 'cascade XML', engine: HaarEngine = 'wasm'): HaarFaceDetector {
    return new HaarFaceDetector(parseCascadeXml(xml, source), source, engine);
  }

  /** Which engine scans: the WebAssembly kernel or the TypeScript path. */
  get engine(): HaarEngine {
    return this.kernel ? 'wasm' : 'js';
  }

  /**
   * Faces in image pixels, as `detectMultiScale` returns them: grouped (`minNeighbors`) and clipped to the
   * image. Colour images are converted to gray first.
   */
  detect(image: Image, options?: DetectOptions): Box[] {
    const { scaleFactor, minNeighbors, minSize, maxSize } = resolveDetectOptions(options);
    const gray = toGray(image);
    const raw = scanCascade(this.cascade, gray, { scaleFactor, minSize, maxSize }, this.kernel);
    return this.group(raw, minNeighbors, gray.width, gray.height);
  }

  /**
   * OpenCV's finishing of raw windows into faces: grouping (eps 0.2; a group needs more than
   * `minNeighbors` members), then each box clipped to the image, empty ones dropped.
   */
  group(raw: readonly Box[], minNeighbors: number, imageWidth: number, imageHeight: number): Box[] {
    const faces: Box[] = [];
    for (const { x, y, width, height } of groupRectangles(raw, minNeighbors, GROUP_EPS)) {
      const x0 = Math.max(x, 0);
      const y0 = Math.max(y, 0);
      const x1 = Math.min(x + width, imageWidth);
      const y1 = Math.min(y + height, imageHeight);
      if (x1 > x0 && y1 > y0) faces.push({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
    }
    return faces;
  }
}
