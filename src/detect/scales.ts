import { roundHalfEven } from '../image/rounding.js';

/** One level of the scan pyramid, computed as OpenCV's `FeatureEvaluator::updateScaleData` does. */
export interface ScaleLevel {
  /** The scale as a float32 value (OpenCV keeps scales as float). */
  readonly scale: number;
  /** Size of the downscaled image scanned at this level. */
  readonly width: number;
  readonly height: number;
  /** Window stride in pixels of the downscaled image: 2 below scale 2, then 1. */
  readonly step: number;
  /** Face size in the original image: the window side times the scale, rounded. */
  readonly windowWidth: number;
  readonly windowHeight: number;
}

/**
 * The pyramid of `detectMultiScale`: every scale factor^k whose window fits the image, then those within
 * [minSize, maxSize]; if none is left, the one closest to minSize (OpenCV's single-size case).
 */
export function pyramidLevels(
  imageWidth: number,
  imageHeight: number,
  windowWidth: number,
  windowHeight: number,
  scaleFactor: number,
  minSize: number,
  maxSize: number,
): ScaleLevel[] {
  if (imageWidth < windowWidth || imageHeight < windowHeight) return [];
  const maxW = maxSize > 0 ? maxSize : imageWidth;
  const maxH = maxSize > 0 ? maxSize : imageHeight;
  const all: number[] = [];
  for (let factor = 1; ; factor *= scaleFactor) {
    const w = roundHalfEven(windowWidth * factor);
    const h = roundHalfEven(windowHeight * factor);
    if (w > imageWidth || h > imageHeight) break;
    all.push(Math.fround(factor));
  }
  const sizeAt = (scale: number): [number, number] => [
    roundHalfEven(Math.fround(windowWidth * scale)),
    roundHalfEven(Math.fround(windowHeight * scale)),
  ];
  let chosen: number[] = [];
  for (const scale of all) {
    const [w, h] = sizeAt(scale);
    if (w > maxW || h > maxH) break;
    if (w < minSize || h < minSize) continue;
    chosen.push(scale);
  }
  if (chosen.length === 0 && all.length > 0) {
    let best = 0;
    let bestDistance = Infinity;
    all.forEach((scale, index) => {
      const [w, h] = sizeAt(scale);
      const d = (minSize - w) ** 2 + (minSize - h) ** 2;
      if (d < bestDistance) {
        bestDistance = d;
        best = index;
      }
    });
    chosen = [all[best]];
  }
  return chosen.map((scale) => {
    const [ww, wh] = sizeAt(scale);
    return {
      scale,
      width: roundHalfEven(Math.fround(imageWidth / scale)),
      height: roundHalfEven(Math.fround(imageHeight / scale)),
      step: scale >= 2 ? 1 : 2,
      windowWidth: ww,
      windowHeight: wh,
    };
  });
}
