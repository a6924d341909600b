import { availableParallelism } from 'node:os';
import type { FastifyServerOptions } from 'fastify';
import { MoodLensError } from '../core/errors.js';
import {
  DEFAULT_DETECTOR,
  DETECTOR_KINDS,
  isDetectorKind,
  type DetectorKind,
} from '../detect/detector-kind.js';
import { DEFAULT_CASCADE_PATH } from '../io/node/cascade-file.js';
import { resolveEmotionModelPath } from '../io/node/emotion-model.js';
import { DEFAULT_MAX_PIXELS } from '../io/node/read-image.js';
import type { StagePaths } from './models.js';
import { DEFAULT_WEB_ROOT } from './static-files.js';

/** Options of {@link buildServer}, each documented with its default (all defaults live in this file). */
export interface ServerOptions {
  /** Emotion model (ONNX with MoodLens metadata). Default: the shipped model, `models/emotion/emotion.onnx`. */
  readonly modelPath?: string;
  /** Face cascade XML (`detector: 'haar'`). Default: the shipped `haarcascade_frontalface_default.xml`. */
  readonly cascadePath?: string;
  /**
   * The face detector each worker builds: `haar` (the cascade) or `cnn` (the learned detector, its boxes
   * with a `score`). Default {@link DEFAULT_DETECTOR}.
   */
  readonly detector?: DetectorKind;
  /** The learned detector's model (`detector: 'cnn'`). Default: the shipped `models/detector/face-detector.onnx`. */
  readonly detectorModelPath?: string;
  /** The learned detector's score threshold, 0-1 (`detector: 'cnn'`). Default: the model's. */
  readonly minScore?: number;
  /**
   * Landmark model of the alignment stage. Default: the shipped `models/landmarks/landmarks.onnx` when
   * installed, else no alignment (as `moodlens analyze`); false: no landmarks or alignment.
   */
  readonly landmarkModelPath?: string | false;
  /** Alignment template. Default: the shipped `models/landmarks/template48.json`. */
  readonly templatePath?: string;
  /**
   * Super-resolution model of the enhance stage. Default: the shipped `models/enhance/fsrnet.onnx` when
   * installed, else no enhancement; false: no enhancement.
   */
  readonly enhanceModelPath?: string | false;
  /** Inference worker threads, each with its own detector and classifier, integer 1-64. Default: the cores. */
  readonly workers?: number;
  /** Requests that may wait for a worker, integer >= 0; one more answers 503. Default: 2 x workers. */
  readonly queue?: number;
  /** Largest request body in bytes (a raw image, or all files of a multipart body together). Default 20 MiB. */
  readonly bodyLimit?: number;
  /** Images with more pixels are refused from their header (422). Default 40,000,000, as the CLI. */
  readonly maxPixels?: number;
  /** Most files in one `POST /v1/analyze/batch`. Default 16. */
  readonly maxBatchFiles?: number;
  /**
   * Most milliseconds of worker time one image may take (per image of a batch) before its worker is
   * replaced and the request answered 422 `MOODLENS_ERR_JOB_TIMEOUT`. Default 30,000.
   */
  readonly jobTimeoutMs?: number;
  /**
   * Most milliseconds a client may take to send a request body; past it the request is answered 408
   * `MOODLENS_ERR_UPLOAD_TIMEOUT` and its connection closed. Default 60,000.
   */
  readonly uploadTimeoutMs?: number;
  /**
   * Slowest upload accepted, in bytes per second averaged from the request's start, checked after the
   * first 5 s: a slower one is answered 408 `MOODLENS_ERR_UPLOAD_TIMEOUT`. 0 turns the check off. Default 16,384.
   */
  readonly minUploadBytesPerSecond?: number;
  /**
   * Most request bodies being received at once; one more answers 503 `MOODLENS_ERR_BUSY` without reading
   * it. Bodies take a worker slot only once received. Default: 2 x (workers + queue).
   */
  readonly maxUploads?: number;
  /**
   * A worker whose face-scan memory (WebAssembly, grown to fit the largest image it has scanned, about
   * 8 bytes per pixel, never shrunk) exceeds this many bytes is replaced after its job, so that one huge
   * image does not hold memory for good. Default 160 MiB (images above about 20 megapixels).
   */
  readonly recycleAboveBytes?: number;
  /**
   * Folder of the built web app (`npm run build:web`), served at `/` with the cross-origin isolation
   * headers; false serves no web app (the API only). Default: the package's `dist/web`.
   */
  readonly webRoot?: string | false;
  /** Fastify's logger option (pino). Default false: no logging. */
  readonly logger?: FastifyServerOptions['logger'];
  /**
   * Redis URL of the job queue (`moodlens queue`, `moodlens worker`): adds `POST /v1/jobs` and
   * `GET /v1/jobs/{id}`. Default false: no job routes.
   */
  readonly redis?: string | false;
}

export const DEFAULT_BODY_LIMIT = 20 * 1024 * 1024;
export const DEFAULT_MAX_BATCH_FILES = 16;
export const DEFAULT_JOB_TIMEOUT_MS = 30_000;
export const DEFAULT_UPLOAD_TIMEOUT_MS = 60_000;
export const DEFAULT_MIN_UPLOAD_BYTES_PER_SECOND = 16 * 1024;
export const DEFAULT_RECYCLE_ABOVE_BYTES = 160 * 1024 * 1024;
export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';

/** The default worker count: the cores available (at most 64). */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(availableParallelism(), 64));
}

export type ResolvedServerOptions = Required<Omit<ServerOptions, keyof StagePaths>> & StagePaths;

/**
 * Fills in the defaults and checks each option, naming it, the expectation and what arrived.
 * @throws MoodLensError `MOODLENS_ERR_INVALID_ARGUMENT`.
 */
export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const workers = integer('workers', options.workers ?? defaultWorkers(), 1, 64);
  const queue = integer('queue', options.queue ?? 2 * workers, 0, 100_000);
  return {
    modelPath: path('modelPath', resolveEmotionModelPath(options.modelPath)),
    cascadePath: path('cascadePath', options.cascadePath ?? DEFAULT_CASCADE_PATH),
    ...detectorOptions(options),
    ...optionalPath('landmarkModelPath', options.landmarkModelPath),
    ...(options.templatePath === undefined
      ? {}
      : { templatePath: path('templatePath', options.templatePath) }),
    ...optionalPath('enhanceModelPath', options.enhanceModelPath),
    workers,
    queue,
    bodyLimit: integer('bodyLimit', options.bodyLimit ?? DEFAULT_BODY_LIMIT, 1, 2 ** 31 - 1),
    maxPixels: integer('maxPixels', options.maxPixels ?? DEFAULT_MAX_PIXELS, 1, Number.MAX_SAFE_INTEGER),
    maxBatchFiles: integer('maxBatchFiles', options.maxBatchFiles ?? DEFAULT_MAX_BATCH_FILES, 1, 1000),
    jobTimeoutMs: integer('jobTimeoutMs', options.jobTimeoutMs ?? DEFAULT_JOB_TIMEOUT_MS, 1, 2 ** 31 - 1),
    uploadTimeoutMs: integer(
      'uploadTimeoutMs',
      options.uploadTimeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS,
      1,
      2 ** 31 - 1,
    ),
    minUploadBytesPerSecond: integer(
      'minUploadBytesPerSecond',
      options.minUploadBytesPerSecond ?? DEFAULT_MIN_UPLOAD_BYTES_PER_SECOND,
      0,
      2 ** 31 - 1,
    ),
    maxUploads: integer(
      'maxUploads',
      options.maxUploads ?? Math.max(32, 4 * (workers + queue)),
      1,
      1_000_000,
    ),
    recycleAboveBytes: integer(
      'recycleAboveBytes',
      options.recycleAboveBytes ?? DEFAULT_RECYCLE_ABOVE_BYTES,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    webRoot: options.webRoot === false ? false : path('webRoot', options.webRoot ?? DEFAULT_WEB_ROOT),
    logger: options.logger ?? false,
    redis: options.redis === undefined || options.redis === false ? false : path('redis', options.redis),
  };
}

/** The detector choice, checked: the kind, and the learned detector's model and threshold when given. */
function detectorOptions(
  options: ServerOptions,
): Pick<ServerOptions, 'detector' | 'detectorModelPath' | 'minScore'> {
  const detector = options.detector ?? DEFAULT_DETECTOR;
  if (!isDetectorKind(detector)) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Expected ${DETECTOR_KINDS.join(' or ')} for detector but received ${JSON.stringify(detector)}`,
    );
  }
  const { detectorModelPath, minScore } = options;
  if (detector === 'haar' && (detectorModelPath !== undefined || minScore !== undefined)) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `${detectorModelPath === undefined ? 'minScore' : 'detectorModelPath'} applies to detector cnn only`,
    );
  }
  if (minScore !== undefined && !(typeof minScore === 'number' && minScore >= 0 && minScore <= 1)) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Expected a number from 0 to 1 for minScore but received ${String(minScore)}`,
    );
  }
  return {
    detector,
    ...(detectorModelPath === undefined
      ? {}
      : { detectorModelPath: path('detectorModelPath', detectorModelPath) }),
    ...(minScore === undefined ? {} : { minScore }),
  };
}

function integer(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Expected an integer from ${min} to ${max} for ${name} but received ${String(value)}`,
    );
  }
  return value;
}

/** A path option left out stays out (the stage's own default applies); false is kept. */
function optionalPath<K extends 'landmarkModelPath' | 'enhanceModelPath'>(
  name: K,
  value: string | false | undefined,
): Partial<Record<K, string | false>> {
  if (value === undefined) return {};
  return { [name]: value === false ? false : path(name, value) } as Partial<Record<K, string | false>>;
}

function path(name: string, value: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      `Expected a file path for ${name} but received ${JSON.stringify(value)}`,
    );
  }
  return value;
}
