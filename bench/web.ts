/**
 * Web app benchmark (`npm run bench:web`, or the `web` section of `npm run bench`): the real page in
 * headless Debian Chromium, served by `moodlens serve`'s server, with a 640x480 real-face clip (two
 * faces, 30 fps) as the camera. For each setting it reads the page's own per-frame timings over a
 * window: the analysis loop's frames per second (capped by the camera's 30), what detect + classify
 * alone could sustain (1000 / ms per frame in the worker), each stage's time, and the latency from
 * grabbing a frame to its answer.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  browserProblem,
  FACE_CLIP,
  launchBrowser,
  startWebServer,
  waitForModels,
  writeFaceClip,
  type MoodLensWindow,
} from '../test/support/browser.js';
import { DEFAULT_DETECTOR, type DetectorKind } from '../src/detect/detector-kind.js';
import { APP_DETECT_OPTIONS } from '../src/detect/options.js';
import { median } from './detect.js';
import type { BenchOptions, BenchSection, Cell, SectionReport } from './run.js';

/** Seconds of analysis before the measured window (ONNX Runtime and the JIT warm up). */
const WARMUP_SECONDS = 2;
/** Seconds in one measured window; the `repeat` option runs that many windows (at most MAX_WINDOWS), reported by median. */
const WINDOW_SECONDS = 5;
const MAX_WINDOWS = 3;

/** The detector the page does not run by default: compared with the default in the same run (issue 21). */
const OTHER_DETECTOR: DetectorKind = DEFAULT_DETECTOR === 'haar' ? 'cnn' : 'haar';

/** The settings compared: the page's defaults first, then one change each (URL parameters). */
export const WEB_BENCH_SETTINGS: readonly { readonly name: string; readonly query: string }[] = [
  {
    name: `defaults (${DEFAULT_DETECTOR} detector, minSize 64, ${APP_DETECT_OPTIONS.minNeighbors} neighbours, 1 in flight)`,
    query: '',
  },
  { name: 'two frames in flight', query: 'inflight=2' },
  { name: 'detect every 2nd frame', query: 'detectEvery=2' },
  { name: 'ONNX Runtime 2 threads', query: 'threads=2' },
  {
    name: "haar with OpenCV's defaults (no minSize, 3 neighbours)",
    query: 'detector=haar&minSize=0&minNeighbors=3',
  },
  // The other face detector, at the page's defaults and with 2 threads (the cnn detector's model runs on
  // ONNX Runtime too, so its threads setting applies to it as well).
  { name: `${OTHER_DETECTOR} detector`, query: `detector=${OTHER_DETECTOR}` },
  {
    name: `${OTHER_DETECTOR} detector, ONNX Runtime 2 threads`,
    query: `detector=${OTHER_DETECTOR}&threads=2`,
  },
  // The learned detector's third pass, for faces filling the frame (off on the page until measured here).
  { name: 'cnn detector with its coarse pass', query: 'detector=cnn&coarsePass=1' },
];

export interface WebBenchResult {
  readonly setting: string;
  readonly query: string;
  /** The face detector the page said it ran (`haar` or `cnn`). */
  readonly detector: string;
  /** Answers per second over the window (the whole loop; at most the camera's frame rate). */
  readonly loopFps: number;
  /** 1000 / mean ms of a frame in the worker (read pixels + detect + track + classify + smooth). */
  readonly capacityFps: number;
  readonly detectMs: number;
  readonly classifyMs: number;
  readonly frameMs: number;
  readonly latencyMs: number;
  readonly facesPerFrame: number;
  readonly frames: number;
}

interface Window {
  readonly answered: number[];
  readonly timings: MoodLensWindow['moodlensStats']['timings'];
  readonly latencyMs: number[];
  readonly faces: number;
  readonly frames: number;
}

async function run(options: BenchOptions): Promise<SectionReport> {
  const title = `Web app in headless Chromium: ${FACE_CLIP.width}x${FACE_CLIP.height} camera clip, two faces, ${FACE_CLIP.fps} fps`;
  const problem = browserProblem();
  if (problem !== undefined) {
    return { title, columns: ['setting'], rows: [], notes: [`skipped: ${problem}`], data: null };
  }
  // This machine is shared: say how busy it was, since the figures depend on it.
  const loadBefore = loadavg()[0];
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-bench-web-'));
  const server = await startWebServer();
  try {
    const clip = join(dir, 'faces.y4m');
    await writeFaceClip(clip);
    const browser = await launchBrowser({ kind: 'clip', clip });
    const results: WebBenchResult[] = [];
    const windowCount = Math.min(options.repeat, MAX_WINDOWS);
    let userAgent = '';
    let isolated = false;
    let landmarks = false;
    try {
      for (const setting of WEB_BENCH_SETTINGS) {
        const page = await browser.newPage();
        await page.goto(`${server.url}/${setting.query ? `?${setting.query}` : ''}`);
        const state = await waitForModels(page);
        if (state !== 'ready') throw new Error(`The page did not load (${setting.query}): ${state}`);
        userAgent = await page.evaluate(() => navigator.userAgent);
        isolated = await page.evaluate(() => crossOriginIsolated);
        landmarks = await page.evaluate(
          () => (window as unknown as MoodLensWindow).moodlensStats.model?.landmarks === true,
        );
        const detector = await page.evaluate(
          () => (window as unknown as MoodLensWindow).moodlensStats.model?.detector ?? 'unknown',
        );
        await page.click('#start');
        await page.waitForTimeout(WARMUP_SECONDS * 1000);
        const windows: Window[] = [];
        for (let i = 0; i < windowCount; i++) {
          const from = await page.evaluate(() => performance.now());
          await page.waitForTimeout(WINDOW_SECONDS * 1000);
          windows.push(
            await page.evaluate((start) => {
              const w = window as unknown as MoodLensWindow;
              const s = w.moodlensStats;
              const keep = s.answeredAt.map((t) => t >= start);
              const frames = new Set(
                w.moodlensSession.filter((r) => r.track !== null).map((r) => `${r.frame}:${r.track}`),
              );
              return {
                answered: s.answeredAt.filter((_, i) => keep[i]),
                timings: s.timings.filter((_, i) => keep[i]),
                latencyMs: s.latencyMs.filter((_, i) => keep[i]),
                faces: frames.size,
                frames: s.frames,
              };
            }, from),
          );
        }
        await page.click('#stop');
        await page.close();
        const per = (f: (w: Window) => number): number => median(windows.map(f));
        // Stage times are means: with detection on every 2nd frame, the median frame would hide it.
        const t = (w: Window, pick: (x: Window['timings'][number]) => number): number =>
          w.timings.reduce((sum, x) => sum + pick(x), 0) / Math.max(1, w.timings.length);
        const result: WebBenchResult = {
          setting: setting.name,
          query: setting.query,
          detector,
          loopFps: per((w) => (1000 * (w.answered.length - 1)) / (w.answered.at(-1)! - w.answered[0])),
          capacityFps: per((w) => 1000 / t(w, (x) => x.readMs + x.analyzeMs)),
          detectMs: per((w) => t(w, (x) => x.detectMs)),
          classifyMs: per((w) => t(w, (x) => x.classifyMs)),
          frameMs: per((w) => t(w, (x) => x.readMs + x.analyzeMs)),
          latencyMs: per((w) => median(w.latencyMs)),
          facesPerFrame: per((w) => w.faces / w.frames),
          frames: windows.reduce((sum, w) => sum + w.answered.length, 0),
        };
        options.progress(
          `web: ${setting.name}: loop ${result.loopFps.toFixed(1)} fps, detect+classify ${result.capacityFps.toFixed(1)} fps`,
        );
        results.push(result);
      }
    } finally {
      await browser.close();
    }
    const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
    const rows: Cell[][] = results.map((r) => [
      r.setting,
      r.detector,
      round(r.loopFps),
      round(r.capacityFps),
      round(r.detectMs),
      round(r.classifyMs),
      round(r.frameMs),
      round(r.latencyMs, 0),
      round(r.facesPerFrame, 2),
    ]);
    const browserName = /HeadlessChrome\/[\d.]+|Chrome\/[\d.]+/.exec(userAgent)?.[0] ?? userAgent;
    return {
      title,
      columns: [
        'setting',
        'detector',
        'loop fps',
        'detect+classify fps',
        'detect ms',
        'classify ms',
        'frame ms',
        'latency ms',
        'faces/frame',
      ],
      rows,
      notes: [
        `${browserName}; crossOriginIsolated: ${isolated}; medians over ${Math.min(options.repeat, MAX_WINDOWS)} window(s) of ${WINDOW_SECONDS} s after ${WARMUP_SECONDS} s;`,
        `load average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after, on ${availableParallelism()} cores.`,
        'loop fps: answers per second of the whole loop (grab, transfer to the worker, analyse, draw), at most the',
        `camera's ${FACE_CLIP.fps}. detect+classify fps: 1000 / the worker's mean ms per frame (read pixels, detect,`,
        'track, classify every face, smooth). Stage times are means per analysed frame; classify: for every face',
        `of the frame, ${landmarks ? '68 landmarks + alignment + ' : ''}the crop and the emotion model` +
          `${landmarks ? '' : ' (landmark model not loaded: box crops)'}. latency: median ms from grabbing a`,
        'frame to its answer. detector: what the page said it ran (haar: the cascade scan in its WebAssembly',
        "kernel; cnn: the learned detector's model on ONNX Runtime Web; its detect ms include resizing the frame).",
      ],
      data: {
        browser: userAgent,
        crossOriginIsolated: isolated,
        landmarks,
        loadBefore,
        loadAfter: loadavg()[0],
        results,
      },
    };
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export const webSection: BenchSection = {
  name: 'web',
  description: 'Web app in headless Chromium: frames per second of detect + classify and of the whole loop',
  run,
};
