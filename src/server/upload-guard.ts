/**
 * Watches one request body while it arrives: its bytes against the body limit (multipart bodies are
 * read by busboy, which would otherwise read a chunked body without end), its time against the upload
 * time limit and its average rate against the slowest rate accepted. A body that breaks a rule is
 * answered at once (413 or 408, `Connection: close`) and its connection closed, so a slow or endless
 * upload holds neither memory nor a worker slot.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ServerError, toHttpError } from './errors.js';

export interface UploadRules {
  /** Most body bytes; undefined leaves the limit to the body parser. */
  readonly byteLimit: number | undefined;
  readonly timeoutMs: number;
  /** 0 turns the rate check off. */
  readonly minBytesPerSecond: number;
  /** The rate is judged from this many milliseconds on (TCP slow start, a phone waking its radio). */
  readonly graceMs: number;
}

const CHECK_EVERY_MS = 250;
/** How long, and how many bytes of a refused body, are read and dropped before its socket is closed. */
const LINGER_MS = 2000;
const LINGER_BYTES = 4 * 1024 * 1024;

export class UploadGuard {
  #bytes = 0;
  #done = false;
  readonly #started = performance.now();
  readonly #timer: NodeJS.Timeout;
  readonly #onData = (chunk: Buffer): void => {
    this.#bytes += chunk.length;
    const { byteLimit } = this.rules;
    if (byteLimit !== undefined && this.#bytes > byteLimit) {
      this.#refuse(
        new ServerError(
          'MOODLENS_ERR_BODY_TOO_LARGE',
          `Request body too large: more than the limit of ${byteLimit} bytes`,
        ),
      );
    }
  };

  /**
   * Starts watching `request` (call it before anything reads the body). `onEnd` runs once, when the body
   * has arrived, was refused, or the request ended otherwise.
   */
  constructor(
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
    private readonly rules: UploadRules,
    private readonly onEnd: () => void,
  ) {
    // Counting needs a 'data' listener, which would start the flow before the body parser is attached:
    // pause first; the parser's resume() (or pipe()) starts it, and both listeners then see every chunk.
    request.on('data', this.#onData);
    request.pause();
    request.once('end', () => this.stop());
    request.once('close', () => this.stop());
    response.once('close', () => this.stop());
    this.#timer = setInterval(() => this.#check(), CHECK_EVERY_MS);
    this.#timer.unref();
  }

  /** Body bytes seen so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Stops watching (idempotent). */
  stop(): void {
    if (this.#done) return;
    this.#done = true;
    clearInterval(this.#timer);
    this.request.off('data', this.#onData);
    this.onEnd();
  }

  #check(): void {
    const elapsed = performance.now() - this.#started;
    const { timeoutMs, minBytesPerSecond, graceMs } = this.rules;
    if (elapsed > timeoutMs) {
      this.#refuse(
        new ServerError(
          'MOODLENS_ERR_UPLOAD_TIMEOUT',
          `Upload too slow: the body was not received within ${timeoutMs / 1000} s (${this.#bytes} bytes arrived)`,
        ),
      );
    } else if (minBytesPerSecond > 0 && elapsed > graceMs) {
      const rate = this.#bytes / (elapsed / 1000);
      if (rate < minBytesPerSecond) {
        this.#refuse(
          new ServerError(
            'MOODLENS_ERR_UPLOAD_TIMEOUT',
            `Upload too slow: ${Math.round(rate)} bytes/s over ${(elapsed / 1000).toFixed(1)} s, under the ` +
              `${minBytesPerSecond} bytes/s this server accepts`,
          ),
        );
      }
    }
  }

  /** Answers the error (unless an answer has begun) and closes the connection once it is written. */
  #refuse(error: ServerError): void {
    if (this.#done) return;
    this.stop();
    const socket = this.request.socket;
    this.request.pause();
    if (this.response.headersSent) {
      socket.destroy();
      return;
    }
    const http = toHttpError(error);
    const body = JSON.stringify(http.body);
    this.response.writeHead(http.status, {
      ...http.headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    this.response.end(body, () => this.#linger());
    // A client that does not read its answer must not keep the socket: close it regardless, soon.
    setTimeout(() => socket.destroy(), LINGER_MS + 1000).unref();
  }

  /**
   * Closing a socket with unread bytes makes the kernel send a reset, and a client still sending its
   * body then loses the answer it was sent. So, as web servers do, the rest of the body is read and
   * dropped (its parsers unhooked) for a short, bounded time before the socket is closed.
   */
  #linger(): void {
    const { request } = this;
    const socket = request.socket;
    request.unpipe();
    let drained = 0;
    request.on('data', (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > LINGER_BYTES) socket.destroy();
    });
    request.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }
}
