/**
 * `npm run screenshot:web`: the README's screenshot of the web app (docs/web-screenshot.png), taken in
 * headless Chromium with the real-face clip as the camera, after a few seconds of analysis so that the
 * overlay and the per-person timeline show. Saved as a palette PNG to stay small.
 *
 *   node dist/bench/web-screenshot.js [--out docs/web-screenshot.png] [--width 1100] [--height 760]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import {
  browserProblem,
  launchBrowser,
  startWebServer,
  waitForModels,
  writeFaceClip,
  type MoodLensWindow,
} from '../test/support/browser.js';
import { REPO_ROOT } from '../test/support/opencv.js';
import { runStudy, studyArgs } from './study-cli.js';

const USAGE = `Usage: npm run screenshot:web -- [--out docs/web-screenshot.png] [--width 1100] [--height 760]
    [--seconds 6]
The README's screenshot of the web app, taken in headless Chromium with the real-face clip as the camera.`;

async function main(): Promise<void> {
  const values = studyArgs(USAGE, {
    out: { type: 'string', default: join(REPO_ROOT, 'docs', 'web-screenshot.png') },
    width: { type: 'string', default: '1100' },
    height: { type: 'string', default: '760' },
    seconds: { type: 'string', default: '6' },
  });
  const problem = browserProblem();
  if (problem !== undefined) throw new Error(problem);
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-screenshot-'));
  const server = await startWebServer();
  try {
    const clip = join(dir, 'faces.y4m');
    await writeFaceClip(clip);
    const browser = await launchBrowser({ kind: 'clip', clip });
    try {
      const page = await browser.newPage({ width: Number(values.width), height: Number(values.height) });
      await page.goto(`${server.url}/`);
      if ((await waitForModels(page)) !== 'ready') throw new Error('The page did not load its models');
      await page.click('#start');
      await page.waitForTimeout(Number(values.seconds) * 1000);
      // A frame whose overlay shows labelled faces.
      await page.waitForFunction(() => {
        const session = (window as unknown as MoodLensWindow).moodlensSession;
        const last = session.at(-1);
        return last !== undefined && last.label !== null;
      });
      const png = await page.screenshot({ fullPage: false });
      await mkdir(dirname(values.out), { recursive: true });
      const info = await sharp(png).png({ palette: true, quality: 90, effort: 10 }).toFile(values.out);
      process.stdout.write(`${values.out}: ${info.width}x${info.height}, ${info.size} bytes\n`);
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

runStudy('screenshot:web', main);
