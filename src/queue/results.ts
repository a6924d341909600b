/**
 * The queue's results written out as files: per photo the JSON entry `moodlens analyze --json` prints
 * for it, per video frames.csv (its chunks merged in frame order), report.json and report.html built as
 * `moodlens video` builds them, and results.json listing every input with its state. Everything comes
 * from Redis, so this runs anywhere, any number of times, and writes the same files each time.
 */
import { basename, extname, join } from 'node:path';
import type { Queue } from 'bullmq';
import { formatFramesCsv } from '../report/records.js';
import { buildReport, type SessionReport } from '../report/report.js';
import { renderReportHtml } from '../report/html.js';
import { ensureDirectory, writeOutputFile } from '../io/node/output-path.js';
import { isJobData, type JobData, type VideoJobData } from './jobs.js';
import { mergeChunks } from './merge.js';
import { replayVideo } from './replay.js';
import { parseFailure, type PhotoResult } from './processor.js';
import type { VideoChunkResult } from './video-chunk.js';
import type { WholeVideoResult } from './whole-video.js';
import { createHash } from 'node:crypto';

/** Where one input stands. */
export type InputState = 'done' | 'partial' | 'failed' | 'pending';

/** One line of results.json. */
export interface InputSummary {
  readonly file: string;
  readonly kind: 'photo' | 'video';
  readonly model: string;
  readonly state: InputState;
  /** Files written for it, relative to the output folder. */
  readonly outputs: readonly string[];
  /** Jobs behind it (a video's chunks) and how many are finished. */
  readonly jobs: number;
  readonly finished: number;
  readonly error?: { readonly code: string; readonly message: string };
  /** Frames in a video's session (once every chunk is done). */
  readonly frames?: number;
}

/** A job as read back: its data, state and outcome. */
interface StoredJob {
  readonly id: string;
  readonly data: JobData;
  readonly state: 'completed' | 'failed' | 'pending';
  readonly result: unknown;
  readonly failedReason: string | undefined;
  /** When the job finished (ms since the epoch), if it has. */
  readonly finishedOn: number | undefined;
}

/** Every job of the queue, in a stable order (by id), with unknown formats left out. */
export async function readJobs(queue: Queue): Promise<StoredJob[]> {
  const out: StoredJob[] = [];
  const byState = [
    ['completed', await queue.getJobs(['completed'])],
    ['failed', await queue.getJobs(['failed'])],
    [
      'pending',
      await queue.getJobs(['waiting', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children']),
    ],
  ] as const;
  const seen = new Set<string>();
  for (const [state, jobs] of byState) {
    for (const job of jobs) {
      const data: unknown = job.data;
      // A job moving between lists while we read can appear twice: the first reading wins.
      if (job.id === undefined || seen.has(job.id) || !isJobData(data)) continue;
      seen.add(job.id);
      out.push({
        id: job.id,
        data,
        state,
        result: job.returnvalue as unknown,
        failedReason: job.failedReason,
        finishedOn: job.finishedOn,
      });
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Inputs: a photo job alone, or a video's chunks (its group). */
interface InputGroup {
  readonly key: string;
  readonly jobs: StoredJob[];
}

function groupJobs(jobs: readonly StoredJob[]): InputGroup[] {
  const groups = new Map<string, StoredJob[]>();
  for (const job of jobs) {
    const key = job.data.kind === 'photo' ? job.id : `${job.data.group}:${job.data.file}`;
    const list = groups.get(key) ?? [];
    list.push(job);
    groups.set(key, list);
  }
  return [...groups.entries()]
    .map(([key, list]) => ({ key, jobs: list }))
    .sort((a, b) => {
      const fa = a.jobs[0].data.file;
      const fb = b.jobs[0].data.file;
      return fa < fb ? -1 : fa > fb ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
    });
}

/**
 * Output names: the file's name without its extension, made unique by a short hash of the input's key
 * when two inputs share a name (two folders' `a.jpg`, or one file queued with two models).
 */
function outputNames(groups: readonly InputGroup[]): Map<string, string> {
  const stems = new Map<string, number>();
  const stemOf = (g: InputGroup): string =>
    basename(g.jobs[0].data.file, extname(g.jobs[0].data.file)) || 'input';
  for (const g of groups) stems.set(stemOf(g), (stems.get(stemOf(g)) ?? 0) + 1);
  const names = new Map<string, string>();
  for (const g of groups) {
    const stem = stemOf(g);
    const unique = stems.get(stem) === 1;
    names.set(
      g.key,
      unique ? stem : `${stem}-${createHash('sha256').update(g.key).digest('hex').slice(0, 8)}`,
    );
  }
  return names;
}

export interface ResultsOptions {
  readonly outDir: string;
  /** Shown in reports' footers. */
  readonly generator: string;
}

async function writePhoto(group: InputGroup, name: string, options: ResultsOptions): Promise<InputSummary> {
  const job = group.jobs[0];
  const base = { file: job.data.file, kind: 'photo' as const, model: job.data.model, jobs: 1 };
  if (job.state === 'pending') return { ...base, state: 'pending', outputs: [], finished: 0 };
  const output = `${name}.json`;
  let entry: unknown;
  let summary: InputSummary;
  if (job.state === 'failed') {
    const error = parseFailure(job.failedReason);
    // As `moodlens analyze --json` lists a file that failed.
    entry = { file: job.data.file, error };
    summary = { ...base, state: 'failed', outputs: [output], finished: 1, error };
  } else {
    entry = (job.result as PhotoResult).entry;
    summary = { ...base, state: 'done', outputs: [output], finished: 1 };
  }
  await writeOutputFile(join(options.outDir, output), `${JSON.stringify(entry, null, 2)}\n`);
  return summary;
}

async function writeVideo(group: InputGroup, name: string, options: ResultsOptions): Promise<InputSummary> {
  const data = group.jobs[0].data as VideoJobData;
  const count = data.chunk.count;
  const finished = group.jobs.filter((j) => j.state !== 'pending').length;
  const base = { file: data.file, kind: 'video' as const, model: data.model, jobs: count, finished };
  const failed = group.jobs.find((j) => j.state === 'failed');
  if (failed !== undefined) {
    return { ...base, state: 'failed', outputs: [], error: parseFailure(failed.failedReason) };
  }
  if (group.jobs.length < count || finished < count) return { ...base, state: 'pending', outputs: [] };
  const folder = join(options.outDir, name);
  const outputs = [join(name, 'frames.csv'), join(name, 'report.json'), join(name, 'report.html')];
  const whole = group.jobs[0].result as WholeVideoResult | VideoChunkResult;
  if (whole.kind === 'video-whole') {
    // moodlens video's own files, as the worker's run of it wrote them.
    await ensureDirectory(folder);
    await writeOutputFile(join(options.outDir, outputs[0]), whole.framesCsv);
    await writeOutputFile(join(options.outDir, outputs[1]), `${JSON.stringify(whole.report, null, 2)}\n`);
    await writeOutputFile(join(options.outDir, outputs[2]), renderReportHtml(whole.report));
    return {
      ...base,
      state: whole.complete ? 'done' : 'partial',
      outputs,
      frames: whole.frames,
      ...(whole.complete ? {} : { error: partialError(data.file, whole.reason) }),
    };
  }
  const chunks = group.jobs.map((j) => j.result as VideoChunkResult);
  const video = chunkedVideoOutputs(chunks, {
    file: data.file,
    detectEvery: data.detectEvery,
    smoothingAlpha: data.smoothingAlpha,
    generator: options.generator,
    // When the last chunk finished: the same on every run of `queue results`.
    generatedAt: new Date(Math.max(...group.jobs.map((j) => j.finishedOn ?? 0)))
      .toISOString()
      .slice(0, 19)
      .replace('T', ' '),
  });
  await ensureDirectory(folder);
  await writeOutputFile(join(options.outDir, outputs[0]), video.framesCsv);
  await writeOutputFile(join(options.outDir, outputs[1]), `${JSON.stringify(video.report, null, 2)}\n`);
  await writeOutputFile(join(options.outDir, outputs[2]), renderReportHtml(video.report));
  return {
    ...base,
    state: video.complete ? 'done' : 'partial',
    outputs,
    frames: video.frames,
    ...(video.complete ? {} : { error: partialError(data.file, video.reason) }),
  };
}

/** The source fields of a chunked video's report that the chunks do not hold. */
export interface ChunkedVideoSource {
  readonly file: string;
  readonly detectEvery: number;
  readonly smoothingAlpha: number;
  readonly generator: string;
  readonly generatedAt: string;
}

/** A chunked video's frames.csv and report: what `moodlens video` writes for the same file. */
export interface ChunkedVideoOutputs {
  readonly framesCsv: string;
  readonly report: SessionReport;
  readonly frames: number;
  readonly complete: boolean;
  readonly reason?: string;
  /** Persons whose thumbnail is not the whole-video run's (see src/queue/video-chunk.ts); normally 0. */
  readonly approximateThumbnails: number;
}

/**
 * The chunks of one video (every chunk of its plan, any order) into `moodlens video`'s frames.csv and
 * report: the observations merged in frame order, the stream's state replayed over them, and the report
 * built as analyzeVideo builds it. Pure.
 */
export function chunkedVideoOutputs(
  chunks: readonly VideoChunkResult[],
  source: ChunkedVideoSource,
): ChunkedVideoOutputs {
  const merged = mergeChunks(chunks);
  const first = chunks.find((c) => c.chunk.index === 0) ?? chunks[0];
  const replay = replayVideo(merged.observations, merged.thumbnails, {
    width: first.video.width,
    height: first.video.height,
    smoothingAlpha: source.smoothingAlpha,
  });
  const report = buildReport(replay.records, {
    thumbnails: replay.thumbnails,
    ...(first.model === undefined ? {} : { model: first.model }),
    source: {
      file: source.file,
      generatedAt: source.generatedAt,
      width: first.video.width,
      height: first.video.height,
      fps: first.video.fps,
      detectEvery: source.detectEvery,
      smoothingAlpha: source.smoothingAlpha,
      generator: source.generator,
      ...(merged.complete ? {} : { partial: merged.reason ?? 'the video could not be read to the end' }),
    },
  });
  return {
    framesCsv: formatFramesCsv(replay.records),
    report,
    frames: merged.frames,
    complete: merged.complete,
    ...(merged.reason === undefined ? {} : { reason: merged.reason }),
    approximateThumbnails: replay.approximateThumbnails,
  };
}

/** The error listed for a video read only in part, as moodlens video reports it. */
function partialError(file: string, reason: string | undefined): { code: string; message: string } {
  return {
    code: 'MOODLENS_ERR_CORRUPT_VIDEO',
    message: `Partial result for ${file}: ${reason ?? 'the video could not be read to the end'}`,
  };
}

/** Writes every input's results into `outDir` and results.json; returns the summaries. */
export async function writeResults(queue: Queue, options: ResultsOptions): Promise<InputSummary[]> {
  await ensureDirectory(options.outDir);
  const groups = groupJobs(await readJobs(queue));
  const names = outputNames(groups);
  const summaries: InputSummary[] = [];
  for (const group of groups) {
    const name = names.get(group.key) ?? 'input';
    summaries.push(
      group.jobs[0].data.kind === 'photo'
        ? await writePhoto(group, name, options)
        : await writeVideo(group, name, options),
    );
  }
  await writeOutputFile(join(options.outDir, 'results.json'), `${JSON.stringify(summaries, null, 2)}\n`);
  return summaries;
}
