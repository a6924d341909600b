/**
 * The chunks of one video back into one session: records in frame order, each chunk's local track ids
 * renamed to the ids a whole-video run gives, and a check that every frame appears once. Pure.
 *
 * Track ids: chunk 0's are kept. A later chunk analysed warm-up frames that an earlier chunk owns; a face
 * there with the same box as an already-named face takes that name, and a face first seen after takes
 * the next free id, in order of first appearance (which is how the tracker numbers faces).
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

/** The global id a warm-up face corresponds to, from the named faces of its frame. */
function matchFace(face: OverlapFace, named: readonly FrameRecord[] | undefined): number | undefined {
  let best: { id: number; score: number } | undefined;
  for (const record of named ?? []) {
    if (record.track === null) continue;
    const box = { x: record.x ?? 0, y: record.y ?? 0, width: record.width ?? 0, height: record.height ?? 0 };
    const score = iou(face, box);
    if (score >= MATCH_IOU && (best === undefined || score > best.score)) best = { id: record.track, score };
  }
  return best?.id;
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
  let nextId = 1;
  let expectedFrame = 0;
  let ended = false;
  for (const chunk of sorted) {
    const rename = new Map<number, number>();
    if (chunk.chunk.index > 0) {
      for (const face of chunk.overlap) {
        if (rename.has(face.track)) continue;
        const id = matchFace(face, byFrame.get(face.frame));
        if (id !== undefined) rename.set(face.track, id);
      }
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
      let track = record.track;
      if (track !== null) {
        let id = chunk.chunk.index === 0 ? track : rename.get(track);
        if (id === undefined) {
          id = nextId;
          rename.set(track, id);
        }
        nextId = Math.max(nextId, id + 1);
        track = id;
      }
      const merged: FrameRecord = { ...record, track };
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
