/**
 * One chunk of a video for a queue worker: the per-frame work of `moodlens video` that needs the pixels,
 * and none of its state. `moodlens video` (FrameAnalyzer) mixes two kinds of work: what depends on one
 * frame only (detection, duplicate boxes, classification, the false-face check, appearance descriptors,
 * thumbnail scores) and state carried across the whole stream (track ids and confirmation, the persons
 * registry, the smoothed scores, the offline merge of persons). The state can reach back to the start of
 * the video (a person recognised again after an hour; a track confirmed long ago), so no warm-up makes
 * a chunk's state equal a whole-video run's. A chunk therefore records only the per-frame observations;
 * `queue results` replays the state over the observations of all the chunks in frame order
 * (src/queue/replay.ts), which gives what a whole-video run gives.
 *
 * The whole stream is decoded from frame 0 by the same reader as `moodlens video`, so frame indices and
 * times are the ones a whole-video run gives. The detector runs on the same schedule (every
 * detectEvery-th frame from 0); on the frames between, every face kept at the last detection is
 * classified at its box (the whole-video run classifies those of them whose track is still live).
 *
 * The one thing that needs pixels after the replay is each person's thumbnail (the clearest face seen):
 * a chunk keeps the crops that can win, per face it tracks itself (see ThumbnailCandidates).
 */
import type { Box, Image, RgbImage } from '../core/image.js';
import { EMOTION_LABELS } from '../emotion/labels.js';
import { toGray } from '../image/gray.js';
import { noFramesError, VideoFrameReader } from '../io/node/ffmpeg/decode.js';
import type { FfmpegBinary } from '../io/node/ffmpeg/locate.js';
import type { VideoInfo } from '../io/node/ffmpeg/probe.js';
import { detectedFace, type EmotionPipeline } from '../pipeline/pipeline.js';
import { pngDataUrl } from '../report/png.js';
import type { ModelQuality } from '../report/report.js';
import { faceDescriptor } from '../video/appearance.js';
import { DEFAULT_PERSON_OPTIONS } from '../video/persons.js';
import { DEFAULT_DUPLICATE_OVERLAP, suppressDuplicateBoxes } from '../video/duplicates.js';
import { plausibleFace, roundDetectorScore } from '../video/frame-analyzer.js';
import { cropThumbnail, thumbnailScore } from '../video/thumbnail.js';
import { FaceTracker } from '../video/tracker.js';
import type { ChunkSpec } from './jobs.js';

/** One face kept on a detection frame (after duplicate boxes and false faces are dropped). */
export interface ObservedFace {
  /** x, y, width, height. */
  readonly box: readonly [number, number, number, number];
  /** The classifier's probabilities, EMOTION_LABELS order, float64 little-endian, base64. */
  readonly scores: string;
  /** The appearance descriptor FrameAnalyzer computes for the face, float32 little-endian, base64. */
  readonly descriptor: string;
  /** thumbnailScore of the detection. */
  readonly thumb: number;
  /**
   * The learned detector's score (0-1) of the box, as `moodlens video` records it (rounded to 4
   * decimals); absent with Haar, whose boxes have none.
   */
  readonly score?: number;
}

/** What a chunk observed on one frame. */
export interface ObservedFrame {
  readonly frame: number;
  readonly time: number;
  /** A detection frame: the faces kept, in the detector's order. */
  readonly faces?: readonly ObservedFace[];
  /**
   * Any other frame: the probabilities of each face kept at the last detection (in that order, at its
   * box), 7 float64 each, concatenated, base64.
   */
  readonly scores?: string;
}

/** A thumbnail that may be a person's: the crop of the `index`-th face of detection frame `frame`. */
export interface ThumbnailCandidate {
  readonly frame: number;
  readonly index: number;
  /** pngDataUrl of cropThumbnail of the face (what the report embeds). */
  readonly url: string;
}

/** What a video chunk job returns (stored in Redis as the job's return value). */
export interface VideoChunkResult {
  readonly kind: 'video';
  readonly file: string;
  readonly video: {
    readonly width: number;
    readonly height: number;
    readonly fps: number;
    readonly expectedFrames: number | null;
  };
  readonly chunk: ChunkSpec;
  /** One observation per frame of the chunk's range decoded, in frame order. */
  readonly records: readonly ObservedFrame[];
  /** Crops that may become a person's thumbnail. */
  readonly thumbnails: readonly ThumbnailCandidate[];
  /** Frames of the chunk's range decoded and analysed. */
  readonly frames: number;
  /** Whether the stream was read without problem over what this chunk read. */
  readonly complete: boolean;
  readonly reason?: string;
  /** The emotion model's measured quality (from its card on the worker), for the report. */
  readonly model?: ModelQuality;
}

export interface ChunkOptions {
  readonly ffmpeg: FfmpegBinary;
  readonly info: VideoInfo;
  readonly pipeline: EmotionPipeline;
  readonly chunk: ChunkSpec;
  readonly detectEvery: number;
  /** Called every few analysed frames with the share of the chunk done, 0-1. */
  readonly onProgress?: (done: number) => void;
  readonly model?: ModelQuality;
}

/** ffmpeg's messages when its output pipe is closed under it (what stopping at a chunk's end does). */
const OUR_STOP =
  /pipe:1|broken pipe|connection reset by peer|error writing trailer|av_interleaved_write_frame|conversion failed/i;

/** Bytes of a typed array as base64 (little-endian, as every platform Node runs on). */
export function encodeFloats(values: Float64Array | Float32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

export function decodeFloat64(text: string): Float64Array {
  const bytes = Buffer.from(text, 'base64');
  return new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function decodeFloat32(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function scoreArray(scores: Readonly<Record<string, number>>): number[] {
  return EMOTION_LABELS.map((label) => scores[label]);
}

/**
 * Thumbnail crops a chunk keeps. A person's thumbnail is the first of the highest-scoring detections of
 * their tracks from the moment each track was confirmed. The chunk tracks faces itself (a FaceTracker
 * from its warm-up on, which starts it as a whole-video run's tracker is there) and keeps, per track, the
 * first of its best detections on the chunk's frames from its confirmation on: one crop a track, and the
 * winner whenever the replay's tracks are the chunk's. Where they differ (a face seen on and off at the
 * chunk's start) and the winner was not kept, the replay takes the best crop kept for that person.
 */
class ThumbnailCandidates {
  readonly #tracker = new FaceTracker();
  readonly #best = new Map<number, { frame: number; index: number; score: number; image: RgbImage }>();

  /** Tracks one detection frame's kept boxes; `keep` says whether its crops may be candidates. */
  observe(
    image: Image,
    boxes: readonly Box[],
    scores: readonly number[],
    frame: number,
    keep: boolean,
  ): void {
    const tracks = this.#tracker.update(boxes, frame);
    if (!keep) return;
    tracks.forEach((track, index) => {
      const best = this.#best.get(track.id);
      if (!track.confirmed || (best !== undefined && best.score >= scores[index])) return;
      this.#best.set(track.id, {
        frame,
        index,
        score: scores[index],
        image: cropThumbnail(image, boxes[index]),
      });
    });
  }

  candidates(): ThumbnailCandidate[] {
    const all = [...this.#best.values()].sort((a, b) => a.frame - b.frame || a.index - b.index);
    return all.map(({ frame, index, image }) => ({ frame, index, url: pngDataUrl(image) }));
  }
}

/**
 * Analyses one chunk. Throws CORRUPT_VIDEO (coded) when not one frame of the video decodes.
 */
export async function analyzeChunk(options: ChunkOptions): Promise<VideoChunkResult> {
  const { chunk, info, pipeline, detectEvery } = options;
  const observed: ObservedFrame[] = [];
  const thumbnails = new ThumbnailCandidates();
  const span = (chunk.end ?? info.expectedFrames ?? chunk.start + 1) - chunk.start;
  /** The boxes kept at the last detection frame, in the detector's order. */
  let lastBoxes: Box[] = [];
  let frames = 0;
  let stoppedEarly = false;
  const reader = VideoFrameReader.open(options.ffmpeg, info);
  const stream = reader.frames();
  try {
    for await (const frame of stream) {
      if (chunk.end !== null && frame.index >= chunk.end) {
        stoppedEarly = true;
        break;
      }
      if (frame.index < chunk.warmStart) continue;
      const own = frame.index >= chunk.start;
      const detection = frame.index % detectEvery === 0;
      // Before the chunk: only the detection frames, for the thumbnails' tracker and the boxes of the
      // frames between the last of them and the chunk's start.
      if (!own && !detection) continue;
      const gray = toGray(frame.image);
      if (detection) {
        // The frame as decoded, as FrameAnalyzer gives it (the learned detector scores colour better).
        const found = await pipeline.detector.detect(frame.image, pipeline.options.detect);
        const boxes = suppressDuplicateBoxes(found, DEFAULT_DUPLICATE_OVERLAP);
        // Each box with the learned detector's score, when it has one (recorded per face below).
        const all = await pipeline.classifyFaces(gray, boxes.map(detectedFace));
        const kept = all.filter((face) => plausibleFace(gray, face));
        lastBoxes = kept.map((face) => face.box);
        const thumbs = kept.map((face) => thumbnailScore(gray, face.box, face.landmarks));
        thumbnails.observe(frame.image, lastBoxes, thumbs, frame.index, own);
        if (own) {
          observed.push({
            frame: frame.index,
            time: frame.time,
            faces: kept.map((face, i) => ({
              box: [face.box.x, face.box.y, face.box.width, face.box.height],
              scores: encodeFloats(Float64Array.from(scoreArray(face.emotion.scores))),
              descriptor: encodeFloats(faceDescriptor(gray, face.box, DEFAULT_PERSON_OPTIONS.descriptor)),
              thumb: thumbs[i],
              ...(face.score === undefined ? {} : { score: roundDetectorScore(face.score) }),
            })),
          });
        }
      } else {
        const classified = await pipeline.classifyFaces(
          gray,
          lastBoxes.map((box) => ({ box })),
        );
        observed.push({
          frame: frame.index,
          time: frame.time,
          scores: encodeFloats(
            Float64Array.from(classified.flatMap((face) => scoreArray(face.emotion.scores))),
          ),
        });
      }
      if (!own) continue;
      frames++;
      if (frames % 10 === 0) options.onProgress?.(Math.min(1, frames / Math.max(span, 1)));
    }
  } finally {
    await stream.return(undefined);
    await reader.close();
  }
  const outcome = reader.outcome;
  if (outcome.frames === 0) throw noFramesError(info, outcome);
  // A chunk that stopped at its end closed ffmpeg's output pipe and killed it: its complaints about
  // that pipe are ours, only damage to the input counts.
  const damage = stoppedEarly ? outcome.problems.filter((p) => !OUR_STOP.test(p)) : [];
  const complete = stoppedEarly ? damage.length === 0 : outcome.complete;
  const reason = stoppedEarly
    ? complete
      ? undefined
      : `ffmpeg reported decoding problems, e.g. "${damage[0]}"`
    : outcome.reason;
  return {
    kind: 'video',
    file: info.file,
    video: {
      width: info.width,
      height: info.height,
      fps: info.fps,
      expectedFrames: info.expectedFrames ?? null,
    },
    chunk,
    records: observed,
    thumbnails: thumbnails.candidates(),
    frames,
    complete,
    ...(reason === undefined ? {} : { reason }),
    ...(options.model === undefined ? {} : { model: options.model }),
  };
}
