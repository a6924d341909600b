import { MoodLensError } from '../core/errors.js';
import type { Box, Image } from '../core/image.js';
import { CnnBoxDetector } from '../detect/cnn/box-detector.js';
import type { DetectorKind } from '../detect/detector-kind.js';
import type { DetectOptions } from '../detect/options.js';
import { DEFAULT_CNN_DETECTOR_PATH, loadCnnFaceDetector } from '../io/node/cnn-detector-model.js';
import { ParallelFaceDetector } from '../io/node/parallel-detector.js';
import type { DetectorFlags } from './detector-flags.js';

/** A face detector the commands load once and close at the end: the Haar scan's threads or the CNN's session. */
export interface ClosableFaceDetector {
  readonly kind: DetectorKind;
  /** Boxes in image pixels; the learned detector's carry their `score` (see `boxScore` in src/detect/cnn/box-detector.ts). */
  detect(image: Image, options?: DetectOptions): Promise<Box[]>;
  close(): Promise<void>;
}

/**
 * The detector the flags ask for: `--detector haar` the Haar cascade (`--cascade`) scanned on `--threads`
 * worker threads; `--detector cnn` the learned detector (`--detector-model`, default the shipped model) with
 * `--threads` ONNX Runtime threads, `--min-score`, `--fine-long-side` and `--mirror`, its boxes in the Haar framing with scores.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` (cnn model), the cascade's coded errors (haar).
 */
export async function openFaceDetector(
  flags: Pick<DetectorFlags, 'detector' | 'detectorModel' | 'minScore' | 'cascade' | 'threads'> &
    Partial<Pick<DetectorFlags, 'fineLongSide' | 'mirror'>>,
): Promise<ClosableFaceDetector> {
  if (flags.detector === 'cnn') {
    const model = await loadCnnFaceDetector(flags.detectorModel ?? DEFAULT_CNN_DETECTOR_PATH, {
      intraOpNumThreads: flags.threads,
      ...(flags.fineLongSide === undefined ? {} : { fineLongSide: flags.fineLongSide }),
      ...(flags.mirror === undefined ? {} : { mirror: flags.mirror }),
    }).catch((error: unknown) => {
      throw namingFineLongSide(error);
    });
    const cnn = new CnnBoxDetector(
      model,
      flags.minScore === undefined ? {} : { scoreThreshold: flags.minScore },
    );
    return {
      kind: 'cnn',
      detect: (image, options) => cnn.detect(image, options),
      close: () => cnn.close(),
    };
  }
  const haar = await ParallelFaceDetector.create({ cascadePath: flags.cascade, threads: flags.threads });
  return {
    kind: 'haar',
    detect: (image, options) => haar.detect(image, options),
    close: () => haar.close(),
  };
}

const FINE_PASS_PHRASE = "the fine pass's long side";

/**
 * The core checks the fine pass's long side against the model's first pass (which only the model knows); the
 * CLI reports that under the flag the user typed.
 */
function namingFineLongSide(error: unknown): unknown {
  if (
    error instanceof MoodLensError &&
    error.code === 'MOODLENS_ERR_INVALID_ARGUMENT' &&
    error.message.includes(FINE_PASS_PHRASE)
  ) {
    return new MoodLensError(error.code, error.message.replace(FINE_PASS_PHRASE, '--fine-long-side'));
  }
  return error;
}
