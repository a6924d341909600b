/**
 * Frame-by-frame analysis of a video or webcam stream: detect faces (every `detectEvery` frames), keep
 * each face's id with the FaceTracker, classify every tracked face on every frame, smooth each track's
 * scores over time, and emit the flat FrameRecords of frames.csv. Browser-safe: it takes decoded
 * frames and an EmotionPipeline; decoding and encoding live elsewhere (ffmpeg in Node, canvas in the
 * browser).
 */
import type { Box, Image } from '../core/image.js';
import type { EmotionResult } from '../emotion/classifier.js';
import type { Emotion } from '../emotion/labels.js';
import { toGray } from '../image/gray.js';
import type { FaceLandmarks } from '../landmarks/detector.js';
import type { RestoreMethod } from '../enhance/restore.js';
import type { EmotionPipeline } from '../pipeline/pipeline.js';
import { emptyFrameRecord, faceFrameRecord, type FrameRecord } from '../report/records.js';
import { DEFAULT_SMOOTHING_ALPHA, ScoreSmoother } from './smoothing.js';
import { FaceTracker, type FaceTrackerOptions, type Track } from './tracker.js';

export interface FrameAnalyzerOptions {
  /**
   * Run the face detector on every Nth frame (integer >= 1; default 1: every frame). In between, each
   * face keeps the box of its last detection and is still classified on every frame.
   */
  readonly detectEvery?: number;
  /** Tracker settings (see DEFAULT_TRACKER_OPTIONS). */
  readonly tracker?: FaceTrackerOptions;
  /** Weight of the newest frame in each track's moving average, (0, 1]; 1 = no smoothing. Default 0.4. */
  readonly smoothingAlpha?: number;
}

/** The defaults of FrameAnalyzerOptions. */
export const DEFAULT_FRAME_ANALYZER_OPTIONS = Object.freeze({
  detectEvery: 1,
  smoothingAlpha: DEFAULT_SMOOTHING_ALPHA,
});

/** One tracked face in one frame. */
export interface TrackedFaceResult {
  /** The tracker's stable id (1, 2, ...). */
  readonly track: number;
  /** The face box: this frame's detection, or the track's last one on a frame without detection. */
  readonly box: Box;
  /** Whether `box` was detected on this frame (false: carried from the last detection). */
  readonly detected: boolean;
  /** Smoothed over the track's frames: label, confidence and scores. */
  readonly emotion: EmotionResult;
  /** This frame's unsmoothed probabilities. */
  readonly rawScores: Readonly<Record<Emotion, number>>;
  /** This frame's 68 points, when the pipeline has the landmark stage (not part of the records). */
  readonly landmarks?: FaceLandmarks;
  /** Whether the face was restored before classification, when the pipeline has the enhance stage. */
  readonly enhanced?: boolean;
  /** How the face reached the classifier's size, when the pipeline has the enhance stage. */
  readonly restoration?: RestoreMethod;
}

export interface FrameAnalysis {
  /** Tracked faces, oldest track first. */
  readonly faces: TrackedFaceResult[];
  /** One record per face, or one empty record when there is none. */
  readonly records: FrameRecord[];
}

/** Time spent per stage since creation (or `reset`), in milliseconds, and the counts behind it. */
export interface FrameAnalyzerStats {
  frames: number;
  /** Frames on which the detector ran. */
  detections: number;
  faces: number;
  detectMs: number;
  trackMs: number;
  classifyMs: number;
}

function checkOptions(options: FrameAnalyzerOptions): { detectEvery: number; smoothingAlpha: number } {
  const detectEvery = options.detectEvery ?? DEFAULT_FRAME_ANALYZER_OPTIONS.detectEvery;
  if (!Number.isInteger(detectEvery) || detectEvery < 1) {
    throw new RangeError(`Expected an integer >= 1 for detectEvery but received ${String(detectEvery)}`);
  }
  const smoothingAlpha = options.smoothingAlpha ?? DEFAULT_FRAME_ANALYZER_OPTIONS.smoothingAlpha;
  if (!(smoothingAlpha > 0 && smoothingAlpha <= 1)) {
    throw new RangeError(`Expected smoothingAlpha in (0, 1] but received ${String(smoothingAlpha)}`);
  }
  return { detectEvery, smoothingAlpha };
}

/**
 * Analyzes the frames of one stream in order. Call `analyzeFrame` with increasing frame indices (gaps
 * are fine: they count as frames without detection for the tracker); `reset` starts a new stream.
 */
export class FrameAnalyzer {
  readonly detectEvery: number;
  readonly smoothingAlpha: number;
  readonly #trackerOptions: FaceTrackerOptions;
  #tracker: FaceTracker;
  #smoother: ScoreSmoother;
  /** Frame index of the last detection, and the ids that detection matched (shown until the next one). */
  #lastDetection: { frame: number; ids: Set<number> } | undefined;
  #stats: FrameAnalyzerStats = emptyStats();
  #lastFrame: number | undefined;

  constructor(
    readonly pipeline: EmotionPipeline,
    options: FrameAnalyzerOptions = {},
  ) {
    const checked = checkOptions(options);
    this.detectEvery = checked.detectEvery;
    this.smoothingAlpha = checked.smoothingAlpha;
    this.#trackerOptions = { ...options.tracker };
    this.#tracker = new FaceTracker(this.#trackerOptions);
    this.#smoother = new ScoreSmoother({ alpha: this.smoothingAlpha });
  }

  /** Stage timings and counts so far (a copy). */
  get stats(): FrameAnalyzerStats {
    return { ...this.#stats };
  }

  /**
   * Detects (when due), tracks, classifies and smooths the faces of one frame. `image` may be gray, RGB
   * or RGBA; `frame` is the frame index (integer, increasing), `timeSeconds` its presentation time.
   */
  async analyzeFrame(image: Image, frame: number, timeSeconds: number): Promise<FrameAnalysis> {
    if (!Number.isInteger(frame) || frame < 0) {
      throw new RangeError(`Expected an integer frame >= 0 but received ${String(frame)}`);
    }
    if (!(Number.isFinite(timeSeconds) && timeSeconds >= 0)) {
      throw new RangeError(`Expected a finite timeSeconds >= 0 but received ${String(timeSeconds)}`);
    }
    if (this.#lastFrame !== undefined && frame <= this.#lastFrame) {
      throw new RangeError(`Expected frame to increase but received ${frame} after ${this.#lastFrame}`);
    }
    this.#lastFrame = frame;
    const stats = this.#stats;
    // One gray conversion serves both the detector and the classifier's crops.
    const gray = toGray(image);
    const detectNow =
      this.#lastDetection === undefined || frame - this.#lastDetection.frame >= this.detectEvery;
    let tracks: Track[];
    if (detectNow) {
      let t = performance.now();
      const boxes = await this.pipeline.detector.detect(gray, this.pipeline.options.detect);
      stats.detectMs += performance.now() - t;
      stats.detections++;
      t = performance.now();
      tracks = this.#tracker.update(boxes, frame).filter((track) => track.confirmed);
      // Ordered by id so the output does not depend on the detector's order.
      tracks.sort((a, b) => a.id - b.id);
      this.#lastDetection = { frame, ids: new Set(tracks.map((track) => track.id)) };
      this.#smoother.retain(this.#tracker.activeTracks().map((track) => track.id));
      stats.trackMs += performance.now() - t;
    } else {
      const t = performance.now();
      const shown = this.#lastDetection?.ids ?? new Set<number>();
      // Between detections: the faces seen at the last detection, at their last boxes.
      tracks = this.#tracker.predict(frame).filter((track) => shown.has(track.id));
      stats.trackMs += performance.now() - t;
    }

    const t = performance.now();
    const classified = await this.pipeline.classifyFaces(
      gray,
      tracks.map((track) => ({ box: track.box })),
    );
    const faces = tracks.map((track, i): TrackedFaceResult => {
      const raw = classified[i].emotion.scores;
      return {
        track: track.id,
        box: track.box,
        detected: detectNow,
        emotion: this.#smoother.update(track.id, raw),
        rawScores: raw,
        ...(classified[i].landmarks === undefined ? {} : { landmarks: classified[i].landmarks }),
        ...(classified[i].enhanced === undefined ? {} : { enhanced: classified[i].enhanced }),
        ...(classified[i].restoration === undefined ? {} : { restoration: classified[i].restoration }),
      };
    });
    stats.classifyMs += performance.now() - t;
    stats.frames++;
    stats.faces += faces.length;
    const records =
      faces.length === 0
        ? [emptyFrameRecord(frame, timeSeconds)]
        : faces.map((face) => toFrameRecord(face, frame, timeSeconds));
    return { faces, records };
  }

  /** Forgets every track, average and the detection schedule (a new stream); statistics start again. */
  reset(): void {
    this.#tracker = new FaceTracker(this.#trackerOptions);
    this.#smoother = new ScoreSmoother({ alpha: this.smoothingAlpha });
    this.#lastDetection = undefined;
    this.#lastFrame = undefined;
    this.#stats = emptyStats();
  }
}

function emptyStats(): FrameAnalyzerStats {
  return { frames: 0, detections: 0, faces: 0, detectMs: 0, trackMs: 0, classifyMs: 0 };
}

/**
 * The flat record of one tracked face (smoothed scores in the columns, the raw ones in `raw`, and
 * `enhanced` and `restoration` when the pipeline has the enhance stage).
 */
export function toFrameRecord(face: TrackedFaceResult, frame: number, time: number): FrameRecord {
  const { box, emotion } = face;
  return faceFrameRecord({
    frame,
    time,
    track: face.track,
    box,
    label: emotion.label,
    confidence: emotion.confidence,
    scores: emotion.scores,
    raw: face.rawScores,
    ...(face.enhanced === undefined ? {} : { enhanced: face.enhanced }),
    ...(face.restoration === undefined ? {} : { restoration: face.restoration }),
  });
}
