import type { FaceAligner } from '../align/aligner.js';
import { RotatedSearchDetector } from '../detect/rotated-search.js';
import type { EmotionClassifier } from '../emotion/classifier.js';
import type { FaceEnhancer } from '../enhance/face-enhancer.js';
import { loadEmotionClassifier } from '../io/node/emotion-model.js';
import {
  DEFAULT_LANDMARK_MODEL_PATH,
  loadFaceAligner,
  loadLandmarkDetector,
} from '../io/node/landmark-model.js';
import type { LandmarkDetector } from '../landmarks/detector.js';
import type { FaceCheckMode } from '../pipeline/face-check.js';
import { EmotionPipeline, type FaceDetector } from '../pipeline/pipeline.js';
import type { DetectorFlags } from './detector-flags.js';
import { loadEnhanceStage, type EnhanceFlags } from './enhance-flags.js';
import { resolveLandmarkModel } from './landmark-output.js';
import type { CliIo } from './main.js';
import { openFaceDetector } from './open-detector.js';

/** What `analyze` and `video` say on the command line about the pipeline they run. */
export interface PipelineStageFlags extends DetectorFlags, EnhanceFlags {
  /** Emotion model (default: the shipped one). */
  readonly model: string | undefined;
  readonly flipAverage?: boolean;
  /** Turn faces upright by their landmarks (when a landmark model is given or installed). */
  readonly align: boolean;
  readonly landmarkModel?: string | undefined;
  readonly template?: string | undefined;
  /** Landmarks are needed even without alignment (e.g. `--draw-landmarks`): the flag that asks for them. */
  readonly landmarksNeededBy?: string;
  readonly rotatedSearch?: boolean;
  /** Extra room around the box crop, as a fraction of the box side. */
  readonly margin?: number;
  /**
   * The false-face check of `EmotionPipeline.analyze` (`analyze`: drop or mark). Other than `off`, the
   * landmark model is loaded for it (when installed) also without alignment.
   */
  readonly faceCheck?: FaceCheckMode;
}

/** A pipeline with every model it loaded; `close` releases them all (sessions, detector worker threads). */
export interface OpenPipeline {
  readonly pipeline: EmotionPipeline;
  readonly close: () => Promise<void>;
}

/**
 * Loads the stages the flags ask for, once, and builds the pipeline over them. Alignment is on by default
 * only when the landmark model is installed (a model given with --landmark-model must load); a missing
 * optional model switches its stage off with a note on stderr. A model that fails to load fails the command
 * with its code, after releasing whatever had loaded.
 */
export async function openPipeline(
  flags: PipelineStageFlags,
  command: string,
  io: CliIo,
): Promise<OpenPipeline> {
  const loaded: { close(): Promise<void> }[] = [];
  const keep = <T extends { dispose(): Promise<void> }>(stage: T): T => {
    loaded.push({ close: () => stage.dispose() });
    return stage;
  };
  const close = async (): Promise<void> => {
    for (const stage of loaded.reverse()) await stage.close();
  };
  try {
    const classifier: EmotionClassifier = keep(
      await loadEmotionClassifier(flags.model, { flipAverage: flags.flipAverage === true }),
    );
    const landmarkModel = resolveLandmarkModel(flags.landmarkModel, flags.landmarksNeededBy ?? false);
    let landmarks: LandmarkDetector | undefined;
    let aligner: FaceAligner | undefined;
    const checkFaces = flags.faceCheck !== undefined && flags.faceCheck !== 'off';
    if (landmarkModel !== undefined && (flags.align || checkFaces || flags.landmarksNeededBy !== undefined)) {
      landmarks = keep(await loadLandmarkDetector(landmarkModel));
      if (flags.align) aligner = await loadFaceAligner(flags.template);
    } else if (flags.align || checkFaces) {
      io.stderr(
        `${command}: no landmark model at ${DEFAULT_LANDMARK_MODEL_PATH}: ` +
          `faces are ${flags.align ? 'classified from their box crop, unaligned' : 'not checked for false faces'}\n`,
      );
    }
    const enhanceStage = await loadEnhanceStage(flags, command, io);
    const enhancer: FaceEnhancer | undefined = enhanceStage.enhancer && keep(enhanceStage.enhancer);
    // The Haar cascade on its scan threads, or the learned detector (--detector cnn) with its scores.
    const opened = await openFaceDetector(flags);
    loaded.push({ close: () => opened.close() });
    const detector: FaceDetector = flags.rotatedSearch === true ? new RotatedSearchDetector(opened) : opened;
    const pipeline = new EmotionPipeline(detector, classifier, {
      detect: flags.detectOptions,
      ...(flags.margin === undefined ? {} : { crop: { margin: flags.margin } }),
      ...(landmarks === undefined ? {} : { landmarks }),
      ...(aligner === undefined ? {} : { aligner }),
      ...(enhancer === undefined ? {} : { enhancer }),
      enhanceBelow: enhanceStage.enhanceBelow,
      upscaleBelow: enhanceStage.upscaleBelow,
      ...(flags.faceCheck === undefined ? {} : { faceCheck: flags.faceCheck }),
    });
    return { pipeline, close };
  } catch (error) {
    await close();
    throw error;
  }
}
