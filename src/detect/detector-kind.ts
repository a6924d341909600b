/** Which face detector a command, the server or a worker runs (issue 21). */
export const DETECTOR_KINDS = ['cnn', 'haar'] as const;

/**
 * `haar`: OpenCV's Haar cascade run by our own engine (OpenCV-exact boxes, no scores); `cnn`: the learned
 * detector (`models/detector/face-detector.onnx`, src/detect/cnn), boxes mapped onto the Haar framing, each
 * with its score.
 */
export type DetectorKind = (typeof DETECTOR_KINDS)[number];

/**
 * The detector every surface runs unless told otherwise. Haar until the learned detector is measured
 * better on the evaluation photos (training/checkpoints/detector/MODEL_CARD.md); then this one constant
 * switches to `cnn` (help texts and docs read it from here).
 */
export const DEFAULT_DETECTOR: DetectorKind = 'haar';

/** Whether `value` names a detector kind. */
export function isDetectorKind(value: unknown): value is DetectorKind {
  return (DETECTOR_KINDS as readonly unknown[]).includes(value);
}
