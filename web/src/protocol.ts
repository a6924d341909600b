/**
 * Messages between the page (main.ts) and the analysis worker (worker.ts). Frames travel as transferred
 * ImageBitmaps, results as plain data; nothing leaves the browser.
 */
import type { Box, DetectOptions, Emotion, FrameRecord, Point, RestoreMethod } from '../../src/core.js';
import type { DetectorKind } from '../../src/detect/detector-kind.js';
import type { WebEnhanceOptions } from '../../src/io/web/index.js';

export interface InitRequest {
  readonly type: 'init';
  /** Absolute URLs (the worker's own location is its script's, so the page resolves them). */
  readonly modelUrl: string;
  /** Which face detector runs: the cascade (`cascadeUrl`) or the learned detector (`detectorModelUrl`). */
  readonly detector: DetectorKind;
  readonly cascadeUrl: string;
  readonly detectorModelUrl: string;
  /** `cnn` only: its score threshold (undefined: the model's own). */
  readonly minScore: number | undefined;
  /** `cnn` only: run its pass for faces filling the frame. */
  readonly coarsePass: boolean;
  /** The landmark model and alignment template: faces are aligned by their 68 points, as in the CLI. */
  readonly landmarkModelUrl: string;
  readonly templateUrl: string;
  /**
   * FSRNet's files and thresholds: small faces are restored before they are classified, as in the CLI.
   * Undefined: the stage is off (`?enhance=never`), no model is loaded and no face is enlarged.
   */
  readonly enhance: WebEnhanceOptions | undefined;
  readonly wasmPaths: string;
  /** ONNX Runtime threads per inference. */
  readonly numThreads: number;
  readonly detect: DetectOptions;
  readonly detectEvery: number;
  readonly smoothingAlpha: number;
}

export interface AnalyzeRequest {
  readonly type: 'analyze';
  /** Which camera session the frame belongs to (answers of an earlier one are dropped by the page). */
  readonly session: number;
  /** Index of the analysed frame in the session, from 0. */
  readonly frame: number;
  /** Seconds since the session started, when the frame was grabbed. */
  readonly time: number;
  /** The frame, at the analysis size (transferred). */
  readonly bitmap: ImageBitmap;
  /** Video pixels per analysis pixel: records carry boxes in video pixels. */
  readonly scale: number;
}

export interface ResetRequest {
  readonly type: 'reset';
}

export type WorkerRequest = InitRequest | AnalyzeRequest | ResetRequest;

export interface ModelSummary {
  readonly arch: string | undefined;
  readonly valAccuracy: number | undefined;
  readonly labels: readonly Emotion[];
  /** Which face detector runs: OpenCV's Haar cascade or the learned detector. */
  readonly detector: DetectorKind;
  /**
   * What runs it: for `haar`, the cascade scan's WebAssembly kernel or its TypeScript path; for `cnn`,
   * ONNX Runtime Web (always WebAssembly).
   */
  readonly detectorEngine: 'wasm' | 'js';
  /** `cnn` only: the score a face needs (the page's `?minScore` or the model's threshold). */
  readonly minScore: number | undefined;
  /** `cnn` only: whether its pass for faces filling the frame runs (`?coarsePass=1`). */
  readonly coarsePass: boolean;
  readonly crossOriginIsolated: boolean;
  readonly numThreads: number;
  readonly loadMs: number;
  /** Whether faces are aligned by their landmarks (false: the landmark model did not load). */
  readonly landmarks: boolean;
  /** Why the landmark stage is off, when it is (the load error's message). */
  readonly landmarksProblem: string | undefined;
  /** Whether FSRNet restores small faces (false: off by the page's setting, or its models did not load). */
  readonly enhancer: boolean;
  /** FSRNet models loaded: the general one and its specialists (0 without the stage). */
  readonly enhancerModels: number;
  /** Why FSRNet is off when it was asked for (the load error's message, naming the file). */
  readonly enhancerProblem: string | undefined;
  /** The pipeline's thresholds: box sides under which faces are restored by FSRNet, or enlarged bicubically. */
  readonly enhanceBelow: number;
  readonly upscaleBelow: number;
}

export interface ReadyMessage {
  readonly type: 'ready';
  readonly model: ModelSummary;
}

export interface InitErrorMessage {
  readonly type: 'init-error';
  /** A MoodLens error code when the failure has one. */
  readonly code: string | undefined;
  readonly message: string;
}

/** A face as the overlay draws it, in analysis pixels. */
export interface OverlayFace {
  /** The person's number (the same for a person who leaves and comes back). */
  readonly track: number;
  readonly box: Box;
  readonly label: Emotion;
  readonly confidence: number;
  /** False when the box was carried over from an earlier detection. */
  readonly detected: boolean;
  /** The 68 landmarks, in analysis pixels, when the landmark stage runs. */
  readonly points?: readonly Point[];
  /** How the face reached the classifier's size (fsrnet, bicubic or none), when the enhance stage is on. */
  readonly restoration?: RestoreMethod;
}

export interface FrameTimings {
  /** Drawing the bitmap and reading its pixels. */
  readonly readMs: number;
  /** The whole FrameAnalyzer call (detect, track, classify, smooth). */
  readonly analyzeMs: number;
  readonly detectMs: number;
  readonly classifyMs: number;
}

export interface ResultMessage {
  readonly type: 'result';
  readonly session: number;
  readonly frame: number;
  readonly time: number;
  /** Analysis size of the frame (the overlay's coordinate system). */
  readonly width: number;
  readonly height: number;
  readonly faces: OverlayFace[];
  /** The frame's records, boxes in video pixels. */
  readonly records: FrameRecord[];
  readonly timings: FrameTimings;
}

export interface AnalyzeErrorMessage {
  readonly type: 'analyze-error';
  readonly session: number;
  readonly frame: number;
  readonly message: string;
}

export type WorkerMessage = ReadyMessage | InitErrorMessage | ResultMessage | AnalyzeErrorMessage;
