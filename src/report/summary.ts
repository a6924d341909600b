/**
 * The screening summary of a session: per person (track), how long each emotion was shown, which one
 * dominated, how often and how fast it changed, how much of the time was negative affect and the longest
 * negative stretch. A pure function of the frame records; browser-safe. Every figure uses the smoothed
 * label of each record (the one in frames.csv's `label` column).
 *
 * Time: each recorded frame lasts until the next recorded frame (capped at MAX_FRAME_INTERVALS median
 * frame intervals, so a paused webcam does not count as minutes of one emotion); the last frame lasts one
 * median interval. A person's seconds are the durations of the frames they were seen in.
 */
import { EMOTION_LABELS, type Emotion } from '../emotion/labels.js';
import { recordPerson, trackPersons, type FrameRecord } from './records.js';

/** The emotions counted as negative affect. */
export const NEGATIVE_EMOTIONS: readonly Emotion[] = Object.freeze(['angry', 'disgust', 'fear', 'sad']);

/** Persons seen for less than this many seconds are flagged `brief`: too few frames to summarise. */
export const DEFAULT_MIN_TRACK_SECONDS = 1;

/** A frame lasts at most this many median frame intervals. */
export const MAX_FRAME_INTERVALS = 5;

export interface SummaryOptions {
  /** Tracks seen for less than this are marked brief. Default 1 s. */
  readonly minTrackSeconds?: number;
}

export interface TrackSummary {
  /** The person's id (the number drawn on labelled frames; the track id for records without persons). */
  readonly track: number;
  /** Frames in which this person was seen. */
  readonly frames: number;
  /** Seconds seen (sum of those frames' durations). */
  readonly seconds: number;
  /** Time of the first and last frame seen. */
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Share (0-1) of the seconds seen with each emotion as the smoothed label; sums to 1. */
  readonly timeShare: Readonly<Record<Emotion, number>>;
  /** Time-weighted mean of the smoothed probabilities. */
  readonly meanScores: Readonly<Record<Emotion, number>>;
  /** The emotion with the largest time share (ties to the first in EMOTION_LABELS order). */
  readonly dominant: Emotion;
  /** Changes of the label between consecutive frames of continuous presence. */
  readonly changes: number;
  /** `changes` per minute seen (0 when seen for no time). */
  readonly changesPerMinute: number;
  /** Share (0-1) of the seconds seen with a negative label (angry, disgust, fear, sad). */
  readonly negativeShare: number;
  /** The longest run of consecutive frames with a negative label, in seconds, and when it began. */
  readonly longestNegativeSeconds: number;
  readonly longestNegativeStart: number | null;
  /** Seen for less than `minTrackSeconds`. */
  readonly brief: boolean;
}

export interface SessionSummary {
  /** Distinct frames recorded. */
  readonly frames: number;
  readonly framesWithFaces: number;
  /** Seconds from the first frame to the end of the last. */
  readonly duration: number;
  /** Median seconds between recorded frames (0 with fewer than two frames). */
  readonly frameInterval: number;
  readonly negativeEmotions: readonly Emotion[];
  readonly minTrackSeconds: number;
  /** One entry per person, by id (candidate faces never confirmed as a person are left out). */
  readonly tracks: readonly TrackSummary[];
}

/** One face-frame as the summary needs it. */
interface Observation {
  /** Position of its frame in the sorted list of distinct frames. */
  readonly position: number;
  readonly label: Emotion;
  readonly scores: Record<Emotion, number>;
}

function zeroScores(): Record<Emotion, number> {
  return Object.fromEntries(EMOTION_LABELS.map((label) => [label, 0])) as Record<Emotion, number>;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Each distinct frame's index, time and duration, in frame order. */
export function frameTimeline(records: Iterable<FrameRecord>): {
  frames: number[];
  times: number[];
  durations: number[];
  interval: number;
} {
  const timeOf = new Map<number, number>();
  for (const record of records) if (!timeOf.has(record.frame)) timeOf.set(record.frame, record.time);
  const frames = [...timeOf.keys()].sort((a, b) => a - b);
  const times = frames.map((frame) => timeOf.get(frame) ?? 0);
  const gaps: number[] = [];
  for (let i = 1; i < times.length; i++) gaps.push(Math.max(0, times[i] - times[i - 1]));
  const interval = median(gaps);
  const cap = MAX_FRAME_INTERVALS * interval;
  const durations = times.map((_, i) => (i + 1 < times.length ? Math.min(gaps[i], cap) : interval));
  return { frames, times, durations, interval };
}

/**
 * The screening summary of a session's records (any order; one or more records per frame). `records` is
 * iterated more than once (an array or a FrameRecordStore).
 */
export function summarizeSession(
  records: Iterable<FrameRecord>,
  options: SummaryOptions = {},
): SessionSummary {
  const minTrackSeconds = options.minTrackSeconds ?? DEFAULT_MIN_TRACK_SECONDS;
  if (!(minTrackSeconds >= 0 && Number.isFinite(minTrackSeconds))) {
    throw new RangeError(`Expected a finite minTrackSeconds >= 0 but received ${String(minTrackSeconds)}`);
  }
  const { frames, times, durations, interval } = frameTimeline(records);
  const positionOf = new Map(frames.map((frame, i) => [frame, i]));
  const byTrack = new Map<number, Observation[]>();
  const framesWithFaces = new Set<number>();
  // Grouped by person (a candidate never confirmed as a person stays out: often a false detection).
  const personOfTrack = trackPersons(records);
  for (const record of records) {
    const person = recordPerson(record, personOfTrack);
    if (person === undefined || record.label === null) continue;
    framesWithFaces.add(record.frame);
    const scores = zeroScores();
    for (const label of EMOTION_LABELS) scores[label] = record[label] ?? 0;
    let list = byTrack.get(person);
    if (list === undefined) byTrack.set(person, (list = []));
    list.push({ position: positionOf.get(record.frame) ?? 0, label: record.label, scores });
  }
  const negative = new Set<Emotion>(NEGATIVE_EMOTIONS);
  const tracks = [...byTrack.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([track, list]) => summarizeTrack(track, list, times, durations, negative, minTrackSeconds));
  const duration =
    times.length === 0 ? 0 : times[times.length - 1] - times[0] + durations[durations.length - 1];
  return {
    frames: frames.length,
    framesWithFaces: framesWithFaces.size,
    duration,
    frameInterval: interval,
    negativeEmotions: NEGATIVE_EMOTIONS,
    minTrackSeconds,
    tracks,
  };
}

function summarizeTrack(
  track: number,
  observations: Observation[],
  times: readonly number[],
  durations: readonly number[],
  negative: ReadonlySet<Emotion>,
  minTrackSeconds: number,
): TrackSummary {
  // One observation per frame (a duplicate record for the same track and frame counts once).
  const list = observations
    .sort((a, b) => a.position - b.position)
    .filter((o, i, all) => i === 0 || o.position !== all[i - 1].position);
  const totalSeconds = list.reduce((s, o) => s + durations[o.position], 0);
  // With no measurable time (a single frame), every frame weighs the same.
  const weight = (o: Observation): number => (totalSeconds > 0 ? durations[o.position] : 1);
  const totalWeight = totalSeconds > 0 ? totalSeconds : list.length;

  const labelWeight = zeroScores();
  const meanScores = zeroScores();
  let changes = 0;
  let negativeWeight = 0;
  let run = 0;
  let runStart = 0;
  let longest = 0;
  let longestStart: number | null = null;
  list.forEach((o, i) => {
    const w = weight(o);
    labelWeight[o.label] += w;
    for (const label of EMOTION_LABELS) meanScores[label] += o.scores[label] * w;
    const continuous = i > 0 && list[i - 1].position === o.position - 1;
    if (continuous && list[i - 1].label !== o.label) changes++;
    if (negative.has(o.label)) {
      negativeWeight += w;
      if (!(continuous && negative.has(list[i - 1].label))) {
        run = 0;
        runStart = times[o.position];
      }
      run += durations[o.position];
      if (run > longest) {
        longest = run;
        longestStart = runStart;
      }
    }
  });
  const timeShare = zeroScores();
  for (const label of EMOTION_LABELS) {
    timeShare[label] = labelWeight[label] / totalWeight;
    meanScores[label] /= totalWeight;
  }
  const dominant = EMOTION_LABELS.reduce((best, label) =>
    timeShare[label] > timeShare[best] ? label : best,
  );
  const minutes = totalSeconds / 60;
  return {
    track,
    frames: list.length,
    seconds: totalSeconds,
    firstSeen: times[list[0].position],
    lastSeen: times[list[list.length - 1].position],
    timeShare,
    meanScores,
    dominant,
    changes,
    changesPerMinute: minutes > 0 ? changes / minutes : 0,
    negativeShare: negativeWeight / totalWeight,
    longestNegativeSeconds: longest,
    longestNegativeStart: longestStart,
    brief: totalSeconds < minTrackSeconds,
  };
}

/** One time bin of a track's timeline: mean smoothed scores of the frames seen in it, or null. */
export interface TimelineBin {
  readonly start: number;
  readonly end: number;
  readonly scores: Readonly<Record<Emotion, number>> | null;
}

/**
 * A track's timeline in at most `maxBins` bins over the session (for plots): each bin holds the same
 * number of consecutive recorded frames (so equal time at a constant frame rate, and never an empty bin
 * from rounded timestamps) and the mean smoothed scores of those in which the track was seen, or null
 * when it was seen in none.
 */
export function trackTimeline(records: Iterable<FrameRecord>, track: number, maxBins = 400): TimelineBin[] {
  return trackTimelines(records, [track], maxBins).get(track) ?? [];
}

/** The timelines of several tracks (see trackTimeline) in one pass over the records. */
export function trackTimelines(
  records: Iterable<FrameRecord>,
  tracks: readonly number[],
  maxBins = 400,
): Map<number, TimelineBin[]> {
  const { frames, times, durations } = frameTimeline(records);
  const n = frames.length;
  const out = new Map<number, TimelineBin[]>();
  if (n === 0) {
    for (const track of tracks) out.set(track, []);
    return out;
  }
  const bins = Math.max(1, Math.min(maxBins, n));
  const binOf = new Map(frames.map((frame, position) => [frame, Math.floor((position * bins) / n)]));
  const sums = new Map(
    tracks.map((track) => [track, Array.from({ length: bins }, () => ({ n: 0, scores: zeroScores() }))]),
  );
  const personOfTrack = trackPersons(records);
  for (const record of records) {
    const person = recordPerson(record, personOfTrack);
    if (person === undefined) continue;
    const trackSums = sums.get(person);
    if (trackSums === undefined) continue;
    const bin = trackSums[binOf.get(record.frame) ?? 0];
    bin.n++;
    for (const label of EMOTION_LABELS) bin.scores[label] += record[label] ?? 0;
  }
  for (const [track, trackSums] of sums) {
    out.set(
      track,
      trackSums.map((bin, b) => {
        const first = Math.ceil((b * n) / bins);
        const last = Math.ceil(((b + 1) * n) / bins) - 1;
        const start = times[first];
        const end = times[last] + durations[last];
        if (bin.n === 0) return { start, end, scores: null };
        const scores = zeroScores();
        for (const label of EMOTION_LABELS) scores[label] = bin.scores[label] / bin.n;
        return { start, end, scores };
      }),
    );
  }
  return out;
}
