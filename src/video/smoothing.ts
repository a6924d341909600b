/**
 * Per-track temporal smoothing of emotion scores, so a face's label does not flicker from frame to frame
 * in video. Pure and browser-safe.
 */
import type { EmotionResult } from '../emotion/classifier.js';
import { EMOTION_LABELS, type Emotion } from '../emotion/labels.js';

export type EmotionScores = Readonly<Record<Emotion, number>>;

export interface ScoreSmootherOptions {
  /**
   * Weight of the newest frame in the exponential moving average, in (0, 1]: `smoothed = alpha * scores +
   * (1 - alpha) * previous`. Default 0.4 (DEFAULT_SMOOTHING_ALPHA); 1 turns smoothing off, smaller values
   * smooth more but react more slowly.
   */
  readonly alpha?: number;
}

/** The default `alpha` of ScoreSmoother. */
export const DEFAULT_SMOOTHING_ALPHA = 0.4;

/** Keeps an exponential moving average of the seven emotion probabilities for each track id. */
export class ScoreSmoother {
  readonly alpha: number;
  readonly #state = new Map<number, Record<Emotion, number>>();

  constructor(options: ScoreSmootherOptions = {}) {
    const alpha = options.alpha ?? DEFAULT_SMOOTHING_ALPHA;
    if (!(alpha > 0 && alpha <= 1)) {
      throw new RangeError(`Expected alpha in (0, 1] but received ${String(alpha)}`);
    }
    this.alpha = alpha;
  }

  /**
   * Folds this frame's `scores` (non-negative, not all 0; normalised here) into the track's average and
   * returns the smoothed result: scores summing to 1, with the label and confidence of the largest (ties
   * to the first in EMOTION_LABELS order). The first update of a track returns its scores as given.
   */
  update(trackId: number, scores: EmotionScores): EmotionResult {
    const current = normalise(scores);
    const previous = this.#state.get(trackId);
    let next = current;
    if (previous !== undefined) {
      const mixed = {} as Record<Emotion, number>;
      for (const label of EMOTION_LABELS) {
        mixed[label] = this.alpha * current[label] + (1 - this.alpha) * previous[label];
      }
      next = normalise(mixed);
    }
    this.#state.set(trackId, next);
    return toResult(next);
  }

  /** The track's current smoothed result, or undefined if it has none. */
  get(trackId: number): EmotionResult | undefined {
    const state = this.#state.get(trackId);
    return state === undefined ? undefined : toResult(state);
  }

  /** Drops a track's average (call when the tracker drops the track); whether it had one. */
  forget(trackId: number): boolean {
    return this.#state.delete(trackId);
  }

  /** Drops every track's average except those in `keep` (e.g. the tracker's live ids). */
  retain(keep: Iterable<number>): void {
    const ids = new Set(keep);
    for (const id of [...this.#state.keys()]) if (!ids.has(id)) this.#state.delete(id);
  }

  /** Number of tracks with an average. */
  get size(): number {
    return this.#state.size;
  }
}

function normalise(scores: EmotionScores): Record<Emotion, number> {
  let sum = 0;
  for (const label of EMOTION_LABELS) {
    const value = scores[label];
    if (!(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`Expected a finite score >= 0 for ${label} but received ${String(value)}`);
    }
    sum += value;
  }
  if (!(sum > 0)) throw new RangeError('Expected emotion scores with a positive sum but all were 0');
  const out = {} as Record<Emotion, number>;
  for (const label of EMOTION_LABELS) out[label] = scores[label] / sum;
  return out;
}

function toResult(scores: Record<Emotion, number>): EmotionResult {
  let label: Emotion = EMOTION_LABELS[0];
  for (const candidate of EMOTION_LABELS) if (scores[candidate] > scores[label]) label = candidate;
  return { label, confidence: scores[label], scores: { ...scores } };
}
