import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Box, Image } from '../../core/image.js';
import { toGray } from '../../image/gray.js';
import { HaarFaceDetector } from '../../detect/detector.js';
import { resolveDetectOptions, type DetectOptions } from '../../detect/options.js';
import { balanceLevels, levelsFor, scanLevels } from '../../detect/scan.js';
import type { ScaleLevel } from '../../detect/scales.js';
import { DEFAULT_CASCADE_PATH, readCascadeFile } from './cascade-file.js';

export interface WorkerInit {
  readonly xml: string;
  readonly source: string;
}
export interface ScanRequest {
  readonly id: number;
  readonly width: number;
  readonly height: number;
  readonly pixels: ArrayBuffer;
  readonly levels: readonly ScaleLevel[];
}
export type ScanResponse =
  { readonly id: number; readonly boxes: Box[][] } | { readonly id: number; readonly error: string };

export interface ParallelDetectorOptions {
  /** Cascade XML file (default: the shipped frontal-face cascade). */
  readonly cascadePath?: string;
  /** Threads including the calling one (default: the machine's available parallelism, at most 8). */
  readonly threads?: number;
}

/**
 * The Haar detector spread over worker threads: the scale pyramid's levels are split into groups of
 * similar cost, the calling thread scans one group and each worker another. Levels are independent and
 * results are merged in level order, so the answer is identical to `HaarFaceDetector.detect`.
 */
export class ParallelFaceDetector {
  readonly detector: HaarFaceDetector;
  private readonly workers: Worker[];
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (b: Box[][]) => void; reject: (e: Error) => void }>();

  private constructor(detector: HaarFaceDetector, workers: Worker[]) {
    this.detector = detector;
    this.workers = workers;
    for (const worker of workers) {
      worker.unref();
      worker.on('message', (response: ScanResponse) => this.settle(response));
      worker.on('error', (error) => this.failAll(error));
    }
  }

  static async create(options: ParallelDetectorOptions = {}): Promise<ParallelFaceDetector> {
    const source = options.cascadePath ?? DEFAULT_CASCADE_PATH;
    const xml = await readCascadeFile(source);
    const detector = HaarFaceDetector.fromXml(xml, source);
    const threads = Math.max(1, Math.min(options.threads ?? availableParallelism(), 8));
    const workerData: WorkerInit = { xml, source };
    const workers = Array.from(
      { length: threads - 1 },
      () => new Worker(new URL('./detect-worker.js', import.meta.url), { workerData }),
    );
    return new ParallelFaceDetector(detector, workers);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  async detect(image: Image, options?: DetectOptions): Promise<Box[]> {
    const resolved = resolveDetectOptions(options);
    const gray = toGray(image);
    const cascade = this.detector.cascade;
    const levels = levelsFor(cascade, gray.width, gray.height, resolved);
    const groups = balanceLevels(cascade, levels, this.threads);
    const perLevel: Box[][] = new Array<Box[]>(levels.length);
    const remote = groups.slice(1).map(async (group, w) => {
      const boxes = await this.request(
        this.workers[w],
        gray.width,
        gray.height,
        gray.data,
        group.map((i) => levels[i]),
      );
      group.forEach((levelIndex, k) => (perLevel[levelIndex] = boxes[k]));
    });
    if (groups.length > 0) {
      const local = scanLevels(
        cascade,
        gray,
        groups[0].map((i) => levels[i]),
        this.detector.kernel,
      );
      groups[0].forEach((levelIndex, k) => (perLevel[levelIndex] = local[k]));
    }
    await Promise.all(remote);
    return this.detector.group(perLevel.flat(), resolved.minNeighbors, gray.width, gray.height);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private request(worker: Worker, width: number, height: number, data: Uint8Array, levels: ScaleLevel[]) {
    const id = this.nextId++;
    const pixels = data.slice().buffer;
    worker.ref(); // keep the process alive while a worker owes an answer
    return new Promise<Box[][]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, width, height, pixels, levels } satisfies ScanRequest, [pixels]);
    }).finally(() => worker.unref());
  }

  private settle(response: ScanResponse): void {
    const waiter = this.pending.get(response.id);
    if (!waiter) return;
    this.pending.delete(response.id);
    if ('error' in response) waiter.reject(new Error(`Detection worker failed: ${response.error}`));
    else waiter.resolve(response.boxes);
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
