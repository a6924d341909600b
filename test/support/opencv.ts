/**
 * Runs OpenCV's own Haar detector (tools/opencv_reference.py under Debian's python3-opencv) so tests and
 * benchmarks can compare the TypeScript engine with it on the same pixels.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The interpreter that has cv2: Debian's, not a pyenv one first on PATH. Override with MOODLENS_PYTHON. */
export const PYTHON = process.env.MOODLENS_PYTHON ?? '/usr/bin/python3';

/** The repository root: the nearest folder above this module holding tools/opencv_reference.py. */
export const REPO_ROOT = findRepoRoot();

export const OPENCV_REFERENCE_SCRIPT = join(REPO_ROOT, 'tools', 'opencv_reference.py');

export type BoxTuple = [x: number, y: number, width: number, height: number];

export interface OpenCvJob {
  readonly cascade: string;
  /** 8-bit grayscale PNG paths (OpenCV reads them with IMREAD_GRAYSCALE). */
  readonly images: readonly string[];
  readonly scaleFactor?: number;
  readonly minNeighbors?: number;
  readonly minSize?: number;
  readonly maxSize?: number;
  /** Timed runs per image; the median is reported. Default 1. */
  readonly repeat?: number;
  /** Untimed runs per image before the timed ones. Default 0. */
  readonly warmup?: number;
  /** cv2.setNumThreads(threads); absent: OpenCV's default. */
  readonly threads?: number;
  /** 'gray' (default): IMREAD_GRAYSCALE. 'color': IMREAD_COLOR then cvtColor(BGR2GRAY), for colour files. */
  readonly read?: 'gray' | 'color';
}

export interface OpenCvImageResult {
  readonly image: string;
  readonly width: number;
  readonly height: number;
  /** SHA-256 of the pixels OpenCV read, row-major: proves both engines saw the same bytes. */
  readonly sha256: string;
  readonly boxes: BoxTuple[];
  /** Median milliseconds of detectMultiScale alone. */
  readonly ms: number;
  readonly runs: number[];
}

export interface OpenCvRun {
  readonly opencv: string;
  readonly threads: number;
  readonly results: OpenCvImageResult[];
}

export type OpenCvAvailability =
  | { readonly available: true; readonly version: string }
  | { readonly available: false; readonly reason: string };

let availability: Promise<OpenCvAvailability> | undefined;

/** Whether PYTHON can import cv2 (cached per process). Never throws. */
export function openCvAvailability(): Promise<OpenCvAvailability> {
  availability ??= run(PYTHON, [OPENCV_REFERENCE_SCRIPT, '--version'], '', 30_000).then(
    (stdout): OpenCvAvailability => ({ available: true, version: stdout.trim() }),
    (error: unknown): OpenCvAvailability => ({
      available: false,
      reason:
        `OpenCV's Python bindings are not usable through ${PYTHON} (${errorText(error)}). ` +
        'Install them with `apt-get install -y python3-opencv python3-numpy` ' +
        '(or point MOODLENS_PYTHON at an interpreter that imports cv2).',
    }),
  );
  return availability;
}

/**
 * What a test should do about OpenCV: run, skip (a developer machine without it) or fail (CI, where the
 * reference MUST be present so that parity is never silently unchecked).
 */
export async function openCvGate(): Promise<
  | { readonly action: 'run'; readonly version: string }
  | { readonly action: 'skip' | 'fail'; readonly reason: string }
> {
  const found = await openCvAvailability();
  if (found.available) return { action: 'run', version: found.version };
  return { action: process.env.CI ? 'fail' : 'skip', reason: found.reason };
}

/** Runs one job through tools/opencv_reference.py and returns its checked, typed output. */
export async function runOpenCv(job: OpenCvJob, timeoutMs = 300_000): Promise<OpenCvRun> {
  const stdout = await run(PYTHON, [OPENCV_REFERENCE_SCRIPT], JSON.stringify(job), timeoutMs);
  return parseRun(JSON.parse(stdout) as unknown);
}

function run(file: string, args: string[], input: string, timeout: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) {
          // execFile's message starts with the whole command line and repeats stderr: keep the point.
          const lines = stderr.split('\n').filter((l) => l.trim() && !l.startsWith('libpng warning'));
          const detail = lines.at(-1)?.trim();
          const what = error.killed ? `killed after ${timeout} ms` : (error.message.split('\n')[0] ?? '');
          reject(new Error(detail ? `${detail} (${what})` : what, { cause: error }));
        } else {
          resolve(stdout);
        }
      },
    );
    child.stdin?.on('error', () => {
      // The child may exit before reading stdin (e.g. cv2 missing); the callback above reports it.
    });
    child.stdin?.end(input);
  });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}

function parseRun(value: unknown): OpenCvRun {
  const root = asRecord(value, 'output');
  const results = asArray(root.results, 'results').map((item, i) => {
    const r = asRecord(item, `results[${i}]`);
    return {
      image: asString(r.image, 'image'),
      width: asNumber(r.width, 'width'),
      height: asNumber(r.height, 'height'),
      sha256: asString(r.sha256, 'sha256'),
      boxes: asArray(r.boxes, 'boxes').map((b, j): BoxTuple => {
        const t = asArray(b, `boxes[${j}]`).map((v) => asNumber(v, `boxes[${j}]`));
        if (t.length !== 4)
          throw new TypeError(`opencv_reference: boxes[${j}] has ${t.length} numbers, not 4`);
        return [t[0], t[1], t[2], t[3]];
      }),
      ms: asNumber(r.ms, 'ms'),
      runs: asArray(r.runs, 'runs').map((v) => asNumber(v, 'runs')),
    };
  });
  return { opencv: asString(root.opencv, 'opencv'), threads: asNumber(root.threads, 'threads'), results };
}

function asRecord(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`opencv_reference: expected an object for ${name}`);
  }
  return value as Record<string, unknown>;
}

function asArray(value: unknown, name: string): unknown[] {
  if (!Array.isArray(value)) throw new TypeError(`opencv_reference: expected an array for ${name}`);
  return value as unknown[];
}

function asString(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new TypeError(`opencv_reference: expected a string for ${name}`);
  return value;
}

function asNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`opencv_reference: expected a number for ${name}`);
  }
  return value;
}

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'tools', 'opencv_reference.py')) && existsSync(join(dir, 'package.json')))
      return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`Cannot find the repository root (tools/opencv_reference.py) above ${import.meta.url}`);
    }
    dir = parent;
  }
}

/** Runs a Python snippet (PYTHON, with cv2/numpy) that reads JSON on stdin; resolves to its JSON stdout. */
export function runPythonJson(script: string, input: unknown, timeoutMs = 120_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      PYTHON,
      ['-c', script],
      { maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${stderr.trim().split('\n').at(-1) ?? ''} (${error.message.split('\n')[0]})`));
        else resolve(JSON.parse(stdout) as unknown);
      },
    );
    child.stdin?.end(JSON.stringify(input));
  });
}

/** Skips (developer machine) or fails (CI) a test when OpenCV's Python bindings are missing. */
export async function requireOpenCv(t: TestContext): Promise<boolean> {
  const gate = await openCvGate();
  if (gate.action === 'run') return true;
  if (gate.action === 'fail') assert.fail(gate.reason);
  t.skip(gate.reason);
  return false;
}
