/**
 * The catalogue of MoodLens errors. Each code has one meaning, an exit code for the CLI and an HTTP
 * status for the server, so every entry point reports the same failure the same way.
 */
export const ERROR_CATALOGUE = {
  MOODLENS_ERR_FILE_NOT_FOUND: { exitCode: 1, httpStatus: 404, hint: 'Check the path.' },
  MOODLENS_ERR_NOT_A_FILE: { exitCode: 1, httpStatus: 422, hint: 'Give a file, not a directory.' },
  MOODLENS_ERR_EMPTY_INPUT: { exitCode: 1, httpStatus: 422, hint: 'The file has no bytes.' },
  MOODLENS_ERR_NOT_AN_IMAGE: {
    exitCode: 1,
    httpStatus: 415,
    hint: 'Give a JPEG, PNG, WebP, TIFF or GIF file.',
  },
  MOODLENS_ERR_CORRUPT_IMAGE: {
    exitCode: 1,
    httpStatus: 422,
    hint: 'The file looks like an image but cannot be decoded (truncated or damaged).',
  },
  MOODLENS_ERR_TOO_MANY_PIXELS: {
    exitCode: 1,
    httpStatus: 422,
    hint: 'Downscale the image or raise the pixel limit.',
  },
  MOODLENS_ERR_OUTPUT_UNWRITABLE: {
    exitCode: 1,
    httpStatus: 500,
    hint: 'Give --out a folder you can write to (a new path is created; an existing file is not replaced by a folder).',
  },
  MOODLENS_ERR_INVALID_CASCADE: {
    exitCode: 1,
    httpStatus: 500,
    hint: 'Give an OpenCV cascade XML file (opencv_storage format).',
  },
  MOODLENS_ERR_INVALID_DATASET: {
    exitCode: 1,
    httpStatus: 422,
    hint: 'Give <root>/<emotion>/*.jpg folders (FER-2013 class names) or fer2013.csv (emotion,pixels,Usage).',
  },
  MOODLENS_ERR_INVALID_ARGUMENT: { exitCode: 2, httpStatus: 400, hint: 'See --help.' },
  MOODLENS_ERR_MODEL_LOAD: {
    exitCode: 1,
    httpStatus: 500,
    hint:
      'Check the model file given (--model, --detector-model, --landmark-model, --enhance-model, --cascade); ' +
      'for a shipped model, reinstall the package: the file is missing or damaged.',
  },
  MOODLENS_ERR_INVALID_FRAMES: {
    exitCode: 1,
    httpStatus: 422,
    hint: 'Give the frames.csv or JSON records written by moodlens video (header frame,time,track,x,y,width,height,label,confidence,angry,...,neutral).',
  },
  MOODLENS_ERR_FFMPEG_NOT_FOUND: {
    exitCode: 1,
    httpStatus: 500,
    hint: 'Run npm ci (it installs @ffmpeg-installer/ffmpeg), install ffmpeg (apt-get install ffmpeg), or give --ffmpeg PATH or FFMPEG_PATH.',
  },
  MOODLENS_ERR_NOT_A_VIDEO: {
    exitCode: 1,
    httpStatus: 415,
    hint: 'Give a video file ffmpeg can read (mp4, webm, mkv, avi, mov, animated GIF) with a video stream.',
  },
  MOODLENS_ERR_CORRUPT_VIDEO: {
    exitCode: 1,
    httpStatus: 422,
    hint: 'The video could not be decoded to the end (truncated or damaged); frames decoded before the damage were kept.',
  },
  MOODLENS_ERR_FFMPEG_FAILED: {
    exitCode: 1,
    httpStatus: 500,
    hint: 'ffmpeg failed while encoding the output: check free disk space and that the ffmpeg build has libx264.',
  },
  // The job queue (moodlens queue / worker, serve --redis).
  MOODLENS_ERR_QUEUE_UNAVAILABLE: {
    exitCode: 1,
    httpStatus: 503,
    hint: 'Start Redis, or check --redis: redis://[user:password@]host:port[/db] (rediss:// for TLS) must be reachable from this machine.',
  },
  MOODLENS_ERR_QUEUE_FILE_CHANGED: {
    exitCode: 1,
    httpStatus: 409,
    hint: 'Workers read each file from the path it was queued with: give them the same files (shared disk), or queue the new file again.',
  },
  MOODLENS_ERR_JOB_NOT_FOUND: {
    exitCode: 1,
    httpStatus: 404,
    hint: 'Give an id returned by POST /v1/jobs or moodlens queue add --json.',
  },
  // The HTTP service's own failures (exit code 1 when met by a command such as serve).
  MOODLENS_ERR_ROUTE_NOT_FOUND: {
    exitCode: 1,
    httpStatus: 404,
    hint: 'See GET /openapi.json for the routes.',
  },
  MOODLENS_ERR_METHOD_NOT_ALLOWED: {
    exitCode: 1,
    httpStatus: 405,
    hint: 'The route exists with another method: see the Allow header.',
  },
  MOODLENS_ERR_BODY_TOO_LARGE: {
    exitCode: 1,
    httpStatus: 413,
    hint: 'Send a smaller image (or fewer files), or start the server with a larger --body-limit.',
  },
  MOODLENS_ERR_UNSUPPORTED_MEDIA_TYPE: {
    exitCode: 1,
    httpStatus: 415,
    hint: 'Send the image as image/jpeg, image/png, image/webp, image/tiff, image/gif, application/octet-stream or multipart/form-data.',
  },
  MOODLENS_ERR_MALFORMED_REQUEST: {
    exitCode: 1,
    httpStatus: 400,
    hint: 'The request body could not be read (a broken multipart body, for instance).',
  },
  MOODLENS_ERR_UPLOAD_TIMEOUT: {
    exitCode: 1,
    httpStatus: 408,
    hint: 'The request body arrived too slowly: send it faster (or smaller), or ask for a longer upload time limit.',
  },
  MOODLENS_ERR_JOB_TIMEOUT: {
    exitCode: 1,
    httpStatus: 422,
    hint: 'The image needs too much work with these options: send a smaller image or raise scaleFactor/minSize.',
  },
  MOODLENS_ERR_BUSY: {
    exitCode: 1,
    httpStatus: 503,
    hint: 'Every worker and queue slot is taken: retry after Retry-After seconds.',
  },
  MOODLENS_ERR_SHUTTING_DOWN: {
    exitCode: 1,
    httpStatus: 503,
    hint: 'The server is stopping: retry on another instance.',
  },
  MOODLENS_ERR_INTERNAL: {
    exitCode: 1,
    httpStatus: 500,
    hint: 'A bug in MoodLens: please report it with the request.',
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class MoodLensError extends Error {
  override readonly name = 'MoodLensError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  get exitCode(): number {
    return ERROR_CATALOGUE[this.code].exitCode;
  }

  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].httpStatus;
  }

  get hint(): string {
    return ERROR_CATALOGUE[this.code].hint;
  }
}

export function isMoodLensError(value: unknown): value is MoodLensError {
  return value instanceof MoodLensError;
}
