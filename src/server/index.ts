/**
 * The HTTP service's public entry. `buildServer` loads Fastify and the routes on first call, so that
 * importing `moodlens` for the library alone does not pay for the server's dependencies.
 */
import type { MoodLensServer } from './app.js';
import type { ServerOptions } from './options.js';

/** Builds the MoodLens HTTP service; see `./app.ts` for what it loads and the routes it serves. */
export async function buildServer(options: ServerOptions = {}): Promise<MoodLensServer> {
  const app = await import('./app.js');
  return app.buildServer(options);
}

export type { MoodLensServer } from './app.js';
export { isKnownErrorCode, ServerError, toHttpError } from './errors.js';
export type { ErrorBody, HttpError, ServerErrorCode } from './errors.js';
export type { ModelDescription } from './models.js';
export {
  DEFAULT_BODY_LIMIT,
  DEFAULT_HOST,
  DEFAULT_JOB_TIMEOUT_MS,
  DEFAULT_MAX_BATCH_FILES,
  DEFAULT_PORT,
  DEFAULT_RECYCLE_ABOVE_BYTES,
  resolveServerOptions,
} from './options.js';
export type { ResolvedServerOptions, ServerOptions } from './options.js';
