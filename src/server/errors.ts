import { ERROR_CATALOGUE, isMoodLensError, type ErrorCode } from '../core/errors.js';

/** The codes only the HTTP service meets (their statuses live in the one catalogue, `src/core/errors.ts`). */
export type ServerErrorCode =
  | 'MOODLENS_ERR_ROUTE_NOT_FOUND'
  | 'MOODLENS_ERR_METHOD_NOT_ALLOWED'
  | 'MOODLENS_ERR_BODY_TOO_LARGE'
  | 'MOODLENS_ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'MOODLENS_ERR_MALFORMED_REQUEST'
  | 'MOODLENS_ERR_UPLOAD_TIMEOUT'
  | 'MOODLENS_ERR_JOB_TIMEOUT'
  | 'MOODLENS_ERR_BUSY'
  | 'MOODLENS_ERR_SHUTTING_DOWN'
  | 'MOODLENS_ERR_INTERNAL';

/** A server-side failure with its code, status and optional response headers (`Retry-After`, `Allow`). */
export class ServerError extends Error {
  override readonly name = 'ServerError';

  constructor(
    readonly code: ServerErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].httpStatus;
  }
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  readonly error: { readonly code: ErrorCode | ServerErrorCode; readonly message: string };
}

export interface HttpError {
  readonly status: number;
  readonly body: ErrorBody;
  readonly headers: Readonly<Record<string, string>>;
}

/** Fastify's and @fastify/multipart's errors carry a code and a status; nothing else is trusted. */
interface FrameworkError {
  readonly code?: unknown;
  readonly statusCode?: unknown;
  readonly message?: unknown;
  readonly validation?: unknown;
  readonly validationContext?: unknown;
}

/**
 * Turns anything thrown while answering a request into a status and a JSON body. Coded MoodLens errors
 * keep their catalogue status; the framework's 4xx (validation, body limits, content types) get a
 * MoodLens code of the same class; everything else is a 500 `MOODLENS_ERR_INTERNAL` (a bug, logged by
 * the caller), whose message does not leak internals.
 */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof ServerError) {
    return { status: error.httpStatus, body: bodyOf(error.code, error.message), headers: error.headers };
  }
  if (isMoodLensError(error)) {
    return { status: error.httpStatus, body: bodyOf(error.code, error.message), headers: {} };
  }
  const framework = (typeof error === 'object' && error !== null ? error : {}) as FrameworkError;
  const message = typeof framework.message === 'string' ? framework.message : 'Bad request';
  if (framework.validation !== undefined) {
    const where = typeof framework.validationContext === 'string' ? framework.validationContext : 'request';
    return {
      status: 400,
      body: bodyOf('MOODLENS_ERR_INVALID_ARGUMENT', `Invalid ${where}: ${stripContext(message, where)}`),
      headers: {},
    };
  }
  const status = typeof framework.statusCode === 'number' ? framework.statusCode : 500;
  const code = typeof framework.code === 'string' ? framework.code : '';
  if (status === 413 || /_TOO_LARGE$|FILES_LIMIT|PARTS_LIMIT|FIELDS_LIMIT/.test(code)) {
    return { status: 413, body: bodyOf('MOODLENS_ERR_BODY_TOO_LARGE', message), headers: {} };
  }
  if (status === 415 || code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') {
    const detail =
      code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? 'Unsupported Content-Type: send an image (image/jpeg, image/png, image/webp, image/tiff, ' +
          'image/gif, application/octet-stream) or multipart/form-data'
        : message;
    return { status: 415, body: bodyOf('MOODLENS_ERR_UNSUPPORTED_MEDIA_TYPE', detail), headers: {} };
  }
  if (status >= 400 && status < 500) {
    return { status, body: bodyOf('MOODLENS_ERR_MALFORMED_REQUEST', message), headers: {} };
  }
  return {
    status: 500,
    body: bodyOf('MOODLENS_ERR_INTERNAL', 'Internal error; the server log has the details'),
    headers: {},
  };
}

function bodyOf(code: ErrorCode | ServerErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Ajv's messages start with the context ("querystring/minSize must be >= 0"); say it once. */
function stripContext(message: string, where: string): string {
  return message.startsWith(`${where}/`) ? message.slice(where.length + 1) : message;
}

/** Whether `code` is in the catalogue (worker answers are checked before being trusted). */
export function isKnownErrorCode(code: unknown): code is ErrorCode | ServerErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code);
}
