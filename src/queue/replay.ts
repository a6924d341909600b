/**
 * A chunked video's results from its chunks' observations (src/queue/video-chunk.ts): the state of
 * `moodlens video` replayed over the whole stream, in frame order, as FrameAnalyzer.analyzeFrame keeps it
 * (FaceTracker, PersonRegistry, ScoreSmoother and the thumbnails, fed the same values in the same order),
 * then the same offline steps as analyzeVideo (numberPersons: the persons merged, numbered and written
 * into every row of their tracks; thumbnails per final person; buildReport). Pure: no pixels, no files.
 *
 * This mirrors FrameAnalyzer's bookkeeping line for line; test/queue.test.ts compares the outcome with
 * `moodlens video`'s files byte for byte, so a change there that is not made here fails that test.
 */
import type { Box } from '../core/image.js';
import type { EmotionResult } from '../emotion/classifier.js';
import { EMOTION_LABELS, type Emotion } from '../emotion/labels.js';
import { numberPersons } from '../io/node/video-analysis.js';
import { FrameRecordStore } from '../report/record-store.js';
import { emptyFrameRecord } from '../report/records.js';
import type { PersonSnapshot } from '../video/frame-analyzer.js';
import { toFrameRecord } from '../video/frame-analyzer.js';
import { PersonRegistry } from '../video/persons.js';
import { ScoreSmoother } from '../video/smoothing.js';
import { FaceTracker, type Track } from '../video/tracker.js';
import { decodeFloat32, decodeFloat64, type ObservedFrame, type ThumbnailCandidate } from './video-chunk.js';

export interface ReplayOptions {
  readonly width: number;
  readonly height: number;
  readonly smoothingAlpha: number;
}

export interface ReplayResult {
  /** The records as analyzeVideo leaves them: final person ids in every row of a person's tracks. */
  readonly records: FrameRecordStore;
  /** Per final person: their thumbnail (a PNG data URL). */
  readonly thumbnails: Map<number, string>;
  /** Final persons whose thumbnail is the best crop kept rather than the clearest face (see video-chunk). */
  readonly approximateThumbnails: number;
}

function scoresOf(values: Float64Array, at = 0): Record<Emotion, number> {
  const scores = {} as Record<Emotion, number>;
  EMOTION_LABELS.forEach((label, k) => (scores[label] = values[at + k]));
  return scores;
}

interface Thumb {
  readonly frame: number;
  readonly index: number;
  readonly score: number;
}

/** Replays a whole video's observations (frames 0, 1, 2, ...); see the module comment. */
export function replayVideo(
  observations: readonly ObservedFrame[],
  candidates: readonly ThumbnailCandidate[],
  options: ReplayOptions,
): ReplayResult {
  const tracker = new FaceTracker();
  const persons = new PersonRegistry();
  const smoother = new ScoreSmoother({ alpha: options.smoothingAlpha });
  const crops = new Map(candidates.map((c) => [`${c.frame}:${c.index}`, c.url]));
  /** Per online person: the clearest face (as FrameAnalyzer keeps it), and the clearest with a crop kept. */
  const thumbs = new Map<number, Thumb>();
  const keptThumbs = new Map<number, Thumb>();
  const diagonal = Math.hypot(options.width, options.height);
  const records = new FrameRecordStore();
  let liveTracks = new Set<number>();
  /** The last detection: its frame's tracks (ids) and, per track, the index of its face there. */
  let lastDetection: { ids: Set<number>; index: Map<number, number> } | undefined;
  for (const observation of observations) {
    const { frame, time } = observation;
    let tracks: Track[];
    let raw: Record<Emotion, number>[];
    /** The learned detector's score of each track's face on a detection frame (none between). */
    let detectorScores: (number | undefined)[] = [];
    if (observation.faces !== undefined) {
      const faces = observation.faces;
      const boxes: Box[] = faces.map(({ box: [x, y, width, height] }) => ({ x, y, width, height }));
      const matched = tracker.update(boxes, frame);
      for (const [i, track] of matched.entries()) {
        persons.observe(track.id, decodeFloat32(faces[i].descriptor), track.box, frame);
        if (track.confirmed) persons.assign(track.id, frame, diagonal);
      }
      const live = new Set(tracker.activeTracks().map((track) => track.id));
      for (const id of liveTracks) if (!live.has(id)) persons.release(id);
      liveTracks = live;
      const order = matched.map((track, i) => ({ track, i })).sort((a, b) => a.track.id - b.track.id);
      tracks = order.map((o) => o.track);
      raw = order.map((o) => scoresOf(decodeFloat64(faces[o.i].scores)));
      detectorScores = order.map((o) => faces[o.i].score);
      lastDetection = {
        ids: new Set(tracks.map((track) => track.id)),
        index: new Map(order.map((o) => [o.track.id, o.i])),
      };
      smoother.retain(live);
      for (const { track, i } of order) {
        const person = persons.personOf(track.id);
        if (person === undefined) continue;
        const offer = { frame, index: i, score: faces[i].thumb };
        const kept = thumbs.get(person);
        if (kept === undefined || kept.score < offer.score) thumbs.set(person, offer);
        const keptCrop = keptThumbs.get(person);
        if (crops.has(`${frame}:${i}`) && (keptCrop === undefined || keptCrop.score < offer.score)) {
          keptThumbs.set(person, offer);
        }
      }
    } else {
      const shown = lastDetection?.ids ?? new Set<number>();
      tracks = tracker.predict(frame).filter((track) => shown.has(track.id));
      const values = decodeFloat64(observation.scores ?? '');
      raw = tracks.map((track) => scoresOf(values, 7 * (lastDetection?.index.get(track.id) ?? 0)));
    }
    if (tracks.length === 0) records.push(emptyFrameRecord(frame, time));
    tracks.forEach((track, i) => {
      const emotion: EmotionResult = smoother.update(track.id, raw[i]);
      const face = {
        track: track.id,
        person: persons.personOf(track.id) ?? null,
        box: track.box,
        detected: observation.faces !== undefined,
        emotion,
        rawScores: raw[i],
        ...(detectorScores[i] === undefined ? {} : { score: detectorScores[i] }),
      };
      records.push(toFrameRecord(face, frame, time));
    });
  }
  // The whole video known: as analyzeVideo, merge and number the persons and write them into the records.
  const snapshots: PersonSnapshot[] = persons.persons.map((person) => ({
    id: person.id,
    appearance: person.appearance.value(),
    detections: person.appearance.count,
  }));
  const personMap = numberPersons(records, snapshots);
  // Thumbnails as analyzeVideo picks them: per final person the best of its online persons' (the first on
  // a tie), the online persons in id order.
  const best = new Map<number, { score: number; url: string }>();
  const approximate = new Set<number>();
  for (const person of persons.persons) {
    const final = personMap.get(person.id);
    const thumb = thumbs.get(person.id);
    if (final === undefined || thumb === undefined) continue;
    const kept = best.get(final);
    if (kept !== undefined && !(thumb.score > kept.score)) continue;
    let url = crops.get(`${thumb.frame}:${thumb.index}`);
    if (url === undefined) {
      const fallback = keptThumbs.get(person.id);
      url = fallback === undefined ? undefined : crops.get(`${fallback.frame}:${fallback.index}`);
      if (url !== undefined) approximate.add(final);
    } else {
      approximate.delete(final);
    }
    if (url !== undefined) best.set(final, { score: thumb.score, url });
  }
  return {
    records,
    thumbnails: new Map([...best.entries()].map(([id, { url }]) => [id, url])),
    approximateThumbnails: approximate.size,
  };
}
