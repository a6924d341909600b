/**
 * The job queue over HTTP, when the server is started with a Redis URL: `POST /v1/jobs` queues files
 * (paths on the server's machine, which the workers must see at the same paths) as `moodlens queue add`
 * does, and `GET /v1/jobs/{id}` tells a job's state, progress and outcome. Registered as an encapsulated
 * plugin: its JSON body parser applies to these routes only (the rest of the API takes images).
 */
import { isAbsolute } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { MoodLensError, isMoodLensError } from '../core/errors.js';
import { locateFfmpeg } from '../io/node/ffmpeg/locate.js';
import { isRedisFailure, openQueue, type QueueClient } from '../queue/client.js';
import { queueUnavailable } from '../queue/connection.js';
import { addJobs, planJobs } from '../queue/enqueue.js';
import { expandInputs } from '../queue/inputs.js';
import { isJobData } from '../queue/jobs.js';
import { parseFailure, type JobResult } from '../queue/processor.js';
import { parseRedisUrl, redact, type RedisTarget } from '../queue/redis-url.js';

export interface JobsRoutesOptions {
  /** redis:// or rediss:// URL of the queue. */
  readonly redis: string;
}

/** Most files (or folders) one POST may name. */
const MAX_PATHS = 1000;

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

const JobsRequest = Type.Object(
  {
    files: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      maxItems: MAX_PATHS,
      description: 'Absolute paths of photos, videos or folders on the server (workers read the same paths)',
    }),
    model: Type.Optional(Type.String({ minLength: 1, description: 'default, accurate or an absolute path' })),
    chunkSeconds: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Split videos into chunks of this many seconds' }),
    ),
    retryFailed: Type.Optional(Type.Boolean({ description: 'Queue again jobs of these files that failed' })),
  },
  { additionalProperties: false },
);

const AddedJobSchema = Type.Object({
  id: Type.String(),
  file: Type.String(),
  kind: Type.Union([Type.Literal('photo'), Type.Literal('video')]),
  chunk: Type.Optional(Type.Object({ index: Type.Integer(), count: Type.Integer() })),
  status: Type.Union([Type.Literal('added'), Type.Literal('exists'), Type.Literal('retried')]),
});

const JobsResponse = Type.Object({
  jobs: Type.Array(AddedJobSchema),
  failures: Type.Array(
    Type.Object({ file: Type.String(), error: Type.Object({ code: Type.String(), message: Type.String() }) }),
  ),
});

const JobState = Type.Object({
  id: Type.String(),
  state: Type.String({ description: 'waiting, active, completed, failed, delayed (a retry is due) ...' }),
  progress: Type.Number({ description: 'Percent done, 0-100' }),
  kind: Type.String(),
  file: Type.String(),
  chunk: Type.Optional(Type.Object({ index: Type.Integer(), count: Type.Integer() })),
  attempts: Type.Integer({ description: 'Times a worker started it' }),
  result: Type.Optional(
    Type.Object(
      {},
      { additionalProperties: true, description: 'A photo: its moodlens analyze --json entry' },
    ),
  ),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});

/** What GET shows of a finished job's return value: a photo's entry, a video's size and summary. */
function describeResult(result: JobResult | undefined): Record<string, unknown> | undefined {
  if (result === undefined || result === null) return undefined;
  if (result.kind === 'photo') return { ...result.entry };
  if (result.kind === 'video-whole') {
    return { frames: result.frames, complete: result.complete, summary: result.report.summary };
  }
  // A chunk's observations become frames.csv rows only once `queue results` replays every chunk in order.
  const facesSeen = result.records.reduce((n, frame) => n + (frame.faces?.length ?? 0), 0);
  return { frames: result.frames, complete: result.complete, detectedFaces: facesSeen };
}

/** Registers the routes on `app` (an encapsulated plugin); the queue closes with the server. */
export async function registerJobsRoutes(app: FastifyInstance, options: JobsRoutesOptions): Promise<void> {
  const target: RedisTarget = parseRedisUrl(options.redis);
  // Fails the server's start (coded) when Redis is unreachable: better than a service half up.
  const client: QueueClient = await openQueue(target, 'service');
  for (const warning of client.warnings) app.log.warn(redact(warning, target.secrets));
  const coded = (error: unknown): unknown => {
    if (isMoodLensError(error)) return new MoodLensError(error.code, redact(error.message, target.secrets));
    return isRedisFailure(error) ? queueUnavailable(target, error) : error;
  };

  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions
  await app.register(async (scope) => {
    const routes = scope.withTypeProvider<TypeBoxTypeProvider>();
    scope.addContentTypeParser(
      'application/json',
      { parseAs: 'string', bodyLimit: 1024 * 1024 },
      (_r, body, done) => {
        try {
          done(null, JSON.parse(body as string) as unknown);
        } catch {
          done(new MoodLensError('MOODLENS_ERR_MALFORMED_REQUEST', 'The request body is not valid JSON'));
        }
      },
    );
    scope.addHook('onClose', () => client.close());

    routes.post(
      '/v1/jobs',
      {
        schema: {
          tags: ['analysis'],
          summary: 'Queue photos and videos for the workers (moodlens worker)',
          description:
            'JSON body {"files": [absolute paths], "model"?, "chunkSeconds"?, "retryFailed"?}. Each file is ' +
            'hashed and queued as `moodlens queue add` does: adding a file again adds nothing. Files that ' +
            'cannot be read are listed in "failures". Only when the server runs with --redis.',
          body: JobsRequest,
          response: { 202: JobsResponse, '4xx': ErrorBody, '5xx': ErrorBody },
        },
      },
      async (request, reply) => {
        const checked: Static<typeof JobsRequest> = request.body;
        for (const file of checked.files) {
          if (!isAbsolute(file)) {
            throw new MoodLensError(
              'MOODLENS_ERR_INVALID_ARGUMENT',
              `Expected an absolute path but received '${file}'`,
            );
          }
        }
        const model = checked.model ?? 'default';
        if (!['default', 'accurate'].includes(model) && !isAbsolute(model)) {
          throw new MoodLensError(
            'MOODLENS_ERR_INVALID_ARGUMENT',
            `Expected default, accurate or an absolute path for model but received '${model}'`,
          );
        }
        try {
          const inputs = await expandInputs(checked.files);
          const { jobs, failures } = await planJobs(inputs, {
            model,
            ...(checked.chunkSeconds === undefined ? {} : { chunkSeconds: checked.chunkSeconds }),
            ffmpeg: () => locateFfmpeg({}),
          });
          const added = await addJobs(client.queue, jobs, checked.retryFailed === true);
          return reply.code(202).send({ jobs: added, failures });
        } catch (error) {
          throw coded(error);
        }
      },
    );
    routes.get(
      '/v1/jobs/:id',
      {
        schema: {
          tags: ['analysis'],
          summary: 'A queued job: state, progress, outcome',
          params: Type.Object({ id: Type.String({ maxLength: 200 }) }),
          response: { 200: JobState, '4xx': ErrorBody, '5xx': ErrorBody },
        },
      },
      async (request) => {
        const { id } = request.params;
        try {
          const job = /^[pv]-[0-9a-f]{40}$/.test(id) ? await client.queue.getJob(id) : undefined;
          const data: unknown = job?.data;
          if (job === undefined || !isJobData(data)) {
            throw new MoodLensError('MOODLENS_ERR_JOB_NOT_FOUND', `No job ${id} in the queue`);
          }
          const state = await job.getState();
          const result = state === 'completed' ? describeResult(job.returnvalue as JobResult) : undefined;
          return {
            id,
            state,
            progress: typeof job.progress === 'number' ? job.progress : state === 'completed' ? 100 : 0,
            kind: data.kind,
            file: data.file,
            ...(data.kind === 'video' ? { chunk: { index: data.chunk.index, count: data.chunk.count } } : {}),
            attempts: job.attemptsStarted,
            ...(result === undefined ? {} : { result }),
            ...(state === 'failed' ? { error: parseFailure(job.failedReason) } : {}),
          };
        } catch (error) {
          throw coded(error);
        }
      },
    );
  });
}
