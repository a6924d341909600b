/**
 * Frame-to-frame face tracking for video and the webcam: gives each face a stable integer id while it
 * stays in view, so per-face state (score smoothing, labels) can follow it. Pure and browser-safe: no
 * motion model, no globals; ids are per tracker instance. Deterministic: the same boxes in the same
 * order always give the same ids.
 */
import type { Box } from '../core/image.js';

export interface FaceTrackerOptions {
  /** Smallest intersection-over-union (0-1) that counts as the same face. */
  readonly iouThreshold?: number;
  /**
   * When IoU is below `iouThreshold`, the largest distance between box centres that still counts as the
   * same face, as a fraction of the boxes' mean side length (`(width + height) / 2`, averaged over both).
   * 0 turns the centroid fallback off.
   */
  readonly maxCentroidDistance?: number;
  /** Frames in a row a track survives without a match; it is dropped after more than this. Integer >= 0. */
  readonly maxMissedFrames?: number;
  /** Matches a track needs before it is `confirmed` (filters brief false detections). Integer >= 1. */
  readonly minHits?: number;
  /**
   * The track must reach `minHits` within its first this many updates (detection frames, the first
   * included), or it is dropped as a false detection: "seen in K of its first M frames". Integer >=
   * minHits; Infinity: never dropped for it.
   */
  readonly confirmWithin?: number;
}

/**
 * The defaults of every FaceTrackerOptions field. Confirmation, 3 of the first 5 detection frames
 * (measured, docs/people-tracking.md): a real face is found on nearly every detection frame, while most
 * false faces come and go; 3 hits at the CLI's every-3rd-frame detection is 0.3 s of video.
 */
export const DEFAULT_TRACKER_OPTIONS: Readonly<Required<FaceTrackerOptions>> = Object.freeze({
  iouThreshold: 0.3,
  maxCentroidDistance: 0.5,
  maxMissedFrames: 15,
  minHits: 3,
  confirmWithin: 5,
});

/** One tracked face, as a snapshot (later updates do not change it). */
export interface Track {
  /** Stable id, 1, 2, ... in order of first appearance, never reused by the same tracker. */
  readonly id: number;
  /** The box of the last detection matched to this track. */
  readonly box: Box;
  /** Detections matched to this track so far (1 on the frame it starts). */
  readonly hits: number;
  /** Frames since the last match (0 on a frame where it matched). */
  readonly missed: number;
  /** Frame index of the first match. */
  readonly firstFrame: number;
  /** Frame index of the last match. */
  readonly lastFrame: number;
  /** Whether `hits >= minHits` (reached within the first `confirmWithin` updates). */
  readonly confirmed: boolean;
}

interface TrackState {
  readonly id: number;
  box: Box;
  hits: number;
  /** Updates (detection frames) since the track started, the first included. */
  updates: number;
  readonly firstFrame: number;
  lastFrame: number;
}

/** Intersection over union of two boxes, 0-1 (0 for disjoint or empty boxes). */
export function boxIou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Distance between the box centres divided by the boxes' mean side length. */
function relativeCentroidDistance(a: Box, b: Box): number {
  const dx = a.x + a.width / 2 - (b.x + b.width / 2);
  const dy = a.y + a.height / 2 - (b.y + b.height / 2);
  const size = (a.width + a.height + b.width + b.height) / 4;
  return size > 0 ? Math.hypot(dx, dy) / size : Infinity;
}

function checkBox(box: Box, index: number): void {
  const { x, y, width, height } = box;
  if (![x, y, width, height].every(Number.isFinite) || width <= 0 || height <= 0) {
    throw new RangeError(
      `Expected box ${index} to have finite coordinates and a positive size but received ` +
        `${String(x)},${String(y)} ${String(width)}x${String(height)}`,
    );
  }
}

function resolveOptions(options: FaceTrackerOptions): Required<FaceTrackerOptions> {
  const d = DEFAULT_TRACKER_OPTIONS;
  const o: Required<FaceTrackerOptions> = {
    iouThreshold: options.iouThreshold ?? d.iouThreshold,
    maxCentroidDistance: options.maxCentroidDistance ?? d.maxCentroidDistance,
    maxMissedFrames: options.maxMissedFrames ?? d.maxMissedFrames,
    minHits: options.minHits ?? d.minHits,
    confirmWithin: options.confirmWithin ?? Math.max(d.confirmWithin, options.minHits ?? d.minHits),
  };
  if (!(o.iouThreshold >= 0 && o.iouThreshold <= 1)) {
    throw new RangeError(`Expected iouThreshold in 0-1 but received ${String(o.iouThreshold)}`);
  }
  if (!(o.maxCentroidDistance >= 0 && Number.isFinite(o.maxCentroidDistance))) {
    throw new RangeError(
      `Expected a finite maxCentroidDistance >= 0 but received ${String(o.maxCentroidDistance)}`,
    );
  }
  if (!Number.isInteger(o.maxMissedFrames) || o.maxMissedFrames < 0) {
    throw new RangeError(
      `Expected an integer maxMissedFrames >= 0 but received ${String(o.maxMissedFrames)}`,
    );
  }
  if (!Number.isInteger(o.minHits) || o.minHits < 1) {
    throw new RangeError(`Expected an integer minHits >= 1 but received ${String(o.minHits)}`);
  }
  if (!(o.confirmWithin === Infinity || Number.isInteger(o.confirmWithin)) || o.confirmWithin < o.minHits) {
    throw new RangeError(
      `Expected an integer confirmWithin >= minHits (${o.minHits}) or Infinity but received ${String(o.confirmWithin)}`,
    );
  }
  return o;
}

interface Candidate {
  readonly track: number;
  readonly detection: number;
  /** 0: IoU match, 1: centroid fallback. */
  readonly tier: 0 | 1;
  /** IoU (higher is better) for tier 0, relative distance (lower is better) for tier 1. */
  readonly value: number;
}

/**
 * Associates each frame's face boxes with the faces of earlier frames. Call `update` once per frame on
 * which detection ran, with increasing frame indices; frames skipped between calls count as missed.
 */
export class FaceTracker {
  readonly options: Readonly<Required<FaceTrackerOptions>>;
  #tracks: TrackState[] = [];
  #nextId = 1;
  #lastFrameIndex: number | undefined;

  constructor(options: FaceTrackerOptions = {}) {
    this.options = Object.freeze(resolveOptions(options));
  }

  /**
   * Matches `boxes` (this frame's detections) to the live tracks, greedily: IoU >= iouThreshold pairs by
   * IoU, best first, then the remaining pairs within maxCentroidDistance, nearest first (ties to the
   * older track and the earlier detection). Unmatched detections start new tracks; tracks unmatched for
   * more than maxMissedFrames frames are dropped, and so are tracks that did not reach minHits within
   * their first confirmWithin updates. Returns one track per box, in the order of `boxes`.
   */
  update(boxes: readonly Box[], frameIndex: number): Track[] {
    if (!Number.isInteger(frameIndex)) {
      throw new RangeError(`Expected an integer frameIndex but received ${String(frameIndex)}`);
    }
    if (this.#lastFrameIndex !== undefined && frameIndex <= this.#lastFrameIndex) {
      throw new RangeError(
        `Expected frameIndex to increase but received ${frameIndex} after ${this.#lastFrameIndex}`,
      );
    }
    boxes.forEach(checkBox);
    this.#lastFrameIndex = frameIndex;
    this.#tracks = this.#tracks.filter((t) => this.#isAlive(t, frameIndex));
    for (const track of this.#tracks) track.updates++;

    const { iouThreshold, maxCentroidDistance } = this.options;
    const candidates: Candidate[] = [];
    this.#tracks.forEach((track, t) => {
      boxes.forEach((box, d) => {
        const iou = boxIou(track.box, box);
        if (iou > 0 && iou >= iouThreshold) {
          candidates.push({ track: t, detection: d, tier: 0, value: iou });
        } else if (maxCentroidDistance > 0) {
          const distance = relativeCentroidDistance(track.box, box);
          if (distance <= maxCentroidDistance)
            candidates.push({ track: t, detection: d, tier: 1, value: distance });
        }
      });
    });
    // Tracks are kept in id order, so comparing indices breaks ties by age then detection order.
    candidates.sort(
      (a, b) =>
        a.tier - b.tier ||
        (a.tier === 0 ? b.value - a.value : a.value - b.value) ||
        a.track - b.track ||
        a.detection - b.detection,
    );

    const trackFor: (TrackState | undefined)[] = new Array<TrackState | undefined>(boxes.length).fill(
      undefined,
    );
    const trackUsed = new Array<boolean>(this.#tracks.length).fill(false);
    for (const c of candidates) {
      if (trackUsed[c.track] || trackFor[c.detection] !== undefined) continue;
      trackUsed[c.track] = true;
      const track = this.#tracks[c.track];
      track.box = { ...boxes[c.detection] };
      track.hits += 1;
      track.lastFrame = frameIndex;
      trackFor[c.detection] = track;
    }
    const result = boxes.map((box, d) => {
      let track = trackFor[d];
      if (track === undefined) {
        track = {
          id: this.#nextId++,
          box: { ...box },
          hits: 1,
          updates: 1,
          firstFrame: frameIndex,
          lastFrame: frameIndex,
        };
        this.#tracks.push(track);
      }
      return this.#snapshot(track, frameIndex);
    });
    // Drop tracks that have now missed too many frames (a track unmatched here missed this frame), and
    // candidates whose first confirmWithin updates passed without minHits matches.
    const { maxMissedFrames, minHits, confirmWithin } = this.options;
    this.#tracks = this.#tracks.filter(
      (t) => frameIndex - t.lastFrame <= maxMissedFrames && (t.hits >= minHits || t.updates < confirmWithin),
    );
    return result;
  }

  /** The live tracks (matched or not) as of the last `update`, oldest first, each with its last box. */
  activeTracks(): Track[] {
    return this.#lastFrameIndex === undefined ? [] : this.predict(this.#lastFrameIndex);
  }

  /**
   * The tracks that will still be live at `frameIndex` (a frame on which detection is skipped), with
   * their last boxes and `missed` counted up to that frame, oldest first. Changes nothing.
   */
  predict(frameIndex: number): Track[] {
    return this.#tracks
      .filter((t) => frameIndex >= t.lastFrame && frameIndex - t.lastFrame <= this.options.maxMissedFrames)
      .map((t) => this.#snapshot(t, frameIndex));
  }

  /** Forgets every track; ids keep counting up so an old id never names a new face. */
  reset(): void {
    this.#tracks = [];
    this.#lastFrameIndex = undefined;
  }

  /** Whether a track may still be matched on `frameIndex`: at most maxMissedFrames frames missed before it. */
  #isAlive(track: TrackState, frameIndex: number): boolean {
    return frameIndex - track.lastFrame - 1 <= this.options.maxMissedFrames;
  }

  #snapshot(track: TrackState, frameIndex: number): Track {
    return {
      id: track.id,
      box: { ...track.box },
      hits: track.hits,
      missed: frameIndex - track.lastFrame,
      firstFrame: track.firstFrame,
      lastFrame: track.lastFrame,
      confirmed: track.hits >= this.options.minHits,
    };
  }
}
