import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EMOTION_LABELS, type Emotion } from '../src/emotion/labels.js';
import { renderReportHtml } from '../src/report/html.js';
import { emptyFrameRecord, type FrameRecord } from '../src/report/records.js';
import { buildReport, modelQualityFromCard, weakestClasses } from '../src/report/report.js';
import { summarizeSession, trackTimeline } from '../src/report/summary.js';
import { REPO_ROOT } from './support/opencv.js';

/** A face record whose smoothed label is `label` (0.7) with 0.05 on every other emotion. */
function face(frame: number, track: number, label: Emotion, interval = 0.5): FrameRecord {
  const scores = Object.fromEntries(EMOTION_LABELS.map((l) => [l, l === label ? 0.7 : 0.05])) as Record<
    Emotion,
    number
  >;
  return {
    frame,
    time: frame * interval,
    track,
    x: 0,
    y: 0,
    width: 10,
    height: 10,
    label,
    confidence: 0.7,
    ...scores,
  };
}

/**
 * Ten frames, half a second apart. Person 1: happy on frames 0-3, sad 4-6, absent on 7 (no face at
 * all), angry 8-9. Person 2: neutral on frame 0 only.
 */
function handMade(): FrameRecord[] {
  const labels: Record<number, Emotion> = {
    0: 'happy',
    1: 'happy',
    2: 'happy',
    3: 'happy',
    4: 'sad',
    5: 'sad',
    6: 'sad',
    8: 'angry',
    9: 'angry',
  };
  const records: FrameRecord[] = [];
  for (let f = 0; f < 10; f++) {
    if (f === 7) records.push(emptyFrameRecord(7, 3.5));
    else records.push(face(f, 1, labels[f]));
    if (f === 0) records.push(face(0, 2, 'neutral'));
  }
  // Order must not matter.
  return records.reverse();
}

const close = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} vs ${expected}`);

void describe('summarizeSession', () => {
  void test('hand-made session: every figure computed by hand', () => {
    const summary = summarizeSession(handMade());
    assert.equal(summary.frames, 10);
    assert.equal(summary.framesWithFaces, 9);
    close(summary.duration, 5, 'duration');
    close(summary.frameInterval, 0.5, 'interval');
    assert.deepEqual([...summary.negativeEmotions], ['angry', 'disgust', 'fear', 'sad']);
    assert.equal(summary.tracks.length, 2);

    const [one, two] = summary.tracks;
    assert.equal(one.track, 1);
    assert.equal(one.frames, 9);
    close(one.seconds, 4.5, 'seconds');
    close(one.firstSeen, 0, 'firstSeen');
    close(one.lastSeen, 4.5, 'lastSeen');
    close(one.timeShare.happy, 2 / 4.5, 'happy share');
    close(one.timeShare.sad, 1.5 / 4.5, 'sad share');
    close(one.timeShare.angry, 1 / 4.5, 'angry share');
    close(one.timeShare.neutral, 0, 'neutral share');
    close(
      EMOTION_LABELS.reduce((s, l) => s + one.timeShare[l], 0),
      1,
      'shares sum',
    );
    close(one.meanScores.happy, (4 * 0.7 + 5 * 0.05) / 9, 'mean happy');
    assert.equal(one.dominant, 'happy');
    // happy -> sad on frame 4 counts; sad (6) -> angry (8) spans frame 7, where the person was not seen.
    assert.equal(one.changes, 1);
    close(one.changesPerMinute, 1 / (4.5 / 60), 'changes per minute');
    close(one.negativeShare, 2.5 / 4.5, 'negative share');
    close(one.longestNegativeSeconds, 1.5, 'longest negative');
    close(one.longestNegativeStart ?? -1, 2, 'longest negative start');
    assert.equal(one.brief, false);

    assert.equal(two.track, 2);
    assert.equal(two.frames, 1);
    close(two.seconds, 0.5, 'track 2 seconds');
    assert.equal(two.dominant, 'neutral');
    assert.equal(two.changes, 0);
    assert.equal(two.longestNegativeStart, null);
    assert.equal(two.brief, true, 'under the 1 s default');
    assert.equal(summarizeSession(handMade(), { minTrackSeconds: 0.5 }).tracks[1].brief, false);
  });

  void test('a long pause counts as at most 5 frame intervals', () => {
    const records = [
      face(0, 1, 'sad', 1),
      face(1, 1, 'sad', 1),
      face(2, 1, 'sad', 1),
      { ...face(3, 1, 'sad', 1), time: 100 },
    ];
    const [track] = summarizeSession(records).tracks;
    // Frames 0 and 1 last 1 s, frame 2 lasts min(98, 5 x 1) = 5 s, the last one the median, 1 s.
    close(track.seconds, 8, 'seconds');
    close(track.longestNegativeSeconds, 8, 'longest');
  });

  void test('ties go to the first emotion in FER order; empty input gives an empty summary', () => {
    const records = [face(0, 1, 'sad'), face(1, 1, 'fear')];
    assert.equal(summarizeSession(records).tracks[0].dominant, 'fear');
    const empty = summarizeSession([]);
    assert.equal(empty.frames, 0);
    assert.deepEqual(empty.tracks, []);
    assert.throws(() => summarizeSession(records, { minTrackSeconds: -1 }), /minTrackSeconds/);
  });

  void test('timeline: mean scores per bin, null where the person was not seen', () => {
    const bins = trackTimeline(handMade(), 1, 10);
    assert.equal(bins.length, 10);
    close(bins[0].start, 0, 'start');
    close(bins[9].end, 5, 'end');
    assert.equal(bins[7].scores, null);
    close(bins[0].scores?.happy ?? 0, 0.7, 'bin 0 happy');
    close(bins[5].scores?.sad ?? 0, 0.7, 'bin 5 sad');
    const coarse = trackTimeline(handMade(), 1, 2);
    close(coarse[0].scores?.happy ?? 0, (4 * 0.7 + 0.05) / 5, 'coarse bin 0 happy');
  });
});

void describe('report', () => {
  const card: unknown = JSON.parse(
    readFileSync(join(REPO_ROOT, 'models', 'emotion', 'emotion.json'), 'utf8'),
  );

  void test('model quality comes from the model card; weakest classes by recall', () => {
    const model = modelQualityFromCard(card, 'emotion.onnx');
    assert.ok(model);
    const c = card as {
      publicTest: { accuracy: number; n: number };
      perClass: Record<Emotion, { recall: number }>;
    };
    assert.equal(model.accuracy, c.publicTest.accuracy);
    assert.equal(model.n, c.publicTest.n);
    const weakest = weakestClasses(model, 3);
    const byRecall = [...EMOTION_LABELS].sort((a, b) => c.perClass[a].recall - c.perClass[b].recall);
    assert.deepEqual(
      weakest.map((w) => w.label),
      byRecall.slice(0, 3),
    );
    assert.equal(modelQualityFromCard({ publicTest: {} }, 'x'), undefined);
  });

  void test('HTML: self-contained, framed as a screening aid, model accuracy, numbers and one SVG per person', () => {
    const model = modelQualityFromCard(card, 'emotion.onnx');
    const report = buildReport(handMade(), { model, source: { file: 'session <1>.csv' } });
    const html = renderReportHtml(report);
    assert.match(html, /^<!doctype html>/);
    assert.doesNotMatch(html, /(src|href)="https?:/, 'no network resource');
    assert.doesNotMatch(html, /<script(?! type="application\/json")/, 'no executable script');
    assert.match(html, /screening aid, not a diagnosis/i);
    assert.match(html, /session &lt;1&gt;\.csv/, 'escaped file name');
    assert.ok(model);
    assert.ok(html.includes(`${(model.accuracy * 100).toFixed(1)}%`), 'accuracy shown');
    for (const weak of weakestClasses(model, 3)) assert.ok(html.includes(`<strong>${weak.label}</strong>`));
    assert.equal(html.match(/<svg class="timeline"/g)?.length, 1, 'brief track 2 has no plot');
    assert.match(html, /data-field="negativeShare">55\.6%/);
    assert.match(html, /data-field="dominant">happy/);
    assert.match(html, /data-field="longestNegativeSeconds">1\.5 s/);
    assert.match(html, /Seen too briefly to summarise/);
    assert.match(html, /not enough frames/);
    // The embedded JSON is the report.
    const json = /<script type="application\/json" id="moodlens-report">(.*)<\/script>/s.exec(html)?.[1];
    assert.deepEqual(JSON.parse(json ?? 'null'), JSON.parse(JSON.stringify(report)));
    const unknown = renderReportHtml(buildReport(handMade(), {}));
    assert.match(unknown, /no model card/);
  });

  void test('HTML: a partial session says so', () => {
    const html = renderReportHtml(buildReport(handMade(), { source: { partial: 'the video ends early' } }));
    assert.match(html, /Partial result\.<\/strong> the video ends early/);
  });
});
