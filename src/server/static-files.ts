/**
 * The built web app (`npm run build:web` -> dist/web) as static files: a small handler of our own (no
 * @fastify/static), because the app needs little: GET/HEAD of files under one folder, the right types
 * for .wasm/.mjs/.onnx, validators for revalidation, and the cross-origin isolation headers on every
 * answer so the page may use WebAssembly threads.
 */
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the build lands, resolved from the package (dist/src/server -> dist/web), never the working directory. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

/** The headers that make the page `crossOriginIsolated` (SharedArrayBuffer, so wasm threads). */
export const CROSS_ORIGIN_ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

/** Content types by file extension; anything else is served as bytes. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.xml': 'application/xml; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** A file to send: where it is and the headers that go with it. */
export interface StaticFile {
  readonly path: string;
  readonly size: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the client's copy is current (`If-None-Match`): answer 304 without a body. */
  readonly notModified: boolean;
}

/** What `resolveStaticFile` finds for a request path. */
export type StaticLookup =
  | { readonly kind: 'file'; readonly file: StaticFile }
  | { readonly kind: 'missing' }
  | { readonly kind: 'bad-path'; readonly reason: string };

/** Whether the web app has been built into `root` (its index.html is there). */
export function webAppBuilt(root: string): boolean {
  return existsSync(resolve(root, 'index.html'));
}

/**
 * Finds the file for a URL path under `root`: `/` is index.html; paths are decoded, must stay inside
 * `root` and may not name hidden files. Hashed build assets (`assets/`) are cached for a year, the rest
 * revalidated (ETag from size and modification time).
 */
export async function resolveStaticFile(
  root: string,
  urlPath: string,
  ifNoneMatch: string | undefined,
): Promise<StaticLookup> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { kind: 'bad-path', reason: `the path ${urlPath} is not valid percent-encoding` };
  }
  if (decoded.includes('\0') || decoded.includes('\\')) {
    return { kind: 'bad-path', reason: 'the path holds a NUL byte or a backslash' };
  }
  const relative = normalize(decoded === '/' ? '/index.html' : decoded).replace(/^\/+/, '');
  if (relative.split('/').some((segment) => segment.startsWith('.'))) return { kind: 'missing' };
  const base = resolve(root);
  const path = resolve(base, relative);
  if (!path.startsWith(base + sep)) return { kind: 'missing' };
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile()) return { kind: 'missing' };

  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const immutable = relative.startsWith('assets/');
  return {
    kind: 'file',
    file: {
      path,
      size: info.size,
      notModified: ifNoneMatch !== undefined && ifNoneMatch.split(/\s*,\s*/).includes(etag),
      headers: {
        'content-type': CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
        'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        etag,
        'last-modified': info.mtime.toUTCString(),
        'x-content-type-options': 'nosniff',
        ...CROSS_ORIGIN_ISOLATION_HEADERS,
      },
    },
  };
}

/** A readable stream of the file's bytes. */
export function openStaticFile(file: StaticFile): NodeJS.ReadableStream {
  return createReadStream(file.path);
}

/** The page answered when the web app has not been built: what to run, and that the API still works. */
export function webAppMissingPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MoodLens: web app not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>The MoodLens web app is not built</h1>
<p>This server found no <code>index.html</code> in its web folder (<code>dist/web</code> of the package).
Build the app with <code>npm run build:web</code> in the MoodLens folder (a clone runs it on
<code>npm ci</code>), then restart <code>moodlens serve</code>.</p>
<p>The HTTP API works without it: see <a href="/openapi.json">/openapi.json</a>.</p>
</body></html>
`;
}
