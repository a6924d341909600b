/**
 * A whole video file through the pipeline: ffmpeg decodes frames into a pipe, FrameAnalyzer detects,
 * tracks, classifies and smooths, the labelled frames go back into ffmpeg (labelled.mp4), the records
 * stream into frames.csv, chosen frames become labelled PNG stills, and the report is built at the end.
 * Only a frame or two is in memory at a time; the records (no pixels, about 70 bytes each) are kept for
 * the report.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { annotateFaces, EMOTION_COLORS, type FaceAnnotation } from '../../draw/annotate.js';
import type { EmotionPipeline } from '../../pipeline/pipeline.js';
import { renderReportHtml } from '../../report/html.js';
import { FrameRecordStore } from '../../report/record-store.js';
import { FRAME_CSV_HEADER, formatFrameCsvRow } from '../../report/records.js';
import { buildReport, type ModelQuality, type SessionReport } from '../../report/report.js';
import { FrameAnalyzer, type FrameAnalysis, type TrackedFaceResult } from '../../video/frame-analyzer.js';
import type { FaceTrackerOptions } from '../../video/tracker.js';
import { VideoFrameReader, noFramesError, type DecodedFrame, type DecodeOutcome } from './ffmpeg/decode.js';
import { VideoEncoder } from './ffmpeg/encode.js';
import type { FfmpegBinary } from './ffmpeg/locate.js';
import type { VideoInfo } from './ffmpeg/probe.js';
import { outputError } from './file-errors.js';
import { ensureDirectory, writeOutputFile } from './output-path.js';
import { writeImage } from './write-image.js';

/** Which frames become labelled stills. */
export interface StillsChoice {
  /** Frame indices. */
  readonly frames?: readonly number[];
  /** One still every this many seconds of video (the first frame at or after 0, S, 2S, ...). */
  readonly everySeconds?: number;
}

export interface AnalyzeVideoOptions {
  readonly ffmpeg: FfmpegBinary;
  readonly info: VideoInfo;
  readonly pipeline: EmotionPipeline;
  /** Where outputs go; undefined writes no file. */
  readonly outDir?: string;
  readonly detectEvery?: number;
  readonly smoothingAlpha?: number;
  readonly tracker?: FaceTrackerOptions;
  /** Write labelled.mp4 (default true when outDir is set). */
  readonly writeVideo?: boolean;
  readonly stills?: StillsChoice;
  readonly model?: ModelQuality;
  /** Shown in the report's footer. */
  readonly generator?: string;
  /** Called after each frame (progress, streaming JSON). */
  readonly onFrame?: (frame: DecodedFrame, analysis: FrameAnalysis) => void;
  /** ffmpeg's silence limit in milliseconds (default 60 000). */
  readonly stallTimeoutMs?: number;
}

/** Milliseconds spent in each stage, and the frames behind them. */
export interface VideoStageTimings {
  frames: number;
  /** Waiting for ffmpeg to deliver the next decoded frame (ffmpeg decodes in parallel). */
  decodeMs: number;
  detectMs: number;
  trackMs: number;
  classifyMs: number;
  /** Drawing boxes and labels on the frame. */
  drawMs: number;
  /** Handing labelled frames to the encoder (blocks when ffmpeg's x264 falls behind), and finishing it. */
  encodeMs: number;
  /** CSV rows, stills and the report. */
  writeMs: number;
  totalMs: number;
}

export interface VideoOutputs {
  readonly framesCsv?: string;
  readonly labelledVideo?: string;
  readonly reportHtml?: string;
  readonly reportJson?: string;
  readonly stills: readonly string[];
}

export interface VideoAnalysisResult {
  readonly info: VideoInfo;
  readonly outcome: DecodeOutcome;
  /** Every record (without `raw`), in frame order, stored compactly. */
  readonly records: FrameRecordStore;
  readonly report: SessionReport;
  readonly outputs: VideoOutputs;
  readonly timings: VideoStageTimings;
  /** Frames on which the detector ran. */
  readonly detections: number;
}

/** The tag drawn on a face: `#2 happy 87%`, coloured by its emotion. */
function annotation(face: TrackedFaceResult): FaceAnnotation {
  return {
    box: face.box,
    label: `#${face.track} ${face.emotion.label}`,
    confidence: face.emotion.confidence,
    color: EMOTION_COLORS[face.emotion.label],
  };
}

/**
 * frames.csv as a stream whose failures (a full disk, a folder removed under it) surface as coded
 * errors at the next write or at the end, never as an unhandled 'error' event.
 */
class CsvFile {
  readonly path: string;
  readonly #stream: WriteStream;
  #error: unknown;

  constructor(path: string) {
    this.path = path;
    this.#stream = createWriteStream(path, { flags: 'a' });
    this.#stream.on('error', (error) => (this.#error ??= error));
  }

  /** Writes a line, waiting when the buffer is full. */
  async writeLine(line: string): Promise<void> {
    this.#check();
    if (!this.#stream.write(`${line}\n`)) {
      await Promise.race([once(this.#stream, 'drain'), once(this.#stream, 'close')]).catch(() => undefined);
    }
    this.#check();
  }

  async close(): Promise<void> {
    this.#check();
    this.#stream.end();
    await once(this.#stream, 'close').catch(() => undefined);
    this.#check();
  }

  destroy(): void {
    this.#stream.destroy();
  }

  #check(): void {
    if (this.#error !== undefined) throw outputError(this.path, this.#error);
  }
}

/** Frame index -> whether it is a still, given the frame's time. */
function stillPicker(choice: StillsChoice | undefined): (index: number, time: number) => boolean {
  const frames = new Set(choice?.frames ?? []);
  const every = choice?.everySeconds;
  let nextTime = 0;
  return (index, time) => {
    let pick = frames.has(index);
    if (every !== undefined && time >= nextTime - 1e-9) {
      pick = true;
      while (nextTime <= time + 1e-9) nextTime += every;
    }
    return pick;
  };
}

/** Runs the whole video; see the module comment. Throws CORRUPT_VIDEO when not one frame decodes. */
export async function analyzeVideo(options: AnalyzeVideoOptions): Promise<VideoAnalysisResult> {
  const { ffmpeg, info, outDir } = options;
  const started = performance.now();
  const analyzer = new FrameAnalyzer(options.pipeline, {
    detectEvery: options.detectEvery,
    smoothingAlpha: options.smoothingAlpha,
    tracker: options.tracker,
  });
  const timings: VideoStageTimings = {
    frames: 0,
    decodeMs: 0,
    detectMs: 0,
    trackMs: 0,
    classifyMs: 0,
    drawMs: 0,
    encodeMs: 0,
    writeMs: 0,
    totalMs: 0,
  };
  const outputs: { framesCsv?: string; labelledVideo?: string; stills: string[] } = { stills: [] };
  let csv: CsvFile | undefined;
  let encoder: VideoEncoder | undefined;
  const writeVideo = outDir !== undefined && options.writeVideo !== false;
  const isStill = stillPicker(outDir === undefined ? undefined : options.stills);
  const records = new FrameRecordStore();
  if (outDir !== undefined) {
    // Before ffmpeg starts: a bad --out fails here with nothing to clean up.
    await ensureDirectory(outDir);
    outputs.framesCsv = join(outDir, 'frames.csv');
    await writeOutputFile(outputs.framesCsv, `${FRAME_CSV_HEADER}\n`);
    csv = new CsvFile(outputs.framesCsv);
  }
  const reader = VideoFrameReader.open(ffmpeg, info, { stallTimeoutMs: options.stallTimeoutMs });
  const frames = reader.frames();
  try {
    for (;;) {
      let t = performance.now();
      const next = await frames.next();
      timings.decodeMs += performance.now() - t;
      if (next.done === true) break;
      const frame = next.value;
      const analysis = await analyzer.analyzeFrame(frame.image, frame.index, frame.time);
      const still = isStill(frame.index, frame.time);
      if (writeVideo || still) {
        t = performance.now();
        const labelled = annotateFaces(frame.image, analysis.faces.map(annotation));
        timings.drawMs += performance.now() - t;
        if (writeVideo && outDir !== undefined) {
          t = performance.now();
          encoder ??= await VideoEncoder.create(ffmpeg, join(outDir, 'labelled.mp4'), {
            width: info.width,
            height: info.height,
            fps: info.fps,
          });
          await encoder.write(labelled);
          timings.encodeMs += performance.now() - t;
        }
        if (still && outDir !== undefined) {
          t = performance.now();
          const path = join(outDir, 'stills', `frame_${String(frame.index).padStart(6, '0')}.png`);
          await writeImage(path, labelled);
          outputs.stills.push(path);
          timings.writeMs += performance.now() - t;
        }
      }
      t = performance.now();
      for (const record of analysis.records) {
        // The report needs only the smoothed columns (the raw scores go to the JSON stream, if any).
        records.push(record);
        if (csv !== undefined) await csv.writeLine(formatFrameCsvRow(record));
      }
      timings.writeMs += performance.now() - t;
      timings.frames++;
      options.onFrame?.(frame, analysis);
    }
    const outcome = reader.outcome;
    if (outcome.frames === 0) throw noFramesError(info, outcome);
    let t = performance.now();
    if (encoder !== undefined) {
      await encoder.finish();
      outputs.labelledVideo = encoder.path;
    }
    timings.encodeMs += performance.now() - t;
    t = performance.now();
    if (csv !== undefined) await csv.close();
    csv = undefined;
    const report = buildReport(records, {
      model: options.model,
      source: {
        file: info.file,
        generatedAt: new Date().toISOString().slice(0, 19).replace('T', ' '),
        width: info.width,
        height: info.height,
        fps: info.fps,
        detectEvery: analyzer.detectEvery,
        smoothingAlpha: analyzer.smoothingAlpha,
        ...(options.generator === undefined ? {} : { generator: options.generator }),
        ...(outcome.complete ? {} : { partial: outcome.reason ?? 'the video could not be read to the end' }),
      },
    });
    let reportHtml: string | undefined;
    let reportJson: string | undefined;
    if (outDir !== undefined) {
      reportHtml = join(outDir, 'report.html');
      reportJson = join(outDir, 'report.json');
      await writeOutputFile(reportHtml, renderReportHtml(report));
      await writeOutputFile(reportJson, `${JSON.stringify(report, null, 2)}\n`);
    }
    timings.writeMs += performance.now() - t;
    const stats = analyzer.stats;
    timings.detectMs = stats.detectMs;
    timings.trackMs = stats.trackMs;
    timings.classifyMs = stats.classifyMs;
    timings.totalMs = performance.now() - started;
    return {
      info,
      outcome,
      records,
      report,
      outputs: { ...outputs, reportHtml, reportJson },
      timings,
      detections: stats.detections,
    };
  } finally {
    // On an error: stop ffmpeg (both processes) and close the CSV; a finished run has done so already.
    // A generator that never started ignores return(), so the reader is closed as well.
    await frames.return(undefined);
    await reader.close();
    if (csv !== undefined) csv.destroy();
    if (encoder !== undefined && outputs.labelledVideo === undefined) await encoder.abort();
  }
}
