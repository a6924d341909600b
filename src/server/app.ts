import type { Socket } from 'node:net';
import fastifyMultipart from '@fastify/multipart';
import fastifySwagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import { Type } from 'typebox';
import { sniffFormat } from '../io/node/read-image.js';
import { MoodLensError } from '../core/errors.js';
import { DEFAULT_CROP_FACE_OPTIONS } from '../emotion/preprocess.js';
import { DEFAULT_ENHANCE_BELOW, DEFAULT_UPSCALE_BELOW } from '../enhance/policy.js';
import { packageVersion } from '../cli/main.js';
import { ServerError, toHttpError } from './errors.js';
import { loadModels } from './models.js';
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './options.js';
import { AnalyzePool, type Admission } from './pool.js';
import { UploadGuard } from './upload-guard.js';
import { registerJobsRoutes } from './jobs-routes.js';
import { openStaticFile, resolveStaticFile, webAppBuilt, webAppMissingPage } from './static-files.js';
import { isFailedImage, type AnalyzeOptions, type UploadedImage } from './protocol.js';
import {
  AnalyzedImageSchema,
  AnalyzeQuerySchema,
  analyzeRequestBody,
  BatchResponseSchema,
  ErrorResponseSchema,
  HealthSchema,
  IMAGE_CONTENT_TYPES,
  ModelsSchema,
  type AnalyzeQuery,
} from './schemas.js';

/** The Fastify instance `buildServer` returns (TypeBox type provider). */
export type MoodLensServer = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** The name given to a raw-body upload, and to a multipart file part without a file name. */
export const UPLOAD_NAME = 'upload';

/**
 * A refused body up to this many times the limit is read and discarded (by Node) so that the client's
 * connection survives the 413; a larger or undeclared one ends the connection instead.
 */
const DRAIN_FACTOR = 4;

/** Bytes of multipart framing (boundaries, part headers) allowed beyond the body limit's file bytes. */
const MULTIPART_FRAMING = 64 * 1024;

/**
 * Node's own limit on receiving a whole request, a backstop behind the UploadGuard's (which answers in
 * JSON, to the second): headers, or a body on a route without a guard.
 */
const REQUEST_TIMEOUT_MS = 120_000;

/** Upload rates are judged from this many milliseconds into the request. */
const UPLOAD_GRACE_MS = 5_000;

const ERROR_RESPONSES = { '4xx': ErrorResponseSchema, '5xx': ErrorResponseSchema } as const;

const API_DESCRIPTION =
  'Finds faces (OpenCV-exact Haar cascade, or the learned detector with a score per face when the server ' +
  'runs --detector cnn), turns each upright by its 68 landmarks, restores small ones ' +
  'with FSRNet super-resolution and classifies their emotion (FER-2013 classes), as `moodlens analyze`. ' +
  'A screening aid, never a diagnosis. Errors are {"error": {"code", "message"}} with MOODLENS_ERR_... codes.';

/**
 * Builds the MoodLens HTTP service: loads the models once (reading the emotion model, the cascade and,
 * when installed, the landmark model, its template and FSRNet; checking their metadata; starting the worker
 * pool, each worker building its own copies from those bytes), then registers the routes. Test it with `app.inject()`, serve it with `app.listen()`; `app.close()` stops accepting,
 * lets in-flight requests finish and stops the workers.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` when the model cannot load, `MOODLENS_ERR_INVALID_ARGUMENT`
 *   for a bad option.
 */
export async function buildServer(options: ServerOptions = {}): Promise<MoodLensServer> {
  const opts = resolveServerOptions(options);
  const models = await loadModels(opts.modelPath, opts.cascadePath, opts);
  const pool = await AnalyzePool.create(
    { ...models.init, recycleAboveBytes: opts.recycleAboveBytes },
    {
      workers: opts.workers,
      queue: opts.queue,
      jobTimeoutMs: opts.jobTimeoutMs,
    },
  );
  try {
    const app = await createApp(opts, pool, models.descriptions);
    for (const note of models.notes) app.log.warn(note);
    return app;
  } catch (error) {
    await pool.close();
    throw error;
  }
}

async function createApp(
  opts: ResolvedServerOptions,
  pool: AnalyzePool,
  descriptions: Awaited<ReturnType<typeof loadModels>>['descriptions'],
): Promise<MoodLensServer> {
  const startedAt = performance.now();
  const app = Fastify({
    logger: opts.logger,
    bodyLimit: opts.bodyLimit,
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, opts.uploadTimeoutMs + 30_000),
    // Requests arriving while closing get our own coded 503 (see the onRequest hook), not Fastify's.
    return503OnClosing: false,
    // Unknown query parameters are refused (a misspelt option must not be silently ignored).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    frameworkErrors: (error, _request, reply) => {
      void sendError(reply, error);
    },
    clientErrorHandler: answerClientError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Routes by path, with their methods: an unknown method on a known path is a 405, not a 404.
  const methodsByPath = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const methods = methodsByPath.get(route.url) ?? new Set<string>();
    for (const method of [route.method].flat()) methods.add(method);
    methodsByPath.set(route.url, methods);
  });

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) {
      void reply.header('connection', 'close');
      throw new ServerError('MOODLENS_ERR_SHUTTING_DOWN', 'The server is shutting down', {
        'retry-after': '1',
      });
    }
  });
  // Answers sent while closing end their connection, so that a keep-alive client does not hold the
  // server open until its keep-alive timeout.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) void reply.header('connection', 'close');
  });
  // After in-flight requests are answered (Fastify closes the listener first), stop the workers.
  app.addHook('onClose', async () => pool.close());

  app.setErrorHandler((error, request, reply) => {
    // The UploadGuard has answered already (and closes the connection): nothing more to say.
    if (reply.raw.headersSent) return;
    const http = toHttpError(error);
    // The unread rest of a body over the limit: Node reads and discards it after the answer, keeping the
    // connection, when its declared length is modest; anything larger or undeclared ends the connection.
    if (http.status === 413) {
      const declared = Number(request.headers['content-length']);
      if (!(declared <= DRAIN_FACTOR * opts.bodyLimit)) void reply.header('connection', 'close');
    }
    if (http.body.error.code === 'MOODLENS_ERR_INTERNAL') {
      request.log.error({ err: error }, 'internal error answering %s %s', request.method, request.url);
    }
    void reply.code(http.status).headers(http.headers).send(http.body);
  });
  // No route (or, for GET, no file of the web app): 405 with Allow on a known path, else 404.
  const answerUnrouted = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = request.url.split('?')[0];
    const methods = methodsByPath.get(path);
    if (methods !== undefined && !methods.has(request.method)) {
      const allow = [...methods].sort().join(', ');
      return sendError(
        reply,
        new ServerError(
          'MOODLENS_ERR_METHOD_NOT_ALLOWED',
          `Method ${request.method} not allowed on ${path}; allowed: ${allow}`,
          { allow },
        ),
      );
    }
    return sendError(
      reply,
      new ServerError('MOODLENS_ERR_ROUTE_NOT_FOUND', `No route ${request.method} ${path}`),
    );
  };
  app.setNotFoundHandler(answerUnrouted);

  // Bodies: raw images (read whole, up to bodyLimit) and multipart; nothing else (no JSON parser).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...IMAGE_CONTENT_TYPES], { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
  await app.register(fastifyMultipart, {
    limits: {
      fileSize: opts.bodyLimit,
      files: opts.maxBatchFiles,
      fields: 16,
      fieldSize: 1024,
      parts: opts.maxBatchFiles + 16,
      headerPairs: 64,
    },
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'MoodLens', version: packageVersion(), description: API_DESCRIPTION },
      tags: [
        { name: 'analysis', description: 'Faces and their emotions' },
        { name: 'service', description: 'Health, models and this document' },
      ],
    },
  });

  // Bodies are received first, each watched by an UploadGuard (size, time, rate) and at most
  // `maxUploads` at once; a request takes a slot in the pool only once its body has arrived, so slow
  // uploads cannot hold the workers. A body declared over the limit (with room for multipart framing)
  // is refused before anything is read.
  let uploads = 0;
  const receive = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const declared = Number(request.headers['content-length']);
    const multipart = request.headers['content-type']?.startsWith('multipart/') === true;
    const framing = multipart ? MULTIPART_FRAMING : 0;
    if (declared > opts.bodyLimit + framing) {
      throw new ServerError(
        'MOODLENS_ERR_BODY_TOO_LARGE',
        `Request body too large: ${declared} bytes, over the limit of ${opts.bodyLimit} bytes`,
      );
    }
    if (uploads >= opts.maxUploads) {
      throw new ServerError(
        'MOODLENS_ERR_BUSY',
        `Server busy: ${uploads} uploads in progress, the most it receives at once`,
        { 'retry-after': '1' },
      );
    }
    uploads++;
    new UploadGuard(
      request.raw,
      reply.raw,
      {
        // Raw bodies are limited by Fastify's parser; multipart ones (read by busboy) here.
        byteLimit: multipart ? opts.bodyLimit + framing : undefined,
        timeoutMs: opts.uploadTimeoutMs,
        minBytesPerSecond: opts.minUploadBytesPerSecond,
        graceMs: UPLOAD_GRACE_MS,
      },
      () => uploads--,
    );
  };
  const admissions = new WeakMap<FastifyRequest, { admission: Admission; release: () => void }>();
  /** Takes the request's slot in the pool (503 when full); freed when the request is over. */
  const admit = (request: FastifyRequest, reply: FastifyReply): Admission => {
    const admission = pool.admit();
    // Every way a request can end frees its slot: its answer sent, the client gone, or its connection
    // closed (which also covers requests a misbehaving client pipelines after a `Connection: close`).
    const socket = request.raw.socket;
    const release = (): void => {
      socket.off('close', release);
      reply.raw.off('close', release);
      admission.release();
    };
    socket.once('close', release);
    reply.raw.once('close', release);
    admissions.set(request, { admission, release });
    return admission;
  };
  const release = (request: FastifyRequest): void => admissions.get(request)?.release();
  // Freed as the answer is sent (onSend), not after: a client that sends its next request on the same
  // connection as soon as it reads the answer must find its slot free.
  app.addHook('onSend', (request, _reply, payload, done) => {
    release(request);
    done(null, payload);
  });
  app.addHook('onResponse', (request, _reply, done) => {
    release(request);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    release(request);
    done();
  });
  const canEnhance = descriptions.some((d) => d.task === 'face-super-resolution');
  const analyzeOptions = (query: AnalyzeQuery, url: string): AnalyzeOptions => {
    if (opts.detector === 'cnn') {
      // The schema fills in the Haar defaults, so only the URL tells whether the client asked for them.
      const given = new URL(url, 'http://localhost').searchParams;
      const haarOnly = ['scaleFactor', 'minNeighbors'].filter((name) => given.has(name));
      if (haarOnly.length > 0) {
        throw new MoodLensError(
          'MOODLENS_ERR_INVALID_ARGUMENT',
          `${haarOnly.join(' and ')} ${haarOnly.length > 1 ? 'are' : 'is a'} Haar cascade setting${haarOnly.length > 1 ? 's' : ''}; ` +
            'this server runs the learned face detector (serve --detector cnn)',
        );
      }
    }
    const enhance = query.enhance ?? 'auto';
    if (enhance === 'always' && !canEnhance) {
      throw new MoodLensError(
        'MOODLENS_ERR_INVALID_ARGUMENT',
        'enhance=always needs the super-resolution model, which this server has not loaded',
      );
    }
    return {
      detect: {
        scaleFactor: query.scaleFactor,
        minNeighbors: query.minNeighbors,
        minSize: query.minSize,
        maxSize: query.maxSize,
      },
      margin: query.margin ?? DEFAULT_CROP_FACE_OPTIONS.margin,
      flipTta: query.flipTta ?? false,
      align: query.align ?? true,
      enhance,
      enhanceBelow: query.enhanceBelow ?? DEFAULT_ENHANCE_BELOW,
      upscaleBelow: query.upscaleBelow ?? DEFAULT_UPSCALE_BELOW,
      maxPixels: opts.maxPixels,
      keepAllFaces: query.keepAllFaces ?? false,
    };
  };

  app.post(
    '/v1/analyze',
    {
      schema: {
        tags: ['analysis'],
        summary: 'Faces and emotions in one image',
        description:
          'The body is the image itself (Content-Type image/jpeg, image/png, image/webp, image/tiff, ' +
          'image/gif or application/octet-stream) or multipart/form-data with one file part. Answers the ' +
          'entry `moodlens analyze --json` gives for the image; "file" is the part\'s file name or "upload".',
        querystring: AnalyzeQuerySchema,
        response: { 200: AnalyzedImageSchema, ...ERROR_RESPONSES },
      },
      config: { swaggerTransform: withRequestBody(false) },
      onRequest: receive,
    },
    async (request, reply) => {
      const images = request.isMultipart()
        ? await readFileParts(request, 1, opts.bodyLimit)
        : [rawImage(request)];
      // Bytes that are plainly no image are answered here, without taking a worker's time.
      refuseNonImage(images[0]);
      const options = analyzeOptions(request.query, request.url);
      const [outcome] = await admit(request, reply).run(images, options);
      if (isFailedImage(outcome)) throw new MoodLensError(outcome.error.code, outcome.error.message);
      return outcome;
    },
  );

  app.post(
    '/v1/analyze/batch',
    {
      schema: {
        tags: ['analysis'],
        summary: 'Faces and emotions in several images',
        description:
          `multipart/form-data with up to ${opts.maxBatchFiles} file parts (${opts.bodyLimit} bytes in all). ` +
          'Answers one entry per file, in order; a file that fails gets {"file", "error": {"code", "message"}} ' +
          'and the others still run, as with `moodlens analyze --json`.',
        querystring: AnalyzeQuerySchema,
        response: { 200: BatchResponseSchema, ...ERROR_RESPONSES },
      },
      config: { swaggerTransform: withRequestBody(true) },
      onRequest: receive,
    },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw new ServerError(
          'MOODLENS_ERR_UNSUPPORTED_MEDIA_TYPE',
          `Expected multipart/form-data with file parts but received ${request.headers['content-type'] ?? 'no Content-Type'}`,
        );
      }
      const images = await readFileParts(request, opts.maxBatchFiles, opts.bodyLimit);
      const options = analyzeOptions(request.query, request.url);
      return admit(request, reply).run(images, options);
    },
  );

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['service'],
        summary: 'Liveness and load of the worker pool',
        response: { 200: HealthSchema, ...ERROR_RESPONSES },
      },
    },
    () => ({
      status: 'ok' as const,
      ...pool.stats,
      uptimeSeconds: Math.round((performance.now() - startedAt) / 100) / 10,
    }),
  );

  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['service'],
        summary: 'The models in use: names, versions and measured accuracy',
        response: { 200: ModelsSchema, ...ERROR_RESPONSES },
      },
    },
    () => ({ models: descriptions.map((d) => ({ ...d, labels: d.labels && [...d.labels] })) }),
  );

  app.get(
    '/openapi.json',
    {
      schema: {
        tags: ['service'],
        summary: 'This API as an OpenAPI 3.1 document',
        response: {
          200: Type.Object({}, { additionalProperties: true, description: 'OpenAPI 3.1 document' }),
          ...ERROR_RESPONSES,
        },
      },
    },
    () => app.swagger(),
  );

  if (opts.redis !== false) await registerJobsRoutes(app, { redis: opts.redis });
  if (opts.webRoot !== false) registerWebApp(app, opts.webRoot, answerUnrouted);

  await app.ready();
  return app;
}

/**
 * The built web app at `/` (GET and HEAD; hidden from the OpenAPI document): its files with their
 * types and the cross-origin isolation headers, or, when it has not been built, a page saying how to
 * build it (503). A path that is no file falls through to the API's 404/405 answers.
 */
function registerWebApp(
  app: MoodLensServer,
  root: string,
  answerUnrouted: (request: FastifyRequest, reply: FastifyReply) => FastifyReply,
): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const path = request.url.split('?')[0];
    if (!webAppBuilt(root)) {
      if (path !== '/' && path !== '/index.html') return answerUnrouted(request, reply);
      return reply
        .code(503)
        .headers({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
        .send(webAppMissingPage());
    }
    const found = await resolveStaticFile(root, path, request.headers['if-none-match']);
    if (found.kind === 'bad-path') {
      return sendError(reply, new ServerError('MOODLENS_ERR_MALFORMED_REQUEST', `Bad path: ${found.reason}`));
    }
    if (found.kind === 'missing') return answerUnrouted(request, reply);
    const { file } = found;
    void reply.headers(file.headers);
    if (file.notModified) return reply.code(304).send();
    return reply.header('content-length', file.size).send(openStaticFile(file));
  };
  const options = { schema: { hide: true } } as const;
  app.get('/', options, handler);
  app.get('/*', options, handler);
}

function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  const http = toHttpError(error);
  return reply.code(http.status).headers(http.headers).send(http.body);
}

/** The OpenAPI request body of an analyze route (bodies are binary, so they are documented, not validated). */
function withRequestBody(batch: boolean) {
  return ({ schema, url }: { schema: object; url: string }) => ({
    schema: { ...schema, body: analyzeRequestBody(batch) },
    url,
  });
}

function rawImage(request: FastifyRequest): UploadedImage {
  const body = request.body;
  if (Buffer.isBuffer(body)) return { name: UPLOAD_NAME, bytes: body };
  const type = request.headers['content-type'];
  if (type !== undefined && IMAGE_CONTENT_TYPES.some((t) => type.toLowerCase().startsWith(t))) {
    throw new MoodLensError('MOODLENS_ERR_EMPTY_INPUT', `Empty input: ${UPLOAD_NAME} has no bytes`);
  }
  throw new ServerError(
    'MOODLENS_ERR_UNSUPPORTED_MEDIA_TYPE',
    `Expected an image body (${IMAGE_CONTENT_TYPES.join(', ')}) or multipart/form-data but received ` +
      `${type ?? 'no body'}`,
  );
}

/**
 * Throws what `decodeImage` would for an empty upload or one that starts with none of the supported
 * formats' signatures (JPEG, PNG, GIF, WebP, TIFF), so that junk never waits in the queue.
 */
function refuseNonImage(image: UploadedImage): void {
  const b = image.bytes;
  if (b.length === 0) {
    throw new MoodLensError('MOODLENS_ERR_EMPTY_INPUT', `Empty input: ${image.name} has no bytes`);
  }
  if (sniffFormat(b) === undefined) {
    throw new MoodLensError(
      'MOODLENS_ERR_NOT_AN_IMAGE',
      `Not an image: ${image.name} is not a JPEG, PNG, WebP, TIFF or GIF file`,
    );
  }
}

/**
 * Reads the file parts of a multipart body (other fields are skipped), at most `maxFiles`, their bytes
 * together at most `bodyLimit`. A body the multipart parser cannot read is the client's: 400.
 */
async function readFileParts(
  request: FastifyRequest,
  maxFiles: number,
  bodyLimit: number,
): Promise<UploadedImage[]> {
  try {
    return await collectFileParts(request, maxFiles, bodyLimit);
  } catch (error) {
    const status = (error as { statusCode?: unknown } | null)?.statusCode;
    if (error instanceof ServerError || error instanceof MoodLensError || typeof status === 'number')
      throw error;
    throw new ServerError(
      'MOODLENS_ERR_MALFORMED_REQUEST',
      `Malformed multipart body: ${error instanceof Error ? error.message : String(error)}`,
      {},
      { cause: error },
    );
  }
}

async function collectFileParts(
  request: FastifyRequest,
  maxFiles: number,
  bodyLimit: number,
): Promise<UploadedImage[]> {
  const images: UploadedImage[] = [];
  let total = 0;
  for await (const part of request.parts()) {
    if (part.type !== 'file') continue;
    if (images.length === maxFiles) {
      throw maxFiles === 1
        ? new MoodLensError(
            'MOODLENS_ERR_INVALID_ARGUMENT',
            'Expected one file part; send several to POST /v1/analyze/batch',
          )
        : new ServerError('MOODLENS_ERR_BODY_TOO_LARGE', `Too many files: at most ${maxFiles} per batch`);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of part.file as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > bodyLimit) {
        throw new ServerError(
          'MOODLENS_ERR_BODY_TOO_LARGE',
          `Request body too large: the files exceed the limit of ${bodyLimit} bytes`,
        );
      }
      chunks.push(chunk);
    }
    images.push({ name: part.filename || UPLOAD_NAME, bytes: Buffer.concat(chunks) });
  }
  if (images.length === 0) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_ARGUMENT',
      'Expected a file part in the multipart body but found none',
    );
  }
  return images;
}

/** Answers what Node's HTTP parser refuses (bad framing, huge headers, slow clients) in the same JSON shape. */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout']
        : [400, 'Bad Request'];
  const body = JSON.stringify({
    error: {
      code: 'MOODLENS_ERR_MALFORMED_REQUEST',
      message: `${reason}: the HTTP request could not be read`,
    },
  });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
