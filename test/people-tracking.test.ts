/**
 * One person, one id (issue 23), on real inputs: the astronaut photo (NASA, public domain) through a
 * panning window and examples/astronaut-pan.mp4. A duplicate box on the face starts no second track; a
 * candidate seen too rarely never becomes a person; a face that leaves and comes back gets its old person
 * id; the example clip looped twice (made with ffmpeg -stream_loop) gives exactly one person, with a
 * thumbnail in the report; old frames.csv files without the person column still make a report.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Box, Image } from '../src/core/image.js';
import type { EmotionClassifier } from '../src/emotion/classifier.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { locateFfmpeg } from '../src/io/node/ffmpeg/locate.js';
import { loadLandmarkDetector } from '../src/io/node/landmark-model.js';
import type { LandmarkDetector } from '../src/landmarks/detector.js';
import { assessFaceEvidence } from '../src/landmarks/reliability.js';
import { EmotionPipeline, type FaceDetector } from '../src/pipeline/pipeline.js';
import { parseFramesCsv } from '../src/report/records.js';
import type { SessionReport } from '../src/report/report.js';
import { summarizeSession } from '../src/report/summary.js';
import { FrameAnalyzer } from '../src/video/frame-analyzer.js';
import { suppressDuplicateBoxes } from '../src/video/duplicates.js';
import { FaceTracker } from '../src/video/tracker.js';
import { astronautPanClip } from './support/astronaut-clip.js';
import { runCaptured } from './support/cli.js';
import { REPO_ROOT } from './support/opencv.js';
import { ffmpegRun } from './support/videos.js';

let classifier: EmotionClassifier;
let landmarks: LandmarkDetector;
let dir: string;

before(async () => {
  classifier = await loadEmotionClassifier();
  landmarks = await loadLandmarkDetector();
  dir = await mkdtemp(join(tmpdir(), 'moodlens-people-'));
});
after(async () => {
  await classifier.dispose();
  await landmarks.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** The real detector, plus a box on part of every face it finds (the upper middle: eyes and brow). */
function withDuplicates(inner: FaceDetector): FaceDetector {
  return {
    async detect(image: Image): Promise<Box[]> {
      const boxes = await inner.detect(image);
      return boxes.flatMap((b) => [
        b,
        {
          x: b.x + Math.round(b.width * 0.25),
          y: b.y + Math.round(b.height * 0.2),
          width: Math.round(b.width * 0.45),
          height: Math.round(b.height * 0.45),
        },
      ]);
    },
  };
}

void describe('people tracking', () => {
  void test('a duplicate box inside the face is suppressed: one track, one person', async () => {
    const clip = await astronautPanClip({ frames: 8 });
    const detector = withDuplicates(await loadFaceDetector());
    const boxes = await detector.detect(clip.frames[0]);
    assert.equal(suppressDuplicateBoxes(boxes).length, boxes.length / 2);
    const analyzer = new FrameAnalyzer(new EmotionPipeline(detector, classifier));
    const persons = new Set<number>();
    const tracks = new Set<number>();
    for (const [f, frame] of clip.frames.entries()) {
      const { faces } = await analyzer.analyzeFrame(frame, f, f / 30);
      for (const face of faces) {
        tracks.add(face.track);
        if (face.person !== null) persons.add(face.person);
      }
    }
    assert.deepEqual([...tracks], [1]);
    assert.deepEqual([...persons], [1]);
    assert.ok(analyzer.stats.duplicates >= clip.frames.length);
  });

  void test('a track is confirmed by K of its first M detections; a rarer one is dropped', () => {
    const box = { x: 50, y: 50, width: 60, height: 60 };
    const tracker = new FaceTracker({ minHits: 3, confirmWithin: 5 });
    // Seen on frames 0 and 2 of its first five: dropped, so frame 5 starts a new candidate.
    const seen = [true, false, true, false, false, true];
    const ids = seen.map((here, f) => tracker.update(here ? [box] : [], f)[0]?.id);
    assert.deepEqual(ids, [1, undefined, 1, undefined, undefined, 2]);
    const steady = new FaceTracker({ minHits: 3, confirmWithin: 5 });
    const confirmed = [0, 1, 2].map((f) => steady.update([box], f)[0].confirmed);
    assert.deepEqual(confirmed, [false, false, true]);
  });

  void test('a face that leaves for longer than the tracker waits comes back as the same person', async () => {
    const blank = Array.from({ length: 20 }, (_, i) => 6 + i);
    const clip = await astronautPanClip({ frames: 32, blank });
    const analyzer = new FrameAnalyzer(new EmotionPipeline(await loadFaceDetector(), classifier), {
      tracker: { maxMissedFrames: 5 },
    });
    const rows: { track: number; person: number | null }[][] = [];
    for (const [f, frame] of clip.frames.entries()) {
      rows.push((await analyzer.analyzeFrame(frame, f, f / 30)).faces);
    }
    const before = rows.slice(0, 6).flat();
    const afterGap = rows.slice(26).flat();
    assert.ok(before.length > 0 && afterGap.length > 0);
    // A new track (the tracker gave up during the gap) but the old person.
    assert.notEqual(afterGap[0].track, before[0].track);
    assert.deepEqual(
      [...new Set([...before, ...afterGap].map((r) => r.person).filter((p) => p !== null))],
      [1],
    );
  });

  void test('the face evidence check passes the real face and fails the suit and plain wall', async () => {
    const clip = await astronautPanClip({ frames: 1 });
    const gray = { ...clip.frames[0], channels: 1 as const, data: new Uint8Array(320 * 240) };
    const rgb = clip.frames[0].data;
    for (let i = 0; i < gray.data.length; i++)
      gray.data[i] = Math.round(0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2]);
    const [face] = (await loadFaceDetector()).detect(gray);
    const [real] = await landmarks.detect(gray, [face]);
    assert.equal(assessFaceEvidence(gray, real.points, face).plausible, true);
    // The same points moved onto a flat patch of wall (top left) are no face.
    const moved = real.points.map(([x, y]) => [x - face.x, y - face.y] as [number, number]);
    const wall = { x: 0, y: 0, width: face.width, height: face.height };
    assert.equal(assessFaceEvidence(gray, moved, wall).plausible, false);
  });

  void test('examples/astronaut-pan.mp4 looped twice: exactly one person, with a thumbnail', async () => {
    const ffmpeg = await locateFfmpeg();
    const looped = join(dir, 'loop2.mp4');
    await ffmpegRun(ffmpeg, [
      '-stream_loop',
      '1',
      '-i',
      join(REPO_ROOT, 'examples', 'astronaut-pan.mp4'),
      '-c',
      'copy',
      looped,
    ]);
    const out = join(dir, 'loop');
    const result = await runCaptured(['video', looped, '--out', out, '--no-video', '--no-stills']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as SessionReport;
    assert.deepEqual(
      report.summary.tracks.map((t) => t.track),
      [1],
      JSON.stringify(report.summary.tracks.map((t) => [t.track, t.seconds])),
    );
    assert.ok(report.summary.tracks[0].seconds > 14, String(report.summary.tracks[0].seconds));
    assert.match(report.thumbnails?.['1'] ?? '', /^data:image\/png;base64,/);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    assert.match(html, /<img class="thumb" data-field="thumbnail" src="data:image\/png;base64,/);
    assert.match(html, /Seen for 1\d\.\d s in \d+ frames/);
    // frames.csv names the person on every face row; candidate rows (person empty) never reach the report.
    const records = parseFramesCsv(await readFile(join(out, 'frames.csv'), 'utf8'));
    const persons = new Set(records.filter((r) => r.track !== null).map((r) => r.person));
    assert.ok(
      [...persons].every((p) => p === 1 || p === null),
      [...persons].join(','),
    );
  });

  void test('old frames.csv without the person column: each track is its own person', () => {
    const header =
      'frame,time,track,x,y,width,height,label,confidence,angry,disgust,fear,happy,sad,surprise,neutral';
    const row = (f: number, track: number): string =>
      `${f},${(f / 30).toFixed(3)},${track},10,10,50,50,happy,0.9,0,0,0,0.9,0.1,0,0`;
    const old = parseFramesCsv([header, row(0, 1), row(0, 2), row(1, 1)].join('\n'));
    assert.equal(old[0].person, undefined);
    assert.deepEqual(
      summarizeSession(old).tracks.map((t) => t.track),
      [1, 2],
    );
    // With the column: tracks 1 and 3 are person 1, track 2 a candidate never confirmed.
    const rows = [`${header},person`, `${row(0, 1)},1`, `${row(0, 2)},`, `${row(1, 3)},`, `${row(2, 3)},1`];
    const summary = summarizeSession(parseFramesCsv(rows.join('\n')));
    assert.deepEqual(
      summary.tracks.map((t) => [t.track, t.frames]),
      [[1, 3]],
    );
  });
});
