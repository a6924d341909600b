/**
 * Two people with known expressions over time (real FER-2013 faces in a real photo, encoded with ffmpeg):
 * `moodlens video` must keep one id per person and its report must show A turning from happy to sad
 * half-way and B surprised throughout.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EmotionClassifier } from '../src/emotion/classifier.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { locateFfmpeg } from '../src/io/node/ffmpeg/locate.js';
import { EmotionPipeline } from '../src/pipeline/pipeline.js';
import { parseFramesCsv, type FrameRecord } from '../src/report/records.js';
import type { SessionReport } from '../src/report/report.js';
import type { TrackSummary } from '../src/report/summary.js';
import { boxIou } from '../src/video/tracker.js';
import { runCaptured } from './support/cli.js';
import { makePeopleClip, PEOPLE_CLIP, type PeopleClip, type Person } from './support/people-clip.js';

let dir: string;
let classifier: EmotionClassifier;
let clip: PeopleClip;
let records: FrameRecord[];
let report: SessionReport;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moodlens-people-'));
  classifier = await loadEmotionClassifier();
  const pipeline = new EmotionPipeline(await loadFaceDetector(), classifier);
  clip = await makePeopleClip(await locateFfmpeg(), pipeline, join(dir, 'people.mp4'));
  const out = join(dir, 'out');
  const result = await runCaptured(['video', clip.file, '--out', out, '--no-stills']);
  assert.equal(result.code, 0, result.stderr);
  records = parseFramesCsv(await readFile(join(out, 'frames.csv'), 'utf8'));
  report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as SessionReport;
});
after(async () => {
  await classifier.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** The person id over the person's pasted face on each frame (undefined where none is). */
function tracksOf(person: Person): (number | undefined)[] {
  return person.boxes.map((box, frame) => {
    const over = records.filter(
      (r) =>
        r.frame === frame &&
        r.track !== null &&
        boxIou(box, { x: r.x ?? 0, y: r.y ?? 0, width: r.width ?? 0, height: r.height ?? 0 }) > 0.5,
    );
    return over.length === 1 ? (over[0].person ?? undefined) : undefined;
  });
}

function summaryOf(person: Person): TrackSummary {
  const ids = tracksOf(person).filter((t) => t !== undefined);
  const track = report.summary.tracks.find((t) => t.track === ids[0]);
  assert.ok(track, `person ${person.name}`);
  return track;
}

void describe('two people, known expressions', () => {
  void test('every frame is in frames.csv; each person keeps one id on every frame', () => {
    assert.equal(new Set(records.map((r) => r.frame)).size, PEOPLE_CLIP.frames);
    const ids = clip.people.map(tracksOf);
    for (const [i, person] of clip.people.entries()) {
      const found = ids[i].filter((t) => t !== undefined);
      assert.equal(found.length, PEOPLE_CLIP.frames, `person ${person.name} boxed on every frame`);
      assert.equal(new Set(found).size, 1, `person ${person.name}: ids ${[...new Set(found)].join(',')}`);
    }
    assert.notEqual(ids[0][0], ids[1][0]);
    // Any other track (the cascade can take a patch of the encoded background for a face) never
    // overlaps the people.
    const people = new Set([ids[0][0], ids[1][0]]);
    for (const r of records) {
      if (r.track === null || people.has(r.person ?? undefined)) continue;
      const box = { x: r.x ?? 0, y: r.y ?? 0, width: r.width ?? 0, height: r.height ?? 0 };
      for (const person of clip.people)
        assert.equal(boxIou(box, person.boxes[r.frame]), 0, `track ${r.track}`);
    }
  });

  void test('person A: happy then sad; the report measures the switch', () => {
    const [a] = clip.people;
    const s = summaryOf(a);
    const half = PEOPLE_CLIP.frames / 2;
    const seconds = PEOPLE_CLIP.frames / PEOPLE_CLIP.fps;
    assert.ok(Math.abs(s.seconds - seconds) < 0.01, String(s.seconds));
    // Smoothing delays the switch by a few frames: the shares are within 10 points of a half each.
    assert.ok(Math.abs(s.timeShare.happy - 0.5) <= 0.1, `happy ${s.timeShare.happy}`);
    assert.ok(Math.abs(s.timeShare.sad - 0.5) <= 0.1, `sad ${s.timeShare.sad}`);
    assert.ok(Math.abs(s.negativeShare - 0.5) <= 0.1, `negative ${s.negativeShare}`);
    assert.ok(s.changes >= 1 && s.changes <= 3, `changes ${s.changes}`);
    const firstSad = records.find((r) => r.person === s.track && r.label === 'sad')?.frame ?? -1;
    assert.ok(firstSad >= half && firstSad <= half + 6, `first sad label on frame ${firstSad}`);
    // The longest negative stretch runs from the switch to the end.
    assert.ok(Math.abs(s.longestNegativeSeconds - (PEOPLE_CLIP.frames - firstSad) / PEOPLE_CLIP.fps) < 0.05);
    assert.ok(Math.abs((s.longestNegativeStart ?? -1) - firstSad / PEOPLE_CLIP.fps) < 0.01);
  });

  void test('person B: surprised throughout, no negative affect', () => {
    const s = summaryOf(clip.people[1]);
    assert.equal(s.dominant, 'surprise');
    assert.ok(s.timeShare.surprise > 0.9, String(s.timeShare.surprise));
    assert.ok(s.negativeShare < 0.1);
    assert.ok(s.changes <= 2);
  });
});
