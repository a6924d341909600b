/** NME figures of predicted 68-point sets against labels (300-W's measure), for the landmark studies. */
import { interocularDistance, type Point } from '../src/landmarks/points.js';

export interface NmeSummary {
  readonly faces: number;
  readonly nme: number;
  readonly nmeContour: number;
  readonly nmeInner: number;
  readonly failureRate10: number;
}

/** NME figures as training's `nme_parts` computes them. */
export function nmeSummary(
  predictions: readonly (readonly Point[])[],
  truths: readonly (readonly Point[])[],
): NmeSummary {
  let perFaceSum = 0;
  let contour = 0;
  let inner = 0;
  let failures = 0;
  predictions.forEach((pred, f) => {
    const truth = truths[f];
    const iod = interocularDistance(truth);
    let sum = 0;
    pred.forEach(([x, y], i) => {
      const e = Math.hypot(x - truth[i][0], y - truth[i][1]) / iod;
      sum += e;
      if (i < 17) contour += e;
      else inner += e;
    });
    const face = sum / pred.length;
    perFaceSum += face;
    if (face > 0.1) failures++;
  });
  const n = predictions.length;
  return {
    faces: n,
    nme: perFaceSum / n,
    nmeContour: contour / (n * 17),
    nmeInner: inner / (n * 51),
    failureRate10: failures / n,
  };
}
