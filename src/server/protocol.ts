/** Messages between the inference pool (`pool.ts`) and its worker threads (`analyze-worker.ts`). */
import type { ErrorCode } from '../core/errors.js';
import type { Box } from '../core/image.js';
import type { DetectOptions } from '../detect/options.js';
import type { EmotionResult } from '../emotion/classifier.js';

/** What each worker gets at start: the model and cascade themselves, read once by the main thread. */
export interface AnalyzeWorkerInit {
  readonly modelBytes: Uint8Array;
  readonly modelSource: string;
  readonly cascadeXml: string;
  readonly cascadeSource: string;
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
  /** Pixel limit checked from the header before decoding. */
  readonly maxPixels: number;
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
  readonly faces: { readonly box: Box; readonly emotion: EmotionResult }[];
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
