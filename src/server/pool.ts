import { Worker } from 'node:worker_threads';
import { ERROR_CATALOGUE, MoodLensError, type ErrorCode } from '../core/errors.js';
import { ServerError } from './errors.js';
import type {
  AnalyzeJobMessage,
  AnalyzeOptions,
  AnalyzeWorkerInit,
  ImageOutcome,
  UploadedImage,
  WorkerMessage,
} from './protocol.js';

/** V8 young-generation size of each worker (see `spawn`). */
const WORKER_YOUNG_GENERATION_MB = 8;

export interface AnalyzePoolOptions {
  /** Worker threads, each holding its own detector and classifier. */
  readonly workers: number;
  /** Requests that may wait for a worker beyond those running. */
  readonly queue: number;
  /** Worker time allowed per image before the worker is replaced and the job fails. */
  readonly jobTimeoutMs: number;
}

export interface PoolStats {
  /** Live workers. */
  readonly workers: number;
  /** Workers running a job. */
  readonly busy: number;
  /** Jobs waiting for a worker. */
  readonly queued: number;
  /** Requests admitted and not yet answered (waiting or running). */
  readonly admitted: number;
  /** Workers replaced so far (timed out, crashed, or recycled after a very large image). */
  readonly restarts: number;
  /** Most requests admitted at once: workers + queue. */
  readonly capacity: number;
}

interface Job {
  readonly message: AnalyzeJobMessage;
  readonly transfer: ArrayBuffer[];
  readonly timeoutMs: number;
  readonly resolve: (outcomes: ImageOutcome[]) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  job: Job | undefined;
  started: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The bounded inference pool of the HTTP service: a fixed number of worker threads (one job at a time
 * each) and a bounded number of admitted requests. A request takes a slot with {@link admit} once its
 * body has arrived (the server bounds bodies being received separately), so jobs running or queued stay
 * under `workers + queue`; past that, `admit` throws 503 `MOODLENS_ERR_BUSY` with a Retry-After estimate. A worker that crashes or
 * overruns its time is replaced; its job fails alone.
 */
export class AnalyzePool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private admitted = 0;
  private restarts = 0;
  private nextId = 0;
  private closing = false;
  /** Exponential moving average of worker milliseconds per image, for Retry-After. */
  private msPerImage = 200;
  private readonly drained: Array<() => void> = [];

  private constructor(
    private readonly init: AnalyzeWorkerInit,
    private readonly options: AnalyzePoolOptions,
  ) {}

  /**
   * Starts the workers and waits until each has loaded its models.
   * @throws MoodLensError with the worker's code (`MOODLENS_ERR_MODEL_LOAD`...) when one cannot load.
   */
  static async create(init: AnalyzeWorkerInit, options: AnalyzePoolOptions): Promise<AnalyzePool> {
    // sharp and onnxruntime-node must be loaded by the main thread before any worker loads them, so that
    // their shared libraries stay mapped when a worker exits (sharp's documented worker-thread rule).
    const { default: sharp } = await import('sharp');
    await import('onnxruntime-node');
    // libvips' operation cache (up to 50 MB by default, process-wide) only helps when the same input is
    // decoded again; uploads never repeat, so it would only hold memory.
    sharp.cache(false);
    const pool = new AnalyzePool(init, options);
    const started = await Promise.allSettled(Array.from({ length: options.workers }, () => pool.spawn()));
    const failure = started.find((s) => s.status === 'rejected');
    if (failure !== undefined) {
      await Promise.all(pool.slots.map((slot) => slot.worker.terminate()));
      throw failure.reason;
    }
    return pool;
  }

  get stats(): PoolStats {
    return {
      workers: this.slots.length,
      busy: this.slots.filter((s) => s.job !== undefined).length,
      queued: this.waiting.length,
      admitted: this.admitted,
      restarts: this.restarts,
      capacity: this.capacity,
    };
  }

  private get capacity(): number {
    return this.options.workers + this.options.queue;
  }

  /**
   * Takes a slot for one request, or throws 503 (`MOODLENS_ERR_BUSY` when full, with Retry-After;
   * `MOODLENS_ERR_SHUTTING_DOWN` once closing). Call `release()` when the request is over.
   */
  admit(): Admission {
    if (this.closing) {
      throw new ServerError('MOODLENS_ERR_SHUTTING_DOWN', 'The server is shutting down', {
        'retry-after': '1',
      });
    }
    if (this.admitted >= this.capacity) {
      throw new ServerError(
        'MOODLENS_ERR_BUSY',
        `Server busy: ${this.admitted} requests in progress, the most it takes at once ` +
          `(${this.options.workers} workers + queue of ${this.options.queue})`,
        { 'retry-after': String(this.retryAfterSeconds()) },
      );
    }
    this.admitted++;
    return new Admission(this, () => this.free());
  }

  /** Seconds until a slot is likely free: the work ahead spread over the workers, at least 1. */
  private retryAfterSeconds(): number {
    const ahead = this.waiting.length + this.slots.filter((s) => s.job !== undefined).length;
    return Math.max(1, Math.ceil((ahead * this.msPerImage) / Math.max(1, this.slots.length) / 1000));
  }

  private free(): void {
    this.admitted--;
  }

  /** Wakes `close()` once no job is waiting or running. */
  private checkDrained(): void {
    if (this.waiting.length > 0 || this.slots.some((s) => s.job !== undefined)) return;
    for (const resolve of this.drained.splice(0)) resolve();
  }

  /** Runs one job (used through an {@link Admission}). */
  run(images: readonly UploadedImage[], options: AnalyzeOptions): Promise<ImageOutcome[]> {
    // Copies into buffers of their own, moved (not copied again) to the worker.
    const owned = images.map((image) => ({ name: image.name, bytes: new Uint8Array(image.bytes) }));
    return new Promise<ImageOutcome[]>((resolve, reject) => {
      this.waiting.push({
        message: { id: this.nextId++, images: owned, options },
        transfer: owned.map((image) => image.bytes.buffer),
        timeoutMs: this.options.jobTimeoutMs * Math.max(1, images.length),
        resolve,
        reject,
      });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.waiting.length === 0) return;
      if (slot.job !== undefined) continue;
      const job = this.waiting.shift() as Job;
      slot.job = job;
      slot.started = performance.now();
      slot.timer = setTimeout(() => this.timeOut(slot), job.timeoutMs);
      slot.worker.postMessage(job.message, job.transfer);
    }
  }

  private spawn(): Promise<Slot> {
    const worker = new Worker(new URL('./analyze-worker.js', import.meta.url), {
      workerData: this.init,
      // Pixels live in ArrayBuffers outside the JS heap; a small young generation keeps each worker's
      // heap from settling at V8's default size (measured: about 90 MB less for two workers under load).
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    return new Promise<Slot>((resolve, reject) => {
      let exitError: Error | undefined;
      const onStartMessage = (message: WorkerMessage) => {
        if (message.type === 'ready') {
          worker.off('message', onStartMessage);
          worker.off('exit', onStartExit);
          const slot: Slot = { worker, job: undefined, started: 0, timer: undefined };
          this.slots.push(slot);
          worker.on('message', (m: WorkerMessage) => this.settle(slot, m));
          worker.on('error', (error) => (exitError = error));
          worker.on('exit', (code) => this.lost(slot, exitError, code));
          this.dispatch();
          resolve(slot);
        } else if (message.type === 'init-error') {
          worker.off('exit', onStartExit);
          void worker.terminate();
          const code: ErrorCode = Object.hasOwn(ERROR_CATALOGUE, message.code)
            ? (message.code as ErrorCode)
            : 'MOODLENS_ERR_MODEL_LOAD';
          reject(new MoodLensError(code, message.message));
        }
      };
      const onStartExit = (code: number) => {
        reject(
          new MoodLensError(
            'MOODLENS_ERR_MODEL_LOAD',
            `An inference worker stopped while loading its models (exit code ${code}` +
              `${exitError === undefined ? '' : `: ${exitError.message}`})`,
          ),
        );
      };
      worker.on('message', onStartMessage);
      worker.on('error', (error) => (exitError = error));
      worker.on('exit', onStartExit);
    });
  }

  private settle(slot: Slot, message: WorkerMessage): void {
    const job = slot.job;
    if (job === undefined || !('id' in message) || message.id !== job.message.id) return;
    clearTimeout(slot.timer);
    slot.job = undefined;
    const perImage = (performance.now() - slot.started) / Math.max(1, job.message.images.length);
    this.msPerImage = 0.8 * this.msPerImage + 0.2 * perImage;
    if (message.type === 'done') {
      job.resolve(message.outcomes);
      if (message.recycle) this.retire(slot);
    } else if (message.type === 'failed') {
      job.reject(new Error(`Inference worker failed: ${message.message}`));
    }
    this.dispatch();
    this.checkDrained();
  }

  private timeOut(slot: Slot): void {
    const job = slot.job;
    if (job === undefined) return;
    slot.job = undefined;
    job.reject(
      new ServerError(
        'MOODLENS_ERR_JOB_TIMEOUT',
        `Analysis took longer than ${job.timeoutMs} ms and was stopped`,
      ),
    );
    // The worker may be deep in a scan: take it out of service now and replace it.
    this.retire(slot);
    this.checkDrained();
  }

  /** Takes a worker out of service and stops it; `lost` starts its replacement once it has exited. */
  private retire(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    void slot.worker.terminate();
  }

  /** A worker exited (crash, timeout, close): fail its job and, unless closing, start another. */
  private lost(slot: Slot, error: Error | undefined, code: number): void {
    clearTimeout(slot.timer);
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    if (slot.job !== undefined) {
      slot.job.reject(
        new Error(`Inference worker exited (code ${code})${error === undefined ? '' : `: ${error.message}`}`),
      );
      slot.job = undefined;
    }
    this.checkDrained();
    if (this.closing) return;
    this.restarts++;
    this.spawn().catch((spawnError: unknown) => {
      // The same bytes loaded at start; failing now means the machine is out of something. With no
      // worker left, waiting jobs would hang: fail them.
      if (this.slots.length === 0) {
        for (const job of this.waiting.splice(0)) {
          job.reject(spawnError instanceof Error ? spawnError : new Error(String(spawnError)));
        }
        this.checkDrained();
      }
    });
  }

  /**
   * Refuses new requests, waits for the jobs waiting or running (each bounded by the job timeout), then
   * stops the workers. Idempotent. The server calls it once its connections are closed.
   */
  async close(): Promise<void> {
    this.closing = true;
    await new Promise<void>((resolve) => {
      this.drained.push(resolve);
      this.checkDrained();
    });
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }
}

/**
 * One admitted request's slot. The slot is freed once the request side has released it and its job,
 * if it started one, has settled: a client that hangs up does not free a worker still busy for it.
 */
export class Admission {
  private holds = 1;
  private released = false;
  private ran = false;

  constructor(
    private readonly pool: AnalyzePool,
    private readonly free: () => void,
  ) {}

  /**
   * Runs the request's images in the pool, one job per image, in order (decode, detect, classify). Each
   * image has the job time limit to itself: in a batch, one that overruns it gets its own error entry and the others still run; a single image's failure is thrown.
   */
  async run(images: readonly UploadedImage[], options: AnalyzeOptions): Promise<ImageOutcome[]> {
    if (this.ran) throw new Error('An admission runs its images once');
    if (this.holds === 0) {
      throw new ServerError('MOODLENS_ERR_BUSY', 'The request was already released', { 'retry-after': '1' });
    }
    this.ran = true;
    this.holds++;
    try {
      const outcomes: ImageOutcome[] = [];
      for (const image of images) {
        try {
          outcomes.push(...(await this.pool.run([image], options)));
        } catch (error) {
          if (images.length === 1 || !(error instanceof ServerError)) throw error;
          outcomes.push({ file: image.name, error: { code: error.code, message: error.message } });
        }
      }
      return outcomes;
    } finally {
      this.drop();
    }
  }

  /** The request is over (answered or abandoned). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.drop();
  }

  private drop(): void {
    this.holds--;
    if (this.holds === 0) this.free();
  }
}
