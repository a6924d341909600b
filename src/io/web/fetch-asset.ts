import { MoodLensError } from '../../core/errors.js';
import { describeForeignBytes } from '../../emotion/onnx-metadata.js';
import { firstLine } from '../../emotion/onnx-runtime-backend.js';

/** `fetch` as the web adapters call it (injectable for tests and embedding pages). */
export type FetchLike = (url: string) => Promise<Response>;

/**
 * Downloads one file the app needs (a model, the cascade) and returns its bytes.
 * @param what names the file for messages, e.g. `emotion model`.
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the file, its URL and what arrived instead: no
 *   answer at all, or an HTTP error status with what its body is (typically a server's HTML 404 page).
 */
export async function fetchAsset(
  url: string,
  what: string,
  fetchImpl: FetchLike = fetch,
): Promise<Uint8Array> {
  let response: Response;
  let bytes: Uint8Array;
  try {
    response = await fetchImpl(url);
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (cause) {
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `Cannot download the ${what} ${url}: ${firstLine(cause)} (is the server still running?)`,
      { cause },
    );
  }
  if (!response.ok) {
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `Cannot load the ${what} ${url}: the server answered HTTP ${response.status}` +
        `${response.statusText ? ` ${response.statusText}` : ''} with ${describeBody(bytes, response)} ` +
        'instead of the file',
    );
  }
  return bytes;
}

/** What a body is, for messages: a known kind of file (an HTML page...) or its size and type. */
export function describeBody(bytes: Uint8Array, response: Pick<Response, 'headers'>): string {
  const known = describeForeignBytes(bytes);
  if (known !== undefined) return known.split(':')[0]; // "an HTML page (153 bytes)", without the advice
  const type = response.headers.get('content-type');
  return `${bytes.length} bytes${type ? ` of ${type}` : ''}`;
}

/** Whether bytes start like an HTML page (what a server or an app shell answers for a missing file). */
export function looksLikeHtml(bytes: Uint8Array): boolean {
  const head = new TextDecoder()
    .decode(bytes.subarray(0, 256))
    .replace(/^\uFEFF/, '')
    .trimStart();
  return /^<(!doctype html|html|head|body)/i.test(head);
}
