/**
 * `node dist/bench/web-identity.js [--seconds 60] [--fps 15]`: does one person keep one id in the web app
 * (MoodLens live) over a long camera run? Makes a y4m of examples/astronaut-pan.mp4 looped to the length
 * asked (ffmpeg; one person, who leaves for 0.4 s on every loop and comes back at each loop seam), feeds
 * it to headless Debian Chromium as its fake camera, runs the page for that long and reports how many
 * distinct person ids the page showed (the `person` of `window.moodlensSession`, the number the overlay
 * draws), how many tracks it made and on how many analysed frames a face had no person yet. Not part of
 * the test suite (it takes over a minute); docs/people-tracking.md has its figure.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { locateFfmpeg } from '../src/io/node/ffmpeg/locate.js';
import type { FrameRecord } from '../src/report/records.js';
import {
  browserProblem,
  launchBrowser,
  startWebServer,
  waitForModels,
  type MoodLensWindow,
} from '../test/support/browser.js';
import { REPO_ROOT } from '../test/support/opencv.js';

const execFileAsync = promisify(execFile);

function option(args: readonly string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!(value > 0)) throw new Error(`Expected a positive number after ${name} but received ${args[at + 1]}`);
  return value;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const seconds = option(args, '--seconds', 60);
  const fps = option(args, '--fps', 15);
  const problem = browserProblem();
  if (problem !== undefined) throw new Error(`Cannot run: ${problem}`);
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-web-identity-'));
  try {
    const clip = join(dir, 'astronaut-loop.y4m');
    const ffmpeg = await locateFfmpeg();
    await execFileAsync(ffmpeg.path, [
      '-loglevel',
      'error',
      '-stream_loop',
      '-1',
      '-i',
      join(REPO_ROOT, 'examples', 'astronaut-pan.mp4'),
      '-t',
      String(seconds),
      '-r',
      String(fps),
      '-pix_fmt',
      'yuv420p',
      clip,
    ]);
    const bytes = (await stat(clip)).size;
    const server = await startWebServer();
    const browser = await launchBrowser({ kind: 'clip', clip });
    const loadBefore = loadavg()[0];
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/`);
      const state = await waitForModels(page);
      if (state !== 'ready') throw new Error(`The page did not load: ${state}`);
      await page.click('#start');
      await page.waitForTimeout(seconds * 1000);
      const session = await page.evaluate(() => (window as unknown as MoodLensWindow).moodlensSession);
      const settings = await page.evaluate(
        () => (window as unknown as MoodLensWindow).moodlensStats.settings,
      );
      await page.click('#stop');
      await page.close();
      const faces = session.filter((r: FrameRecord) => r.track !== null);
      const persons = new Set(faces.map((r) => r.person).filter((p) => p !== null && p !== undefined));
      const tracks = new Set(faces.map((r) => r.track));
      const frames = new Set(session.map((r) => r.frame));
      const result = {
        seconds,
        clipFps: fps,
        clipBytes: bytes,
        analysedFrames: frames.size,
        faceRows: faces.length,
        rowsWithoutPerson: faces.filter((r) => r.person === null || r.person === undefined).length,
        framesWithoutFace: session.filter((r) => r.track === null).length,
        distinctPersons: persons.size,
        personIds: [...persons].sort(),
        tracks: tracks.size,
        settings,
        machine: `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), load ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after`,
      };
      console.log(JSON.stringify(result, null, 1));
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
