/**
 * The chunks of one video back into one session: records in frame order, each chunk's local track ids
 * renamed to the ids a whole-video run gives, and a check that every frame appears once. Pure.
 *
 * Track ids: chunk 0's are kept. A later chunk analysed warm-up frames that an earlier chunk owns; a face
 * there with the same box as an already-named face takes that name, and a face first seen after takes
 * the next free id, in order of first appearance (which is how the tracker numbers faces). Persons (when
 * the analysis numbers them) are renamed the same way. A whole-video run may still tell persons apart
 * differently: one who leaves and comes back in a later chunk is recognised only within the warm-up's
 * reach, and persons merged at the end of a whole-video run are not merged here.
 */
import { MoodLensError } from '../core/errors.js';
import type { Box } from '../core/image.js';
import type { FrameRecord } from '../report/records.js';
import type { OverlapFace, VideoChunkResult } from './video-chunk.js';

export interface MergedVideo {
  readonly records: FrameRecord[];
  /** Frames in the session (each appears in at least one record). */
  readonly frames: number;
  readonly complete: boolean;
  readonly reason?: string;
}

function iou(a: Box, b: Box): number {
  const x0 = Math.max(a.x, b.x);
  const y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.width, b.x + b.width);
  const y1 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Smallest overlap for a warm-up face to take a named face's id when their boxes are not identical. */
const MATCH_IOU = 0.5;

/** The named record a warm-up face corresponds to, from the named records of its frame. */
function matchFace(face: OverlapFace, named: readonly FrameRecord[] | undefined): FrameRecord | undefined {
  let best: { record: FrameRecord; score: number } | undefined;
  for (const record of named ?? []) {
    if (record.track === null) continue;
    const box = { x: record.x ?? 0, y: record.y ?? 0, width: record.width ?? 0, height: record.height ?? 0 };
    const score = iou(face, box);
    if (score >= MATCH_IOU && (best === undefined || score > best.score)) best = { record, score };
  }
  return best?.record;
}

/** The `person` of a record (persons are numbered by the analysis when it tells them apart). */
function personOf(record: { person?: number | null }): number | null | undefined {
  return record.person;
}

/** Local ids to global ones: kept ones, matched ones, and new ones numbered in order of appearance. */
class Renamer {
  #next = 1;
  readonly #names = new Map<number, number>();

  constructor(readonly keep: boolean) {}

  match(local: number, global: number): void {
    if (!this.#names.has(local)) this.#names.set(local, global);
  }

  name(local: number): number {
    let id = this.keep ? local : this.#names.get(local);
    if (id === undefined) {
      id = this.#next;
      this.#names.set(local, id);
    }
    return id;
  }

  /** Global ids from `next` on are free (called with every id in use so far). */
  taken(id: number): void {
    this.#next = Math.max(this.#next, id + 1);
  }

  continueFrom(previous: Renamer): void {
    this.#next = previous.#next;
  }
}

function broken(file: string, message: string): MoodLensError {
  // A bug or a tampered queue, not a bad input: the merge refuses rather than write a wrong session.
  return new MoodLensError('MOODLENS_ERR_INTERNAL', `Cannot merge the chunks of ${file}: ${message}`);
}

/**
 * Merges the chunk results of one video (any order; every chunk of the plan must be there).
 * @throws MoodLensError `MOODLENS_ERR_INTERNAL` when a chunk is missing or frames repeat or are missing.
 */
export function mergeChunks(chunks: readonly VideoChunkResult[]): MergedVideo {
  if (chunks.length === 0) throw broken('(no file)', 'no chunk');
  const file = chunks[0].file;
  const sorted = [...chunks].sort((a, b) => a.chunk.index - b.chunk.index);
  const count = sorted[0].chunk.count;
  sorted.forEach((c, i) => {
    if (c.chunk.index !== i || c.chunk.count !== count) {
      throw broken(
        file,
        `expected chunk ${i + 1} of ${count} but found ${c.chunk.index + 1} of ${c.chunk.count}`,
      );
    }
  });
  const byFrame = new Map<number, FrameRecord[]>();
  const records: FrameRecord[] = [];
  let tracks: Renamer | undefined;
  let persons: Renamer | undefined;
  let expectedFrame = 0;
  let ended = false;
  for (const chunk of sorted) {
    const first = chunk.chunk.index === 0;
    const nextTracks: Renamer = new Renamer(first);
    const nextPersons: Renamer = new Renamer(first);
    if (tracks !== undefined) nextTracks.continueFrom(tracks);
    if (persons !== undefined) nextPersons.continueFrom(persons);
    tracks = nextTracks;
    persons = nextPersons;
    for (const face of first ? [] : chunk.overlap) {
      const named = matchFace(face, byFrame.get(face.frame));
      if (named === undefined || named.track === null) continue;
      tracks.match(face.track, named.track);
      const local = face.person;
      const global = personOf(named);
      if (typeof local === 'number' && typeof global === 'number') persons.match(local, global);
    }
    if (chunk.frames > 0 && ended) {
      throw broken(file, `chunk ${chunk.chunk.index + 1} has frames after an earlier chunk ended the video`);
    }
    for (const record of chunk.records) {
      if (record.frame !== expectedFrame && record.frame !== expectedFrame - 1) {
        throw broken(file, `frame ${record.frame} follows frame ${expectedFrame - 1}`);
      }
      if (record.frame < chunk.chunk.start || (chunk.chunk.end !== null && record.frame >= chunk.chunk.end)) {
        throw broken(file, `frame ${record.frame} lies outside chunk ${chunk.chunk.index + 1}`);
      }
      if (record.frame === expectedFrame) expectedFrame++;
      const merged: FrameRecord = { ...record };
      if (record.track !== null) {
        merged.track = tracks.name(record.track);
        tracks.taken(merged.track);
      }
      const person = personOf(record);
      if (typeof person === 'number') {
        const id = persons.name(person);
        persons.taken(id);
        (merged as { person?: number | null }).person = id;
      }
      records.push(merged);
      const list = byFrame.get(merged.frame) ?? [];
      list.push(merged);
      byFrame.set(merged.frame, list);
    }
    // A chunk that ends before its range's end ends the video (it is shorter than its header said).
    const rangeEnd = chunk.chunk.end;
    if (rangeEnd !== null && expectedFrame < rangeEnd) ended = true;
  }
  const incomplete = sorted.find((c) => !c.complete);
  return {
    records,
    frames: expectedFrame,
    complete: incomplete === undefined,
    ...(incomplete === undefined
      ? {}
      : { reason: incomplete.reason ?? 'the video could not be read to the end' }),
  };
}
