/**
 * Video benchmark on a real 640x480 clip with a face (examples/astronaut-pan.mp4, 240 frames at 30 fps):
 * frames per second of the whole `moodlens video` pipeline (decode, detect, track, classify, draw,
 * encode, CSV) for several detection intervals, each stage's time per frame, detect+track+classify
 * alone, decode and encode alone, and how well the boxes kept between detections match a fresh
 * detection on every frame (IoU), which justifies the default `--every`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Box, GrayImage } from '../src/core/image.js';
import { toGray } from '../src/image/gray.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { VideoFrameReader } from '../src/io/node/ffmpeg/decode.js';
import { VideoEncoder } from '../src/io/node/ffmpeg/encode.js';
import { locateFfmpeg, type FfmpegBinary } from '../src/io/node/ffmpeg/locate.js';
import { probeVideo, type VideoInfo } from '../src/io/node/ffmpeg/probe.js';
import { ParallelFaceDetector } from '../src/io/node/parallel-detector.js';
import { openFaceDetector } from '../src/cli/open-detector.js';
import type { DetectorKind } from '../src/detect/detector-kind.js';
import { analyzeVideo, type VideoAnalysisResult } from '../src/io/node/video-analysis.js';
import { EmotionPipeline } from '../src/pipeline/pipeline.js';
import type { FrameRecord } from '../src/report/records.js';
import { boxIou } from '../src/video/tracker.js';
import { REPO_ROOT } from '../test/support/opencv.js';
import { median } from './detect.js';
import type { BenchOptions, BenchSection, Cell, SectionReport } from './run.js';

export const VIDEO_BENCH_CLIP = join(REPO_ROOT, 'examples', 'astronaut-pan.mp4');
const INTERVALS = [1, 2, 3, 5] as const;
const IOU_INTERVALS = [2, 3, 4, 5, 8, 10] as const;

function boxOf(record: FrameRecord): Box | undefined {
  return record.x === null || record.y === null || record.width === null || record.height === null
    ? undefined
    : { x: record.x, y: record.y, width: record.width, height: record.height };
}

/** The longest track (the person the clip is about). */
function mainTrack(records: readonly FrameRecord[]): number | undefined {
  const counts = new Map<number, number>();
  for (const r of records) if (r.track !== null) counts.set(r.track, (counts.get(r.track) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

export interface BoxAgreement {
  readonly every: number;
  /** Frames where the every-frame run has the person. */
  readonly frames: number;
  readonly meanIou: number;
  readonly p5Iou: number;
  readonly minIou: number;
  /** Share of frames with IoU >= 0.5 (a face counts as found at 0.5 in detection benchmarks). */
  readonly atLeastHalf: number;
  /** Track ids the interval run gave the person (1 when the id held through the whole clip). */
  readonly ids: number;
}

/**
 * How well the boxes of a run with detection every `every` frames match the person's box when detecting on
 * every frame (the reference: its longest track): per reference frame, the best IoU of any box the run
 * shows in that frame (0 when it shows none).
 */
export function compareBoxes(
  reference: readonly FrameRecord[],
  run: readonly FrameRecord[],
  every: number,
): BoxAgreement {
  const refTrack = mainTrack(reference);
  const runByFrame = new Map<number, FrameRecord[]>();
  for (const r of run) {
    if (r.track === null) continue;
    let list = runByFrame.get(r.frame);
    if (list === undefined) runByFrame.set(r.frame, (list = []));
    list.push(r);
  }
  const ious: number[] = [];
  const ids = new Set<number>();
  for (const r of reference) {
    const box = boxOf(r);
    if (r.track !== refTrack || box === undefined) continue;
    let best = 0;
    let bestTrack: number | null = null;
    for (const other of runByFrame.get(r.frame) ?? []) {
      const otherBox = boxOf(other);
      const iou = otherBox === undefined ? 0 : boxIou(box, otherBox);
      if (iou > best) [best, bestTrack] = [iou, other.track];
    }
    if (bestTrack !== null && best >= 0.5) ids.add(bestTrack);
    ious.push(best);
  }
  ious.sort((a, b) => a - b);
  const mean = ious.reduce((s, v) => s + v, 0) / Math.max(1, ious.length);
  return {
    every,
    frames: ious.length,
    meanIou: mean,
    p5Iou: ious[Math.floor(0.05 * (ious.length - 1))] ?? 0,
    minIou: ious[0] ?? 0,
    atLeastHalf: ious.filter((v) => v >= 0.5).length / Math.max(1, ious.length),
    ids: ids.size,
  };
}

async function decodeOnly(ffmpeg: FfmpegBinary, info: VideoInfo): Promise<number> {
  const start = performance.now();
  const reader = VideoFrameReader.open(ffmpeg, info);
  let frames = 0;
  for await (const frame of reader.frames()) frames += frame.index >= 0 ? 1 : 0;
  return frames / ((performance.now() - start) / 1000);
}

/** Encoding alone: the clip's own frames, decoded beforehand a batch at a time, fed to x264. */
async function encodeOnly(ffmpeg: FfmpegBinary, info: VideoInfo, dir: string): Promise<number> {
  const reader = VideoFrameReader.open(ffmpeg, info);
  const encoder = await VideoEncoder.create(ffmpeg, join(dir, 'encode-only.mp4'), info);
  let encodeMs = 0;
  let frames = 0;
  for await (const frame of reader.frames()) {
    const start = performance.now();
    await encoder.write(frame.image);
    encodeMs += performance.now() - start;
    frames++;
  }
  const start = performance.now();
  await encoder.finish();
  encodeMs += performance.now() - start;
  return frames / (encodeMs / 1000);
}

/** Detection alone (1 thread) on every 6th frame of the clip, ms per frame, for several minimum face sizes. */
async function detectByMinSize(
  ffmpeg: FfmpegBinary,
  info: VideoInfo,
  repeat: number,
): Promise<{ minSize: number; ms: number; found: number; frames: number }[]> {
  const frames: GrayImage[] = [];
  for await (const frame of VideoFrameReader.open(ffmpeg, info).frames()) {
    if (frame.index % 6 === 0) frames.push(toGray(frame.image));
  }
  const detector = await ParallelFaceDetector.create({ threads: 1 });
  try {
    const out: { minSize: number; ms: number; found: number; frames: number }[] = [];
    for (const minSize of [0, 48, 64, 80]) {
      const runs: number[] = [];
      let found = 0;
      for (let r = 0; r < repeat; r++) {
        found = 0;
        const start = performance.now();
        for (const gray of frames) {
          const boxes = await detector.detect(gray, { minSize });
          if (boxes.some((b) => b.width >= 110 && b.width <= 220)) found++;
        }
        runs.push((performance.now() - start) / frames.length);
      }
      out.push({ minSize, ms: median(runs), found, frames: frames.length });
    }
    return out;
  } finally {
    await detector.close();
  }
}

const ms = (value: number, frames: number): number => Number((value / Math.max(1, frames)).toFixed(2));

async function run(options: BenchOptions): Promise<SectionReport> {
  const ffmpeg = await locateFfmpeg();
  const info = await probeVideo(ffmpeg, VIDEO_BENCH_CLIP);
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-bench-video-'));
  const classifier = await loadEmotionClassifier();
  const repeat = Math.min(options.repeat, 3);
  try {
    const runPipeline = async (
      every: number,
      threads: number,
      kind: DetectorKind = 'haar',
      mirror = false,
    ): Promise<VideoAnalysisResult> => {
      const detector = await openFaceDetector({
        detector: kind,
        threads,
        cascade: undefined,
        detectorModel: undefined,
        minScore: undefined,
        ...(mirror ? { mirror } : {}),
      });
      try {
        const pipeline = new EmotionPipeline(detector, classifier);
        const results: VideoAnalysisResult[] = [];
        for (let i = 0; i < repeat; i++) {
          results.push(
            await analyzeVideo({
              ffmpeg,
              info,
              pipeline,
              outDir: join(dir, `${kind}${mirror ? '-mirror' : ''}-every${every}-t${threads}`),
              detectEvery: every,
            }),
          );
        }
        // The run with the median total time.
        const sorted = [...results].sort((a, b) => a.timings.totalMs - b.timings.totalMs);
        return sorted[Math.floor((sorted.length - 1) / 2)];
      } finally {
        await detector.close();
      }
    };
    for (let i = 0; i < options.warmup; i++) await decodeOnly(ffmpeg, info);
    const decodeFps: number[] = [];
    const encodeFps: number[] = [];
    for (let i = 0; i < repeat; i++) {
      decodeFps.push(await decodeOnly(ffmpeg, info));
      encodeFps.push(await encodeOnly(ffmpeg, info, dir));
    }
    options.progress(
      `video: decode alone ${median(decodeFps).toFixed(0)} fps, encode alone ${median(encodeFps).toFixed(0)} fps`,
    );

    const rows: Cell[][] = [];
    const runs: { every: number; threads: number; result: VideoAnalysisResult }[] = [];
    const cnnRuns: { every: number; threads: number; mirror: boolean; result: VideoAnalysisResult }[] = [];
    const settings: [DetectorKind, number, number, boolean][] = [
      ['haar', 1, 1, false],
      ['haar', 3, 1, false],
      ...INTERVALS.map((e): [DetectorKind, number, number, boolean] => ['haar', e, 2, false]),
      // The learned detector (the default since issue 21): the default interval and every frame.
      ['cnn', 3, 1, false],
      ['cnn', 1, 2, false],
      ['cnn', 3, 2, false],
      // Its opt-in mirror view (--mirror), the price of making it the default.
      ['cnn', 3, 1, true],
      ['cnn', 3, 2, true],
    ];
    for (const [kind, every, threads, mirror] of settings) {
      const result = await runPipeline(every, threads, kind, mirror);
      if (kind === 'haar') runs.push({ every, threads, result });
      else cnnRuns.push({ every, threads, mirror, result });
      const name = `${kind}${mirror ? ' --mirror' : ''}`;
      const t = result.timings;
      const seconds = t.totalMs / 1000;
      const detectClassifyFps = t.frames / ((t.detectMs + t.trackMs + t.classifyMs) / 1000);
      options.progress(
        `video: ${name}, every ${every}, ${threads} thread(s): ${(t.frames / seconds).toFixed(1)} fps whole, ` +
          `${detectClassifyFps.toFixed(1)} fps detect+track+classify`,
      );
      rows.push([
        `${name}, every ${every}, ${threads} thread${threads === 1 ? '' : 's'}`,
        Number((t.frames / seconds).toFixed(1)),
        Number(detectClassifyFps.toFixed(1)),
        ms(t.decodeMs, t.frames),
        ms(t.detectMs, t.frames),
        ms(t.trackMs, t.frames),
        ms(t.classifyMs, t.frames),
        ms(t.drawMs, t.frames),
        ms(t.encodeMs, t.frames),
        ms(t.writeMs, t.frames),
      ]);
    }
    const bySize = await detectByMinSize(ffmpeg, info, repeat);
    const reference = [...(runs.find((r) => r.every === 1 && r.threads === 2)?.result.records ?? [])];
    const agreements: BoxAgreement[] = [];
    const detector = await ParallelFaceDetector.create({ threads: 2 });
    try {
      const pipeline = new EmotionPipeline(detector, classifier);
      for (const every of IOU_INTERVALS) {
        const result =
          runs.find((r) => r.every === every && r.threads === 2)?.result ??
          (await analyzeVideo({ ffmpeg, info, pipeline, detectEvery: every }));
        agreements.push(compareBoxes(reference, [...result.records], every));
      }
    } finally {
      await detector.close();
    }
    const notes = [
      `Clip: ${VIDEO_BENCH_CLIP.slice(REPO_ROOT.length + 1)}, ${info.width}x${info.height}, ${info.fps} fps, ` +
        `${runs[0].result.timings.frames} frames (a real face, panned and zoomed). Median of ${repeat} run(s).`,
      `Alone: decode ${median(decodeFps).toFixed(0)} fps, encode (x264 veryfast) ${median(encodeFps).toFixed(0)} fps.`,
      'haar: the Haar engine with video\u2019s defaults (the box agreement and min-size notes below are its); cnn: the ' +
        'learned detector, the default (its fine pass for small faces and coarse pass for faces filling the frame included); ' +
        'cnn --mirror: the same with its opt-in mirror view (every pass also on the mirror image).',
      'Stage columns are ms per frame; decode is the wait for ffmpeg (it decodes in its own process, in ' +
        'parallel), encode the wait for x264 to take the frame. detect+classify fps = frames / (detect + track + classify time).',
      "Boxes carried between detections vs detecting on every frame (the person's track; IoU over the frames " +
        'where the every-frame run sees them):',
      ...agreements.map(
        (a) =>
          `  every ${a.every}: mean IoU ${a.meanIou.toFixed(3)}, 5th percentile ${a.p5Iou.toFixed(3)}, min ` +
          `${a.minIou.toFixed(3)}, IoU >= 0.5 on ${(a.atLeastHalf * 100).toFixed(1)}% of ${a.frames} frames, ` +
          `${a.ids} track id(s)`,
      ),
    ];
    notes.push(
      'Detection alone, 1 thread, every 6th frame (the face is 125-190 px): ' +
        bySize
          .map((b) => `--min-size ${b.minSize}: ${b.ms.toFixed(1)} ms (face found on ${b.found}/${b.frames})`)
          .join(', '),
    );
    return {
      title: 'Video pipeline (moodlens video: decode, detect, track, classify, draw, encode, CSV)',
      columns: [
        'setting',
        'fps',
        'detect+classify fps',
        'decode',
        'detect',
        'track',
        'classify',
        'draw',
        'encode',
        'csv etc.',
      ],
      rows,
      notes,
      data: {
        clip: VIDEO_BENCH_CLIP,
        width: info.width,
        height: info.height,
        decodeOnlyFps: median(decodeFps),
        encodeOnlyFps: median(encodeFps),
        runs: runs.map((r) => ({
          every: r.every,
          threads: r.threads,
          timings: r.result.timings,
          detections: r.result.detections,
        })),
        cnnRuns: cnnRuns.map((r) => ({
          every: r.every,
          threads: r.threads,
          mirror: r.mirror,
          timings: r.result.timings,
          detections: r.result.detections,
        })),
        boxAgreement: agreements,
        detectByMinSize: bySize,
      },
    };
  } finally {
    await classifier.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

export const videoSection: BenchSection = {
  name: 'video',
  description: 'Video pipeline on a 640x480 clip with a face: fps whole and per stage, IoU of kept boxes',
  run,
};
