/**
 * The chunks of one video back into one stream of observations, in frame order, with a check that every
 * frame appears once. Pure. What the stream means (tracks, persons, smoothed scores) is decided after,
 * over the whole stream at once, by src/queue/replay.ts.
 */
import { MoodLensError } from '../core/errors.js';
import type { ObservedFrame, ThumbnailCandidate, VideoChunkResult } from './video-chunk.js';

export interface MergedVideo {
  /** One observation per frame, frames 0, 1, 2, ... */
  readonly observations: ObservedFrame[];
  /** Every chunk's thumbnail candidates. */
  readonly thumbnails: ThumbnailCandidate[];
  /** Frames in the session. */
  readonly frames: number;
  readonly complete: boolean;
  readonly reason?: string;
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
  const observations: ObservedFrame[] = [];
  const thumbnails: ThumbnailCandidate[] = [];
  let expectedFrame = 0;
  let ended = false;
  for (const chunk of sorted) {
    if (chunk.frames > 0 && ended) {
      throw broken(file, `chunk ${chunk.chunk.index + 1} has frames after an earlier chunk ended the video`);
    }
    for (const observation of chunk.records) {
      if (observation.frame !== expectedFrame) {
        throw broken(file, `frame ${observation.frame} follows frame ${expectedFrame - 1}`);
      }
      const { start, end } = chunk.chunk;
      if (observation.frame < start || (end !== null && observation.frame >= end)) {
        throw broken(file, `frame ${observation.frame} lies outside chunk ${chunk.chunk.index + 1}`);
      }
      expectedFrame++;
      observations.push(observation);
    }
    thumbnails.push(...chunk.thumbnails);
    // A chunk that ends before its range's end ends the video (it is shorter than its header said).
    const rangeEnd = chunk.chunk.end;
    if (rangeEnd !== null && expectedFrame < rangeEnd) ended = true;
  }
  const incomplete = sorted.find((c) => !c.complete);
  return {
    observations,
    thumbnails,
    frames: expectedFrame,
    complete: incomplete === undefined,
    ...(incomplete === undefined
      ? {}
      : { reason: incomplete.reason ?? 'the video could not be read to the end' }),
  };
}
