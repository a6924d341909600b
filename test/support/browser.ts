/**
 * Real-browser support for the web app's tests, benchmark and screenshot: Debian's Chromium driven by
 * playwright-core (never a downloaded browser), a fake camera fed by a real face clip, and the app
 * served by `moodlens serve`'s own server.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Box } from '../../src/core/image.js';
import type { FrameRecord } from '../../src/report/records.js';
import { locateFfmpeg } from '../../src/io/node/ffmpeg/locate.js';
import { buildServer, type MoodLensServer } from '../../src/server/app.js';
import { DEFAULT_WEB_ROOT, webAppBuilt } from '../../src/server/static-files.js';
import { astronautPath } from './fer-scenes.js';

const execFileAsync = promisify(execFile);

/** Debian's Chromium; override with MOODLENS_CHROMIUM. */
export const CHROMIUM = process.env.MOODLENS_CHROMIUM ?? '/usr/bin/chromium';

/** The launch flags measured to work headless on these machines (see shared/docs/toolchain.md). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Containers often give /dev/shm only 64 MB; Chromium then crashes on large frames. Use /tmp instead.
  '--disable-dev-shm-usage',
] as const;

/** Why browser tests cannot run here (no Chromium, no web build), or undefined when they can. */
export function browserProblem(): string | undefined {
  if (!existsSync(CHROMIUM)) {
    return `Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set MOODLENS_CHROMIUM)`;
  }
  if (!webAppBuilt(DEFAULT_WEB_ROOT))
    return `The web app is not built in ${DEFAULT_WEB_ROOT}: npm run build:web`;
  return undefined;
}

/** Run, skip (a developer machine without Chromium) or fail (CI, where the browser tests must run). */
export function browserGate(): { action: 'run' } | { action: 'skip' | 'fail'; reason: string } {
  const reason = browserProblem();
  if (reason === undefined) return { action: 'run' };
  return { action: process.env.CI ? 'fail' : 'skip', reason };
}

/** One person in the clip: the astronaut's head and shoulders, scaled, maybe mirrored, moving. */
export interface ClipPerson {
  /** Scale of the head-and-shoulders crop. */
  readonly scale: number;
  readonly mirrored: boolean;
  /** Top-left corner over time: x0 + ax * sin(2 pi t / periodX), y0 + ay * sin(2 pi t / periodY). */
  readonly x0: number;
  readonly ax: number;
  readonly periodX: number;
  readonly y0: number;
  readonly ay: number;
  readonly periodY: number;
}

/** The fake camera's clip: 640x480, 30 fps, two seconds that loop without a jump (every period divides 2 s). */
export const FACE_CLIP = {
  width: 640,
  height: 480,
  fps: 30,
  seconds: 2,
  /** From this second of each loop to its end the faces are gone: frames without a face. */
  hiddenFrom: 1.6,
  /** Head and shoulders of the astronaut photo (512x512), without the model shuttle beside her. */
  crop: { x: 60, y: 0, width: 280, height: 300 },
  people: [
    { scale: 300 / 280, mirrored: false, x0: 20, ax: 40, periodX: 2, y0: 70, ay: 20, periodY: 1 },
    { scale: 230 / 280, mirrored: true, x0: 380, ax: 20, periodX: 1, y0: 150, ay: -40, periodY: 2 },
  ] satisfies ClipPerson[],
} as const;

/**
 * Writes the clip as a .y4m (what Chromium's fake camera plays, looping) with the ffmpeg MoodLens uses
 * (`locateFfmpeg`: FFMPEG_PATH, else the one inside @ffmpeg-installer/ffmpeg): two copies of the real astronaut photo (NASA, public domain), one mirrored,
 * moving over a plain background, gone for the last part of each loop. 2 s at 640x480 is 28 MB: make it in a temporary folder.
 */
export async function writeFaceClip(path: string): Promise<void> {
  const { width, height, fps, seconds, crop, people, hiddenFrom } = FACE_CLIP;
  const sin = (a: number, period: number): string => `${a}*sin(2*PI*t/${period})`;
  const chains = [
    `[0:v]crop=${crop.width}:${crop.height}:${crop.x}:${crop.y},split=${people.length}${people.map((_, i) => `[c${i}]`).join('')}`,
  ];
  people.forEach((p, i) => {
    const w = Math.round(crop.width * p.scale);
    const h = Math.round(crop.height * p.scale);
    chains.push(`[c${i}]${p.mirrored ? 'hflip,' : ''}scale=${w}:${h}[p${i}]`);
  });
  chains.push(`color=c=0x56687a:s=${width}x${height}:r=${fps}[s0]`);
  people.forEach((p, i) => {
    const last = i === people.length - 1;
    chains.push(
      `[s${i}][p${i}]overlay=x='${p.x0}+${sin(p.ax, p.periodX)}':y='${p.y0}+${sin(p.ay, p.periodY)}'` +
        `:enable='lt(t,${hiddenFrom})'` +
        `${last ? ':shortest=1,format=yuv420p' : `[s${i + 1}]`}`,
    );
  });
  await execFileAsync(
    (await locateFfmpeg()).path,
    ['-hide_banner', '-loglevel', 'error', '-y', '-loop', '1', '-i', astronautPath()].concat([
      '-filter_complex',
      chains.join(';'),
      '-t',
      String(seconds),
      '-r',
      String(fps),
      path,
    ]),
    { timeout: 60_000 },
  );
}

/**
 * Where each clip person's face centre can be, given the astronaut's face box in the photo: the box
 * moved into the crop, scaled, mirrored, then swept over the person's motion. Boxes the app reports for
 * that person must centre inside it (give a margin for the detector's jitter).
 */
export function faceCentreRanges(photoFace: Box): { x: [number, number]; y: [number, number] }[] {
  const { crop, people } = FACE_CLIP;
  return people.map((p) => {
    const left = p.mirrored ? crop.width - (photoFace.x - crop.x + photoFace.width) : photoFace.x - crop.x;
    const cx = (left + photoFace.width / 2) * p.scale;
    const cy = (photoFace.y - crop.y + photoFace.height / 2) * p.scale;
    const ax = Math.abs(p.ax);
    const ay = Math.abs(p.ay);
    return { x: [p.x0 - ax + cx, p.x0 + ax + cx], y: [p.y0 - ay + cy, p.y0 + ay + cy] };
  });
}

/** What the browser's camera is. */
export type FakeCamera =
  | { readonly kind: 'clip'; readonly clip: string }
  /** A fake camera whose permission prompt is refused. */
  | { readonly kind: 'denied' }
  /** No camera device at all (the prompt would be accepted). */
  | { readonly kind: 'none' };

export function cameraArgs(camera: FakeCamera): string[] {
  switch (camera.kind) {
    case 'clip':
      return [
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-video-capture=${camera.clip}`,
      ];
    case 'denied':
      return ['--use-fake-device-for-media-stream', '--deny-permission-prompts'];
    case 'none':
      return ['--use-fake-ui-for-media-stream'];
  }
}

export interface Browser {
  readonly context: BrowserContext;
  /** A fresh page. */
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh user-data folder (removed on close) and the given camera. */
export async function launchBrowser(camera: FakeCamera): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'moodlens-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS, ...cameraArgs(camera)],
      acceptDownloads: true,
      viewport: { width: 1200, height: 800 },
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  return {
    context,
    async newPage(viewport) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
      return page;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export interface WebServer {
  readonly app: MoodLensServer;
  /** e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  close(): Promise<void>;
}

/** `moodlens serve`'s server (one API worker: the page does its own analysis) on a free port. */
export async function startWebServer(): Promise<WebServer> {
  const app = await buildServer({ workers: 1 });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url, close: () => app.close() };
}

/** What the page exposes on `window` (web/src/main.ts), as tests read it inside `page.evaluate`. */
export interface MoodLensWindow {
  readonly moodlensState: string | undefined;
  readonly moodlensSession: FrameRecord[];
  readonly moodlensStats: {
    readonly frames: number;
    readonly fps: number;
    readonly timings: { readMs: number; analyzeMs: number; detectMs: number; classifyMs: number }[];
    readonly latencyMs: number[];
    readonly answeredAt: number[];
    readonly model:
      | {
          crossOriginIsolated: boolean;
          detector: string;
          detectorEngine: string;
          minScore: number | undefined;
          coarsePass: boolean;
          numThreads: number;
          landmarks: boolean;
          enhancer: boolean;
          enhancerModels: number;
          enhancerProblem: string | undefined;
          enhanceBelow: number;
          upscaleBelow: number;
        }
      | undefined;
    readonly settings: unknown;
    /** The latest answer's faces, as the overlay drew them. */
    readonly faces: { readonly track: number; readonly restoration?: string }[];
  };
}

/** Waits until the page has left the loading state; returns the state. */
export async function waitForModels(page: Page, timeoutMs = 60_000): Promise<string> {
  await page.waitForFunction(
    () => {
      const state = (window as unknown as MoodLensWindow).moodlensState;
      return state !== undefined && state !== 'loading';
    },
    null,
    { timeout: timeoutMs },
  );
  return page.evaluate(() => (window as unknown as MoodLensWindow).moodlensState ?? 'unknown');
}
