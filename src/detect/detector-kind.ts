/** Which face detector a command, the server or a worker runs (issue 21). */
export const DETECTOR_KINDS = ['cnn', 'haar'] as const;

/**
 * `haar`: OpenCV's Haar cascade run by our own engine (OpenCV-exact boxes, no scores); `cnn`: the learned
 * detector (`models/detector/face-detector.onnx`, src/detect/cnn), boxes mapped onto the Haar framing, each
 * with its score.
 */
export type DetectorKind = (typeof DETECTOR_KINDS)[number];

/**
 * The detector every surface runs unless told otherwise: the learned one. It measured better than Haar in
 * recall and precision on the held-out photos, with no loss in landmark or emotion accuracy
 * (training/checkpoints/detector/MODEL_CARD.md). `--detector haar` keeps OpenCV's answers (help texts and
 * docs read the default from here).
 */
export const DEFAULT_DETECTOR: DetectorKind = 'cnn';

/** Whether `value` names a detector kind. */
export function isDetectorKind(value: unknown): value is DetectorKind {
  return (DETECTOR_KINDS as readonly unknown[]).includes(value);
}
