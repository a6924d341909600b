/** Messages between the inference pool (`pool.ts`) and its worker threads (`analyze-worker.ts`). */
import type { AlignmentTemplate } from '../align/template.js';
import type { JsonFace, JsonRejected } from '../cli/landmark-output.js';
import type { ErrorCode } from '../core/errors.js';
import type { DetectOptions } from '../detect/options.js';
import type { EnhanceMode } from '../enhance/policy.js';

/** An ONNX model read by the main thread: its bytes and its path (for messages). */
export interface ModelBytes {
  readonly bytes: Uint8Array;
  readonly source: string;
}

/** The face detector a worker builds: the Haar cascade's XML, or the learned detector's model bytes. */
export type WorkerDetector =
  | { readonly kind: 'haar'; readonly cascadeXml: string; readonly cascadeSource: string }
  | (ModelBytes & {
      readonly kind: 'cnn';
      /** Score threshold (undefined: the model's `moodlens.score_threshold`). */
      readonly minScore?: number;
    });

/**
 * What each worker gets at start: the models, cascade and template themselves, read once by the main
 * thread. No `landmarks`: no landmark model installed (faces are classified unaligned); no `enhance`: no
 * super-resolution model (no face is restored).
 */
export interface AnalyzeWorkerInit {
  readonly modelBytes: Uint8Array;
  readonly modelSource: string;
  readonly detector: WorkerDetector;
  readonly landmarks?: ModelBytes & { readonly template: AlignmentTemplate };
  /** The super-resolution model and the specialists it routes faces to (see `modelForCrop`). */
  readonly enhance?: ModelBytes & { readonly specialists: readonly ModelBytes[] };
  /** Past this many bytes of scan memory the worker asks to be replaced after its job. */
  readonly recycleAboveBytes: number;
}

/** Per-request analysis options (the query string, checked by the route schema). */
export interface AnalyzeOptions {
  readonly detect: DetectOptions;
  /** Extra room around each face for the classifier crop, as a fraction of the box side. */
  readonly margin: number;
  /** Average each face with its mirror image. */
  readonly flipTta: boolean;
  /** Turn each face upright by its landmarks (when the landmark model is loaded), as analyze does by default. */
  readonly align: boolean;
  /** Which faces the super-resolution model restores (when it is loaded). */
  readonly enhance: EnhanceMode;
  /** Box side in pixels below which `auto` restores a face. */
  readonly enhanceBelow: number;
  /** Box side in pixels below which `auto` enlarges a face bicubically when FSRNet does not restore it. */
  readonly upscaleBelow: number;
  /** Pixel limit checked from the header before decoding. */
  readonly maxPixels: number;
  /** Keep the boxes the false-face check fails, each with its verdict (absent: false, drop them). */
  readonly keepAllFaces?: boolean;
}

/** One uploaded image: its name for the JSON answer and messages, and its encoded bytes. */
export interface UploadedImage {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface AnalyzeJobMessage {
  readonly id: number;
  readonly images: readonly UploadedImage[];
  readonly options: AnalyzeOptions;
}

/** The answer for one image, as `moodlens analyze --json` gives it (without `output`). */
export interface AnalyzedImage {
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly faces: JsonFace[];
  /** Boxes the false-face check dropped, when it ran and dropped. */
  readonly rejected?: JsonRejected[];
}

/** An image that failed with a coded error, as the CLI's JSON reports it. */
export interface FailedImage {
  readonly file: string;
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

export type ImageOutcome = AnalyzedImage | FailedImage;

export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'init-error'; readonly code: string; readonly message: string }
  /** `recycle`: the worker holds more memory than it should keep (see `recycleAboveBytes`). */
  | {
      readonly type: 'done';
      readonly id: number;
      readonly outcomes: ImageOutcome[];
      readonly recycle: boolean;
    }
  /** Not a coded error: a bug, reported as 500. */
  | { readonly type: 'failed'; readonly id: number; readonly message: string };

export function isFailedImage(outcome: ImageOutcome): outcome is FailedImage {
  return 'error' in outcome;
}
