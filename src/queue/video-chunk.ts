/**
 * One chunk of a video through the same stages as `moodlens video` (decode, detect every Nth frame,
 * track, classify, smooth), for a queue worker. The whole stream is decoded from frame 0 by the same
 * reader as `moodlens video`, so frame indices and times are the ones a whole-video run gives; frames
 * before the warm-up are only decoded (cheap next to the analysis), the warm-up frames are analysed to
 * bring the tracker and the smoothing to their whole-video state, and the chunk's own frames are kept.
 */
import { noFramesError, VideoFrameReader } from '../io/node/ffmpeg/decode.js';
import type { FfmpegBinary } from '../io/node/ffmpeg/locate.js';
import type { VideoInfo } from '../io/node/ffmpeg/probe.js';
import type { EmotionPipeline } from '../pipeline/pipeline.js';
import type { FrameRecord } from '../report/records.js';
import type { ModelQuality } from '../report/report.js';
import { FrameAnalyzer } from '../video/frame-analyzer.js';
import type { ChunkSpec } from './jobs.js';

/** A face seen during the warm-up: enough to match its local track id to the previous chunk's. */
export interface OverlapFace {
  readonly frame: number;
  readonly track: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** Its person, when the analysis names persons (null: a candidate not confirmed yet). */
  readonly person?: number | null;
}

/** What a video job returns (stored in Redis as the job's return value). */
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
  /** The chunk's records (smoothed columns, as frames.csv), in frame order, with chunk-local track ids. */
  readonly records: readonly FrameRecord[];
  /** Faces of the warm-up frames, chunk-local ids. */
  readonly overlap: readonly OverlapFace[];
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
  readonly smoothingAlpha: number;
  readonly model?: ModelQuality;
  /** Called every few analysed frames with the share of the chunk done, 0-1. */
  readonly onProgress?: (done: number) => void;
}

/** ffmpeg's messages when its output pipe is closed under it (what stopping at a chunk's end does). */
const OUR_STOP =
  /pipe:1|broken pipe|connection reset by peer|error writing trailer|av_interleaved_write_frame|conversion failed/i;

/** Drops the JSON-only fields: the chunk keeps what frames.csv and the report use. */
function csvFields(record: FrameRecord): FrameRecord {
  const out = { ...record };
  delete out.raw;
  delete out.enhanced;
  delete out.restoration;
  return out;
}

/**
 * Analyses one chunk. Throws CORRUPT_VIDEO (coded) when not one frame of the video decodes.
 */
export async function analyzeChunk(options: ChunkOptions): Promise<VideoChunkResult> {
  const { chunk, info } = options;
  const analyzer = new FrameAnalyzer(options.pipeline, {
    detectEvery: options.detectEvery,
    smoothingAlpha: options.smoothingAlpha,
  });
  const records: FrameRecord[] = [];
  const overlap: OverlapFace[] = [];
  const span = (chunk.end ?? info.expectedFrames ?? chunk.start + 1) - chunk.start;
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
      const analysis = await analyzer.analyzeFrame(frame.image, frame.index, frame.time);
      if (frame.index < chunk.start) {
        for (const record of analysis.records) {
          if (record.track === null) continue;
          const { person } = record as { person?: number | null };
          overlap.push({
            frame: frame.index,
            track: record.track,
            x: record.x ?? 0,
            y: record.y ?? 0,
            width: record.width ?? 0,
            height: record.height ?? 0,
            ...(person === undefined ? {} : { person }),
          });
        }
        continue;
      }
      for (const record of analysis.records) records.push(csvFields(record));
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
    records,
    overlap,
    frames,
    complete,
    ...(reason === undefined ? {} : { reason }),
    ...(options.model === undefined ? {} : { model: options.model }),
  };
}
