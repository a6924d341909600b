/**
 * What a worker does with one job: the same stages, with the same defaults, as `moodlens analyze` (a
 * photo) and `moodlens video` (a video chunk). Pipelines are built from those commands' own argument
 * parsers, loaded on first use and kept for the life of the worker process.
 */
import { MoodLensError, isMoodLensError, type ErrorCode } from '../core/errors.js';
import type { DetectorKind } from '../detect/detector-kind.js';
import { parseAnalyzeArgs, type AnalyzeFileResult } from '../cli/analyze-command.js';
import { jsonFace, jsonRejected } from '../cli/landmark-output.js';
import type { CliIo } from '../cli/main.js';
import { openPipeline, type OpenPipeline, type PipelineStageFlags } from '../cli/pipeline-stages.js';
import { parseVideoArgs } from '../cli/video-command.js';
import { locateFfmpeg, type FfmpegBinary } from '../io/node/ffmpeg/locate.js';
import { probeVideo } from '../io/node/ffmpeg/probe.js';
import { loadModelQuality } from '../io/node/model-card.js';
import { readImage } from '../io/node/read-image.js';
import { verifyFile } from './inputs.js';
import type { JobData, PhotoJobData, VideoJobData } from './jobs.js';
import { analyzeChunk, type VideoChunkResult } from './video-chunk.js';
import { analyzeWholeVideo, type WholeVideoResult } from './whole-video.js';

/** What a photo job returns: the entry `moodlens analyze --json --no-images` prints for the file. */
export interface PhotoResult {
  readonly kind: 'photo';
  readonly entry: AnalyzeFileResult;
}

export type JobResult = PhotoResult | VideoChunkResult | WholeVideoResult;

/** Settings of a worker process that the stages need. */
export interface ProcessorSettings {
  /** Detector threads per pipeline (as `--threads`); undefined: the commands' default. */
  readonly threads?: number;
  /** ffmpeg binary (as `--ffmpeg`); undefined: the commands' default search. */
  readonly ffmpeg?: string;
  /** Face detector (as `--detector`); undefined: the commands' default. */
  readonly detector?: DetectorKind;
  /** The learned detector's model (as `--detector-model`); undefined: the shipped one. */
  readonly detectorModel?: string;
  /** The learned detector's score threshold (as `--min-score`); undefined: the model's. */
  readonly minScore?: number;
}

/**
 * Errors that belong to the input: retrying cannot help, so the job fails at once with its code. Any
 * other failure (a model that did not load on this machine, ffmpeg missing, Redis) is retried, on this
 * or another worker, up to the job's attempts.
 */
const INPUT_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'MOODLENS_ERR_FILE_NOT_FOUND',
  'MOODLENS_ERR_NOT_A_FILE',
  'MOODLENS_ERR_EMPTY_INPUT',
  'MOODLENS_ERR_NOT_AN_IMAGE',
  'MOODLENS_ERR_CORRUPT_IMAGE',
  'MOODLENS_ERR_TOO_MANY_PIXELS',
  'MOODLENS_ERR_NOT_A_VIDEO',
  'MOODLENS_ERR_CORRUPT_VIDEO',
  'MOODLENS_ERR_QUEUE_FILE_CHANGED',
  'MOODLENS_ERR_INVALID_ARGUMENT',
]);

export function isInputError(error: unknown): error is MoodLensError {
  return isMoodLensError(error) && INPUT_ERRORS.has(error.code);
}

/** How a coded failure is stored as a job's failedReason, and read back: `CODE: message`. */
export function formatFailure(code: ErrorCode, message: string): string {
  return `${code}: ${message}`;
}

export function parseFailure(reason: string | undefined): { code: string; message: string } {
  const match = /^(MOODLENS_ERR_[A-Z_]+): ([\s\S]*)$/.exec(reason ?? '');
  if (match === null) return { code: 'MOODLENS_ERR_INTERNAL', message: reason ?? 'unknown failure' };
  return { code: match[1], message: match[2] };
}

function modelArgs(model: string): string[] {
  // `default` is what the commands use without --model: leave it out, so the flags are the very same.
  return model === 'default' ? [] : ['--model', model];
}

/** Loads each pipeline once, on the first job that needs it; `close` releases them all. */
export class PipelineCache {
  readonly #pipelines = new Map<string, Promise<OpenPipeline>>();
  readonly #io: CliIo;

  constructor(io: CliIo) {
    this.#io = io;
  }

  get(key: string, flags: PipelineStageFlags, command: string): Promise<OpenPipeline> {
    let pipeline = this.#pipelines.get(key);
    if (pipeline === undefined) {
      pipeline = openPipeline(flags, command, this.#io);
      // A pipeline that failed to load is tried again on the next job (the job itself is retried).
      pipeline.catch(() => this.#pipelines.delete(key));
      this.#pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  async close(): Promise<void> {
    const all = [...this.#pipelines.values()];
    this.#pipelines.clear();
    for (const pipeline of all) {
      const opened = await pipeline.catch(() => undefined);
      await opened?.close();
    }
  }
}

/** Runs jobs; one per worker process, shared by its concurrent jobs. */
export class JobProcessor {
  readonly #settings: ProcessorSettings;
  readonly #pipelines: PipelineCache;
  #ffmpeg: Promise<FfmpegBinary> | undefined;

  constructor(settings: ProcessorSettings, io: CliIo) {
    this.#settings = settings;
    this.#pipelines = new PipelineCache(io);
  }

  /** The worker's detector flags, as the commands take them: --threads and the detector choice. */
  #threadArgs(): string[] {
    const { threads, detector, detectorModel, minScore } = this.#settings;
    return [
      ...(threads === undefined ? [] : ['--threads', String(threads)]),
      ...(detector === undefined ? [] : ['--detector', detector]),
      ...(detectorModel === undefined ? [] : ['--detector-model', detectorModel]),
      ...(minScore === undefined ? [] : ['--min-score', String(minScore)]),
    ];
  }

  #locateFfmpeg(): Promise<FfmpegBinary> {
    if (this.#ffmpeg === undefined) {
      const path = this.#settings.ffmpeg;
      this.#ffmpeg = locateFfmpeg(path === undefined ? {} : { path });
      this.#ffmpeg.catch(() => (this.#ffmpeg = undefined));
    }
    return this.#ffmpeg;
  }

  /** Runs one job; `onProgress` gets the share done (0-1). Throws coded errors as they come. */
  async run(data: JobData, onProgress: (done: number) => void): Promise<JobResult> {
    await verifyFile(data.file, data.sha256);
    return data.kind === 'photo' ? this.#photo(data) : this.#video(data, onProgress);
  }

  async #photo(data: PhotoJobData): Promise<PhotoResult> {
    const args = parseAnalyzeArgs([
      data.file,
      '--no-images',
      ...modelArgs(data.model),
      ...this.#threadArgs(),
    ]);
    const { pipeline } = await this.#pipelines.get(`photo:${data.model}`, args, 'moodlens worker');
    const image = await readImage(
      data.file,
      args.maxPixels === undefined ? {} : { maxPixels: args.maxPixels },
    );
    // As runAnalyze builds its entry (src/cli/analyze-command.ts), with --no-images.
    const { faces, rejected, checked } = await pipeline.analyzeImage(image);
    return {
      kind: 'photo',
      entry: {
        file: data.file,
        width: image.width,
        height: image.height,
        faces: faces.map(jsonFace),
        ...(checked && args.faceCheck === 'drop' ? { rejected: rejected.map(jsonRejected) } : {}),
      },
    };
  }

  async #video(
    data: VideoJobData,
    onProgress: (done: number) => void,
  ): Promise<VideoChunkResult | WholeVideoResult> {
    const args = parseVideoArgs([
      data.file,
      '--no-video',
      '--no-stills',
      '--every',
      String(data.detectEvery),
      '--smoothing',
      String(data.smoothingAlpha),
      ...modelArgs(data.model),
      ...this.#threadArgs(),
    ]);
    const ffmpeg = await this.#locateFfmpeg();
    const info = await probeVideo(ffmpeg, data.file);
    const { pipeline } = await this.#pipelines.get(`video:${data.model}`, args, 'moodlens worker');
    const model = await loadModelQuality(args.model);
    if (data.chunk.count === 1) {
      // A whole video goes through moodlens video's own function: its files, whatever it computes.
      return analyzeWholeVideo({
        ffmpeg,
        info,
        pipeline,
        detectEvery: args.detectEvery,
        smoothingAlpha: args.smoothingAlpha,
        ...(model === undefined ? {} : { model }),
        onProgress,
      });
    }
    return analyzeChunk({
      ffmpeg,
      info,
      pipeline,
      chunk: data.chunk,
      detectEvery: args.detectEvery,
      ...(model === undefined ? {} : { model }),
      onProgress,
    });
  }

  async close(): Promise<void> {
    await this.#pipelines.close();
  }
}

/** The coded error a non-MoodLens failure is reported as. */
export function internalError(error: unknown): MoodLensError {
  return new MoodLensError(
    'MOODLENS_ERR_INTERNAL',
    error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  );
}
