/**
 * A whole video file through the pipeline, in two passes. First: ffmpeg decodes frames into a pipe,
 * FrameAnalyzer detects, tracks, re-identifies, classifies and smooths, and the records stream into
 * frames.csv (so a crash keeps what was done). Then, the whole video known: persons the online
 * re-identification kept apart but who look alike and were never in view together are merged, persons are
 * numbered 1, 2, ... by first appearance, frames.csv is rewritten with those numbers, and a second decode
 * draws the labelled frames (labelled.mp4, stills) with the same numbers the report lists. Only a frame or
 * two is in memory at a time; the records (no pixels, about 70 bytes each) are kept for the report.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { annotateFaces, EMOTION_COLORS, type FaceAnnotation } from '../../draw/annotate.js';
import type { EmotionPipeline } from '../../pipeline/pipeline.js';
import type { RgbImage } from '../../core/image.js';
import { renderReportHtml } from '../../report/html.js';
import { pngDataUrl } from '../../report/png.js';
import { FrameRecordStore } from '../../report/record-store.js';
import {
  FRAME_CSV_HEADER,
  formatFrameCsvRow,
  formatFramesCsv,
  type FrameRecord,
} from '../../report/records.js';
import { buildReport, type ModelQuality, type SessionReport } from '../../report/report.js';
import { FrameAnalyzer, type FrameAnalysis, type PersonSnapshot } from '../../video/frame-analyzer.js';
import { mergePersons, pairKey } from '../../video/merge.js';
import { DEFAULT_PERSON_OPTIONS } from '../../video/persons.js';
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
  /** The online person id (as in the streamed records) -> the final one (frames.csv, labels, report). */
  readonly personMap: ReadonlyMap<number, number>;
}

/** The tag drawn on a confirmed person's face: `#2 happy 87%`, coloured by its emotion. */
function annotation(record: FrameRecord): FaceAnnotation | undefined {
  if (record.track === null || record.label === null || typeof record.person !== 'number') return undefined;
  return {
    box: { x: record.x ?? 0, y: record.y ?? 0, width: record.width ?? 1, height: record.height ?? 1 },
    label: `#${record.person} ${record.label}`,
    confidence: record.confidence ?? 0,
    color: EMOTION_COLORS[record.label],
  };
}

/**
 * Numbers the persons of a whole video in its records: each track gets its final person (finalPersons)
 * on all its rows, including those from before it was confirmed; a track never confirmed gets none.
 * Returns the final person of each online person.
 */
export function numberPersons(
  records: FrameRecordStore,
  persons: readonly PersonSnapshot[],
): Map<number, number> {
  const personMap = finalPersons(records, persons);
  const trackPerson = new Map<number, number | null>();
  for (const record of records) {
    if (record.track === null) continue;
    const online = typeof record.person === 'number' ? record.person : undefined;
    if (online !== undefined) trackPerson.set(record.track, personMap.get(online) ?? online);
    else if (!trackPerson.has(record.track)) trackPerson.set(record.track, null);
  }
  for (const [track, person] of trackPerson) records.setPerson(track, person);
  return personMap;
}

/**
 * The final person of each online person: alike persons never in view together merged (mergePersons),
 * then numbered 1, 2, ... in order of first appearance.
 */
function finalPersons(
  records: Iterable<FrameRecord>,
  persons: readonly PersonSnapshot[],
  minSimilarity: number = DEFAULT_PERSON_OPTIONS.minSimilarity,
): Map<number, number> {
  const together = new Set<string>();
  const firstFrame = new Map<number, number>();
  let frame = -1;
  let onFrame: number[] = [];
  const flush = (): void => {
    for (let i = 0; i < onFrame.length; i++)
      for (let j = i + 1; j < onFrame.length; j++) together.add(pairKey(onFrame[i], onFrame[j]));
  };
  for (const record of records) {
    if (record.frame !== frame) {
      flush();
      frame = record.frame;
      onFrame = [];
    }
    if (typeof record.person === 'number') {
      onFrame.push(record.person);
      if (!firstFrame.has(record.person)) firstFrame.set(record.person, record.frame);
    }
  }
  flush();
  const seen = persons.filter((p) => firstFrame.has(p.id));
  const root = mergePersons(seen, together, minSimilarity);
  const rootFirst = new Map<number, number>();
  for (const p of seen) {
    const r = root.get(p.id) ?? p.id;
    rootFirst.set(r, Math.min(rootFirst.get(r) ?? Infinity, firstFrame.get(p.id) ?? Infinity));
  }
  const numbered = new Map(
    [...rootFirst.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([r], i) => [r, i + 1]),
  );
  return new Map(seen.map((p) => [p.id, numbered.get(root.get(p.id) ?? p.id) ?? p.id]));
}

/** Each final person's clearest face as a PNG data URL (the best of the online persons merged into them). */
function thumbnailUrls(
  persons: readonly PersonSnapshot[],
  map: ReadonlyMap<number, number>,
): Map<number, string> {
  const best = new Map<number, { score: number; image: RgbImage }>();
  for (const person of persons) {
    const final = map.get(person.id);
    const thumb = person.thumbnail;
    if (final === undefined || thumb === undefined || thumb.image.channels !== 3) continue;
    const kept = best.get(final);
    if (kept === undefined || thumb.score > kept.score) {
      best.set(final, { score: thumb.score, image: thumb.image as RgbImage });
    }
  }
  return new Map([...best.entries()].map(([id, { image }]) => [id, pngDataUrl(image)]));
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
    thumbnails: true,
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
  const writeVideo = outDir !== undefined && options.writeVideo !== false;
  const anyStill =
    outDir !== undefined &&
    ((options.stills?.frames?.length ?? 0) > 0 || options.stills?.everySeconds !== undefined);
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
    if (csv !== undefined) await csv.close();
    csv = undefined;
    // The whole video known: merge and number the persons, and write them into the records and frames.csv.
    const persons = analyzer.persons();
    const personMap = numberPersons(records, persons);
    if (outputs.framesCsv !== undefined) await writeOutputFile(outputs.framesCsv, formatFramesCsv(records));
    timings.writeMs += performance.now() - t;
    if (writeVideo || anyStill) {
      // Second pass: the labelled frames, numbered as the report numbers the persons.
      const drawn = await drawLabelled(options, records, isStill, timings);
      outputs.stills.push(...drawn.stills);
      if (drawn.video !== undefined) outputs.labelledVideo = drawn.video;
    }
    t = performance.now();
    const report = buildReport(records, {
      thumbnails: thumbnailUrls(persons, personMap),
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
      personMap,
    };
  } finally {
    // On an error: stop ffmpeg (both processes) and close the CSV; a finished run has done so already.
    // A generator that never started ignores return(), so the reader is closed as well.
    await frames.return(undefined);
    await reader.close();
    if (csv !== undefined) csv.destroy();
  }
}

/**
 * The second pass: decodes the video again and draws each frame's confirmed persons from the records
 * (in frame order, as the first pass stored them) into labelled.mp4 and the chosen stills.
 */
async function drawLabelled(
  options: AnalyzeVideoOptions,
  records: FrameRecordStore,
  isStill: (index: number, time: number) => boolean,
  timings: VideoStageTimings,
): Promise<{ video?: string; stills: string[] }> {
  const { ffmpeg, info, outDir } = options;
  const stills: string[] = [];
  if (outDir === undefined) return { stills };
  const writeVideo = options.writeVideo !== false;
  let encoder: VideoEncoder | undefined;
  let finished = false;
  const reader = VideoFrameReader.open(ffmpeg, info, { stallTimeoutMs: options.stallTimeoutMs });
  const frames = reader.frames();
  let cursor = 0;
  try {
    for (;;) {
      let t = performance.now();
      const next = await frames.next();
      timings.decodeMs += performance.now() - t;
      if (next.done === true) break;
      const frame = next.value;
      const still = isStill(frame.index, frame.time);
      const faces: FaceAnnotation[] = [];
      while (cursor < records.length && records.at(cursor).frame < frame.index) cursor++;
      while (cursor < records.length && records.at(cursor).frame === frame.index) {
        const tag = annotation(records.at(cursor++));
        if (tag !== undefined) faces.push(tag);
      }
      if (!writeVideo && !still) continue;
      t = performance.now();
      const labelled = annotateFaces(frame.image, faces);
      timings.drawMs += performance.now() - t;
      if (writeVideo) {
        t = performance.now();
        encoder ??= await VideoEncoder.create(ffmpeg, join(outDir, 'labelled.mp4'), {
          width: info.width,
          height: info.height,
          fps: info.fps,
        });
        await encoder.write(labelled);
        timings.encodeMs += performance.now() - t;
      }
      if (still) {
        t = performance.now();
        const path = join(outDir, 'stills', `frame_${String(frame.index).padStart(6, '0')}.png`);
        await writeImage(path, labelled);
        stills.push(path);
        timings.writeMs += performance.now() - t;
      }
    }
    const t = performance.now();
    if (encoder !== undefined) await encoder.finish();
    finished = true;
    timings.encodeMs += performance.now() - t;
    return { ...(encoder === undefined ? {} : { video: encoder.path }), stills };
  } finally {
    await frames.return(undefined);
    await reader.close();
    if (encoder !== undefined && !finished) await encoder.abort();
  }
}
