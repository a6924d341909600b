/**
 * The report as a person sees it: `moodlens video` on the two-person clip (real FER-2013 faces), then
 * report.html opened in headless Debian Chromium (playwright-core, no network), checking that the plots
 * and the numbers are on screen. Set MOODLENS_UPDATE_SCREENSHOT=1 to refresh docs/report-screenshot.png.
 * Needs /usr/bin/chromium (apt-get install chromium): skipped without it, except in CI where it fails.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import sharp from 'sharp';
import type { EmotionClassifier } from '../src/emotion/classifier.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { locateFfmpeg } from '../src/io/node/ffmpeg/locate.js';
import { EmotionPipeline } from '../src/pipeline/pipeline.js';
import type { SessionReport } from '../src/report/report.js';
import { runCaptured } from './support/cli.js';
import { REPO_ROOT } from './support/opencv.js';
import { CHROMIUM, CHROMIUM_ARGS } from './support/browser.js';
import { makePeopleClip } from './support/people-clip.js';

const skip = !existsSync(CHROMIUM) && process.env.CI === undefined ? `no Chromium at ${CHROMIUM}` : false;

let dir: string;
let classifier: EmotionClassifier | undefined;
let context: BrowserContext | undefined;
let reportPath: string;
let report: SessionReport;

before(async () => {
  if (skip !== false) return;
  dir = await mkdtemp(join(tmpdir(), 'moodlens-report-browser-'));
  classifier = await loadEmotionClassifier();
  const pipeline = new EmotionPipeline(await loadFaceDetector(), classifier);
  const clip = await makePeopleClip(await locateFfmpeg(), pipeline, join(dir, 'session.mp4'));
  const out = join(dir, 'out');
  const result = await runCaptured(['video', clip.file, '--out', out, '--no-stills', '--no-video']);
  assert.equal(result.code, 0, result.stderr);
  reportPath = join(out, 'report.html');
  report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as SessionReport;
  context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS],
    viewport: { width: 900, height: 1000 },
  });
});
after(async () => {
  await context?.close();
  await classifier?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

void test(
  'report.html in Chromium: notice, model accuracy, one plot per person, the numbers',
  { skip },
  async () => {
    assert.ok(context);
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(pathToFileURL(reportPath).href);

    assert.match(await page.locator('.notice').innerText(), /A screening aid, not a diagnosis/);
    const accuracy = await page.locator('[data-field="accuracy"]').innerText();
    assert.equal(accuracy, `${((report.model?.accuracy ?? 0) * 100).toFixed(1)}%`);

    const people = report.summary.tracks.filter((t) => !t.brief);
    assert.equal(people.length, 2);
    assert.equal(await page.locator('svg.timeline').count(), 2);
    for (const person of people) {
      const section = page.locator(`section.person[data-track="${person.track}"]`);
      assert.equal(await section.locator('h2').innerText(), `Person ${person.track}`);
      assert.equal(await section.locator('[data-field="dominant"]').innerText(), person.dominant);
      assert.equal(
        await section.locator('[data-field="negativeShare"]').innerText(),
        `${(person.negativeShare * 100).toFixed(1)}%`,
      );
      assert.equal(await section.locator('[data-field="changes"]').innerText(), String(person.changes));
      // The plot is drawn: 7 bands with a real on-screen size, each band's share of the stacked area being
      // the person's mean probability of that emotion (every frame weighs the same here).
      const svg = section.locator('svg.timeline');
      const size = await svg.boundingBox();
      assert.ok(size !== null && size.width > 600 && size.height > 100, JSON.stringify(size));
      assert.equal(await svg.locator('polygon.band').count(), 7);
      const areas = await svg.locator('polygon.band').evaluateAll((nodes) =>
        nodes.map((node) => {
          const points = (node.getAttribute('points') ?? '').split(' ').map((p) => p.split(',').map(Number));
          let twice = 0;
          points.forEach(([x1, y1], i) => {
            const [x2, y2] = points[(i + 1) % points.length];
            twice += x1 * y2 - x2 * y1;
          });
          return { emotion: node.getAttribute('data-emotion') ?? '', area: Math.abs(twice / 2) };
        }),
      );
      const total = areas.reduce((sum, band) => sum + band.area, 0);
      for (const band of areas) {
        const expected = person.meanScores[band.emotion as keyof typeof person.meanScores];
        assert.ok(
          Math.abs(band.area / total - expected) < 0.02,
          `${band.emotion}: ${band.area / total} vs ${expected}`,
        );
      }
    }
    assert.deepEqual(
      requests.filter((url) => !url.startsWith('file:')),
      [],
      'no network request',
    );
    const png = await page.screenshot({ fullPage: true, type: 'png' });
    const meta = await sharp(png).metadata();
    assert.equal(meta.width, 900);
    if (process.env.MOODLENS_UPDATE_SCREENSHOT === '1') {
      // Kept small: a 64-colour palette PNG of the top of the page.
      // Down to the last plot.
      const last = await page.locator('svg.timeline').last().boundingBox();
      const height = Math.min(meta.height ?? 1000, Math.ceil((last?.y ?? 1400) + (last?.height ?? 0) + 16));
      const small = await sharp(png)
        .extract({ left: 0, top: 0, width: 900, height })
        .png({ palette: true, colours: 64, compressionLevel: 9 })
        .toBuffer();
      await writeFile(join(REPO_ROOT, 'docs', 'report-screenshot.png'), small);
    }
  },
);
