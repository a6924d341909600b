/**
 * Frame-by-frame analysis of a video or webcam stream: detect faces (every `detectEvery` frames), drop
 * duplicate boxes on one face and faces whose landmarks fail the reliability checks, keep each face's id
 * with the FaceTracker (a track counts once confirmed: seen on K of its first M detection frames), give
 * each confirmed track its person (the PersonRegistry recognises a person seen before by appearance),
 * classify every tracked face on every frame, smooth each track's scores over time, and emit the flat
 * FrameRecords of frames.csv. Browser-safe: it takes decoded frames and an EmotionPipeline; decoding and
 * encoding live elsewhere (ffmpeg in Node, canvas in the browser).
 */
import type { Box, GrayImage, Image } from '../core/image.js';
import type { EmotionResult } from '../emotion/classifier.js';
import type { Emotion } from '../emotion/labels.js';
import { toGray } from '../image/gray.js';
import type { FaceLandmarks } from '../landmarks/detector.js';
import type { RestoreMethod } from '../enhance/restore.js';
import { detectedFace, type EmotionPipeline } from '../pipeline/pipeline.js';
import { emptyFrameRecord, faceFrameRecord, type FrameRecord } from '../report/records.js';
import { assessFaceEvidence } from '../landmarks/reliability.js';
import type { AnalyzedFace } from '../pipeline/pipeline.js';
import { faceDescriptor } from './appearance.js';
import { DEFAULT_DUPLICATE_OVERLAP, suppressDuplicateBoxes } from './duplicates.js';
import { PersonRegistry, type PersonRegistryOptions, type PersonState } from './persons.js';
import { DEFAULT_SMOOTHING_ALPHA, ScoreSmoother } from './smoothing.js';
import { cropThumbnail, thumbnailScore } from './thumbnail.js';
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
  /** Re-identification settings (see DEFAULT_PERSON_OPTIONS). */
  readonly persons?: PersonRegistryOptions;
  /**
   * Boxes overlapping a larger one by more than this share of their area are dropped as duplicates of
   * one face (see src/video/duplicates.ts). Default DEFAULT_DUPLICATE_OVERLAP; 1 keeps every box.
   */
  readonly duplicateOverlap?: number;
  /**
   * Drop detections whose landmarks fail the reliability checks or whose pixels do not look like a face
   * (src/landmarks/reliability.ts: assessLandmarks, assessFaceEvidence): patterns taken for faces. Only
   * when the pipeline has the landmark stage. Default true.
   */
  readonly rejectUnreliable?: boolean;
  /** Keep each person's clearest face as a thumbnail (`persons()`), for the report. Default false. */
  readonly thumbnails?: boolean;
}

/** What the analyzer knows about one person (for the report and the offline merge of persons). */
export interface PersonSnapshot {
  readonly id: number;
  /** The unit mean appearance descriptor over their detections. */
  readonly appearance: Float32Array;
  /** Detections behind it. */
  readonly detections: number;
  /** The clearest face seen, when thumbnails are kept. */
  readonly thumbnail?: { readonly image: Image; readonly frame: number; readonly score: number };
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
  /** The person (1, 2, ...), or null while the track is a candidate not yet confirmed. */
  readonly person: number | null;
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
  /** The learned detector's score (0-1), on a frame where the face was detected by it; absent with Haar. */
  readonly score?: number;
}

export interface FrameAnalysis {
  /** Tracked faces, oldest track first (candidates not yet confirmed too: `person` null). */
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
  /** Boxes dropped as duplicates of a larger box on the same face. */
  duplicates: number;
  /** Detections dropped because their landmarks failed the reliability checks. */
  unreliable: number;
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
  readonly #personOptions: PersonRegistryOptions;
  readonly #duplicateOverlap: number;
  readonly #rejectUnreliable: boolean;
  readonly #keepThumbnails: boolean;
  #tracker: FaceTracker;
  #persons: PersonRegistry;
  #thumbnails = new Map<number, { image: Image; frame: number; score: number }>();
  #liveTracks = new Set<number>();
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
    this.#personOptions = { ...options.persons };
    this.#persons = new PersonRegistry(this.#personOptions);
    this.#duplicateOverlap = options.duplicateOverlap ?? DEFAULT_DUPLICATE_OVERLAP;
    if (!(this.#duplicateOverlap >= 0 && this.#duplicateOverlap <= 1)) {
      throw new RangeError(`Expected duplicateOverlap in 0-1 but received ${String(this.#duplicateOverlap)}`);
    }
    this.#rejectUnreliable = options.rejectUnreliable ?? true;
    this.#keepThumbnails = options.thumbnails ?? false;
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
    // The classifier's crops, the false-face check and the descriptors read gray; the detector gets the
    // frame as decoded: the learned one scores colour better (a gray frame of the example clip's faceless
    // cut gave it a false face), and Haar converts to gray itself.
    const gray = toGray(image);
    const detectNow =
      this.#lastDetection === undefined || frame - this.#lastDetection.frame >= this.detectEvery;
    let tracks: Track[];
    let classified: AnalyzedFace[];
    if (detectNow) {
      let t = performance.now();
      const found = await this.pipeline.detector.detect(image, this.pipeline.options.detect);
      stats.detectMs += performance.now() - t;
      stats.detections++;
      const boxes = suppressDuplicateBoxes(found, this.#duplicateOverlap);
      stats.duplicates += found.length - boxes.length;
      // Every detection is classified (its landmarks are the false-face check), then tracked.
      t = performance.now();
      const all = await this.pipeline.classifyFaces(gray, boxes.map(detectedFace));
      stats.classifyMs += performance.now() - t;
      t = performance.now();
      const kept = this.#rejectUnreliable ? all.filter((face) => plausibleFace(gray, face)) : all;
      stats.unreliable += all.length - kept.length;
      const matched = this.#tracker.update(
        kept.map((face) => face.box),
        frame,
      );
      const diagonal = Math.hypot(gray.width, gray.height);
      for (const track of matched) {
        this.#persons.observe(
          track.id,
          faceDescriptor(gray, track.box, this.#persons.options.descriptor),
          track.box,
          frame,
        );
        if (track.confirmed) this.#persons.assign(track.id, frame, diagonal);
      }
      // Tracks the tracker dropped free their persons to be recognised again.
      const live = new Set(this.#tracker.activeTracks().map((track) => track.id));
      for (const id of this.#liveTracks) if (!live.has(id)) this.#persons.release(id);
      this.#liveTracks = live;
      // Ordered by id so the output does not depend on the detector's order.
      const order = matched
        .map((track, i) => ({ track, face: kept[i] }))
        .sort((a, b) => a.track.id - b.track.id);
      tracks = order.map((o) => o.track);
      classified = order.map((o) => o.face);
      this.#lastDetection = { frame, ids: new Set(tracks.map((track) => track.id)) };
      this.#smoother.retain(live);
      stats.trackMs += performance.now() - t;
      if (this.#keepThumbnails) {
        for (const [i, track] of tracks.entries())
          this.#offerThumbnail(image, gray, track, classified[i], frame);
      }
    } else {
      let t = performance.now();
      const shown = this.#lastDetection?.ids ?? new Set<number>();
      // Between detections: the faces seen at the last detection, at their last boxes.
      tracks = this.#tracker.predict(frame).filter((track) => shown.has(track.id));
      stats.trackMs += performance.now() - t;
      t = performance.now();
      classified = await this.pipeline.classifyFaces(
        gray,
        tracks.map((track) => ({ box: track.box })),
      );
      stats.classifyMs += performance.now() - t;
    }

    const t = performance.now();
    const faces = tracks.map((track, i): TrackedFaceResult => {
      const raw = classified[i].emotion.scores;
      return {
        track: track.id,
        person: this.#persons.personOf(track.id) ?? null,
        box: track.box,
        detected: detectNow,
        emotion: this.#smoother.update(track.id, raw),
        rawScores: raw,
        ...(classified[i].landmarks === undefined ? {} : { landmarks: classified[i].landmarks }),
        ...(classified[i].enhanced === undefined ? {} : { enhanced: classified[i].enhanced }),
        ...(classified[i].restoration === undefined ? {} : { restoration: classified[i].restoration }),
        ...(classified[i].score === undefined ? {} : { score: classified[i].score }),
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

  /** Every person so far, by id, with their appearance (and thumbnail, when kept). */
  persons(): PersonSnapshot[] {
    return this.#persons.persons.map((person: PersonState) => {
      const thumbnail = this.#thumbnails.get(person.id);
      return {
        id: person.id,
        appearance: person.appearance.value(),
        detections: person.appearance.count,
        ...(thumbnail === undefined ? {} : { thumbnail }),
      };
    });
  }

  /** Keeps this detection as the person's thumbnail when it is clearer than the one kept. */
  #offerThumbnail(image: Image, gray: GrayImage, track: Track, face: AnalyzedFace, frame: number): void {
    const person = this.#persons.personOf(track.id);
    if (person === undefined) return;
    const score = thumbnailScore(gray, track.box, face.landmarks);
    const kept = this.#thumbnails.get(person);
    if (kept !== undefined && kept.score >= score) return;
    this.#thumbnails.set(person, { image: cropThumbnail(image, track.box), frame, score });
  }

  /** Forgets every track, person, average and the detection schedule (a new stream); statistics start again. */
  reset(): void {
    this.#tracker = new FaceTracker(this.#trackerOptions);
    this.#persons = new PersonRegistry(this.#personOptions);
    this.#thumbnails = new Map();
    this.#liveTracks = new Set();
    this.#smoother = new ScoreSmoother({ alpha: this.smoothingAlpha });
    this.#lastDetection = undefined;
    this.#lastFrame = undefined;
    this.#stats = emptyStats();
  }
}

/**
 * Whether a detection is kept as a face: without landmarks, always; with them, when they pass the
 * geometric checks and the pixels under them look like a face (eyes darker than the cheeks).
 */
export function plausibleFace(gray: GrayImage, face: AnalyzedFace): boolean {
  const marks = face.landmarks;
  if (marks === undefined) return true;
  return marks.reliability.reliable && assessFaceEvidence(gray, marks.points, face.box).plausible;
}

function emptyStats(): FrameAnalyzerStats {
  return {
    frames: 0,
    detections: 0,
    faces: 0,
    duplicates: 0,
    unreliable: 0,
    detectMs: 0,
    trackMs: 0,
    classifyMs: 0,
  };
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
    person: face.person,
    box,
    label: emotion.label,
    confidence: emotion.confidence,
    scores: emotion.scores,
    raw: face.rawScores,
    ...(face.enhanced === undefined ? {} : { enhanced: face.enhanced }),
    ...(face.restoration === undefined ? {} : { restoration: face.restoration }),
    ...(face.score === undefined ? {} : { score: roundDetectorScore(face.score) }),
  });
}

/** A learned detector's score as the frame records keep it: 4 decimals. */
export function roundDetectorScore(score: number): number {
  return Math.round(score * 10_000) / 10_000;
}
