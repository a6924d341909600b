import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Box } from '../src/core/image.js';
import { EMOTION_LABELS, type Emotion } from '../src/emotion/labels.js';
import { DEFAULT_SMOOTHING_ALPHA, ScoreSmoother } from '../src/video/smoothing.js';
import { boxIou, DEFAULT_TRACKER_OPTIONS, FaceTracker, type Track } from '../src/video/tracker.js';

function box(x: number, y: number, size = 60): Box {
  return { x, y, width: size, height: size };
}

/** Two faces walking right and left across 30 frames, 4 px a frame, well apart vertically. */
function twoFaces(frame: number): Box[] {
  return [box(20 + 4 * frame, 40), box(300 - 4 * frame, 200)];
}

function ids(tracks: readonly Track[]): number[] {
  return tracks.map((t) => t.id);
}

function scores(values: readonly number[]): Record<Emotion, number> {
  return Object.fromEntries(EMOTION_LABELS.map((label, i) => [label, values[i]])) as Record<Emotion, number>;
}

function sum(record: Readonly<Record<Emotion, number>>): number {
  return EMOTION_LABELS.reduce((s, label) => s + record[label], 0);
}

void describe('FaceTracker', () => {
  void test('documents its defaults', () => {
    assert.deepEqual(
      { ...DEFAULT_TRACKER_OPTIONS },
      { iouThreshold: 0.3, maxCentroidDistance: 0.5, maxMissedFrames: 15, minHits: 3, confirmWithin: 5 },
    );
    assert.deepEqual({ ...new FaceTracker().options }, { ...DEFAULT_TRACKER_OPTIONS });
  });

  void test('boxIou', () => {
    assert.equal(boxIou(box(0, 0, 10), box(0, 0, 10)), 1);
    assert.equal(boxIou(box(0, 0, 10), box(5, 0, 10)), 50 / 150);
    assert.equal(boxIou(box(0, 0, 10), box(10, 0, 10)), 0);
  });

  void test('two moving faces keep their ids across 30 frames', () => {
    const tracker = new FaceTracker();
    for (let f = 0; f < 30; f++) {
      const faces = twoFaces(f);
      const tracks = tracker.update(faces, f);
      assert.deepEqual(ids(tracks), [1, 2], `frame ${f}`);
      assert.deepEqual(
        tracks.map((t) => t.box),
        faces,
      );
      for (const t of tracks) {
        assert.equal(t.hits, f + 1);
        assert.equal(t.missed, 0);
        assert.equal(t.firstFrame, 0);
        assert.equal(t.lastFrame, f);
      }
    }
    // Detection order is followed, whatever it is.
    const reversed = [...twoFaces(30)].reverse();
    assert.deepEqual(ids(tracker.update(reversed, 30)), [2, 1]);
  });

  void test('a face gone for 10 frames keeps its id; one gone for more than maxMissedFrames gets a new one', () => {
    const tracker = new FaceTracker();
    const other = box(400, 300);
    for (let f = 0; f < 10; f++) assert.deepEqual(ids(tracker.update([box(100 + f, 100), other], f)), [1, 2]);
    // Face 1 missing on frames 10-19 (10 frames < 15); face 2 stays.
    for (let f = 10; f < 20; f++) {
      assert.deepEqual(ids(tracker.update([other], f)), [2]);
      const active = tracker.activeTracks();
      assert.deepEqual(ids(active), [1, 2]);
      assert.equal(active[0].missed, f - 9);
      assert.deepEqual(active[0].box, box(109, 100), 'a missing track keeps its last box');
    }
    const back = tracker.update([box(111, 102), other], 20);
    assert.deepEqual(ids(back), [1, 2]);
    assert.equal(back[0].hits, 11);

    // Now gone for 16 frames (21-36): dropped, and it comes back as a new face.
    for (let f = 21; f <= 36; f++) tracker.update([other], f);
    assert.deepEqual(ids(tracker.activeTracks()), [2]);
    const returned = tracker.update([box(111, 102), other], 37);
    assert.deepEqual(ids(returned), [3, 2]);
    assert.equal(returned[0].hits, 1);
  });

  void test('exactly maxMissedFrames missed frames is survived, one more is not', () => {
    for (const [gap, expected] of [
      [15, 1],
      [16, 2],
    ] as const) {
      // minHits 1: a confirmed track (a candidate with one hit would be dropped after confirmWithin).
      const tracker = new FaceTracker({ minHits: 1 });
      tracker.update([box(50, 50)], 0);
      for (let f = 1; f <= gap; f++) tracker.update([], f);
      assert.deepEqual(ids(tracker.update([box(50, 50)], gap + 1)), [expected], `gap ${gap}`);
    }
  });

  void test('skipped frame indices count as missed frames; predict looks ahead without changing anything', () => {
    const tracker = new FaceTracker({ maxMissedFrames: 5 });
    tracker.update([box(50, 50)], 0);
    assert.deepEqual(
      tracker.predict(3).map((t) => [t.id, t.missed]),
      [[1, 3]],
    );
    assert.deepEqual(tracker.predict(6), []);
    assert.deepEqual(ids(tracker.update([box(52, 50)], 6)), [1], '5 frames skipped is survived');
    assert.deepEqual(ids(tracker.update([box(52, 50)], 13)), [2], '6 frames skipped is not');
  });

  void test('adjacent faces moving side by side keep their ids', () => {
    const tracker = new FaceTracker();
    for (let f = 0; f < 30; f++) {
      // Two 60 px faces 64 px apart (4 px gap), moving together 5 px a frame, detected in varying order.
      const faces = [box(10 + 5 * f, 100), box(74 + 5 * f, 100)];
      const order = f % 2 === 0 ? faces : [faces[1], faces[0]];
      const tracks = tracker.update(order, f);
      const byX = [...tracks].sort((a, b) => a.box.x - b.box.x);
      assert.deepEqual(ids(byX), [1, 2], `frame ${f}`);
    }
  });

  void test('faces approaching each other without crossing keep their ids', () => {
    const tracker = new FaceTracker();
    for (let f = 0; f < 30; f++) {
      // The gap between the 60 px boxes closes from 204 px to 30 px.
      const left = box(100 + 3 * f, 80);
      const right = box(364 - 3 * f, 80);
      const tracks = tracker.update([right, left], f);
      assert.deepEqual(ids(tracks), [1, 2], `frame ${f}`);
    }
  });

  void test('a big jump matches by centroid distance only within maxCentroidDistance', () => {
    const tracker = new FaceTracker();
    tracker.update([box(100, 100)], 0);
    // 25 px shift of a 60 px face: IoU 0.41 > 0.3.
    assert.deepEqual(ids(tracker.update([box(125, 100)], 1)), [1]);
    // A face shrinking to 40 px while its centre moves 23 px: IoU 0.26 < 0.3, centres 0.46 sizes apart.
    const shrunk: Box = { x: 158, y: 110, width: 40, height: 40 };
    assert.ok(boxIou(box(125, 100), shrunk) < 0.3);
    assert.deepEqual(ids(tracker.update([shrunk], 2)), [1]);
    // A jump of more than half a face is someone else.
    assert.deepEqual(ids(tracker.update([{ ...shrunk, x: 158 + 30 }], 3)), [2]);
    const noFallback = new FaceTracker({ maxCentroidDistance: 0 });
    noFallback.update([box(125, 100)], 0);
    assert.deepEqual(ids(noFallback.update([shrunk], 1)), [2]);
  });

  void test('new detections get new ids in detection order, and minHits marks confirmed tracks', () => {
    const tracker = new FaceTracker({ minHits: 3 });
    const a = tracker.update([box(0, 0), box(200, 0)], 0);
    assert.deepEqual(ids(a), [1, 2]);
    assert.deepEqual(
      a.map((t) => t.confirmed),
      [false, false],
    );
    tracker.update([box(0, 0), box(200, 0), box(400, 0)], 1);
    const c = tracker.update([box(400, 0), box(0, 0), box(200, 0)], 2);
    assert.deepEqual(ids(c), [3, 1, 2]);
    assert.deepEqual(
      c.map((t) => t.confirmed),
      [false, true, true],
    );
  });

  void test('is deterministic and keeps ids per instance', () => {
    const run = (): number[][] => {
      const tracker = new FaceTracker();
      const out: number[][] = [];
      for (let f = 0; f < 40; f++) {
        // Faces blinking in and out, including two equally good candidates for one track.
        const faces = [box(10 + 2 * f, 10)];
        if (f % 7 !== 3) faces.push(box(150, 150 - f));
        if (f % 11 < 5) faces.push(box(300, 20), box(300 + 20, 20));
        out.push(ids(tracker.update(faces, f)));
      }
      return out;
    };
    const first = run();
    assert.deepEqual(run(), first);
    assert.deepEqual(first[0], [1, 2, 3, 4]);
  });

  void test('returned tracks are snapshots', () => {
    const tracker = new FaceTracker();
    const input = { x: 10, y: 10, width: 50, height: 50 };
    const [track] = tracker.update([input], 0);
    input.x = 999;
    tracker.update([box(12, 10, 50)], 1);
    assert.deepEqual(track.box, box(10, 10, 50));
    assert.equal(track.hits, 1);
    assert.deepEqual(tracker.activeTracks()[0].box, box(12, 10, 50));
  });

  void test('rejects bad input', () => {
    const tracker = new FaceTracker();
    tracker.update([], 5);
    assert.throws(() => tracker.update([], 5), RangeError);
    assert.throws(() => tracker.update([], 6.5), RangeError);
    assert.throws(() => tracker.update([box(0, 0, 0)], 7), RangeError);
    assert.throws(() => tracker.update([{ x: Number.NaN, y: 0, width: 5, height: 5 }], 7), RangeError);
    assert.throws(() => new FaceTracker({ iouThreshold: 1.5 }), RangeError);
    assert.throws(() => new FaceTracker({ maxMissedFrames: -1 }), RangeError);
    assert.throws(() => new FaceTracker({ minHits: 0 }), RangeError);
    assert.throws(() => new FaceTracker({ maxCentroidDistance: Number.NaN }), RangeError);
  });
});

void describe('ScoreSmoother', () => {
  const happy = scores([0.02, 0.01, 0.02, 0.85, 0.03, 0.02, 0.05]);
  const sad = scores([0.05, 0.01, 0.04, 0.05, 0.7, 0.05, 0.1]);

  void test('defaults to alpha 0.4', () => {
    assert.equal(DEFAULT_SMOOTHING_ALPHA, 0.4);
    assert.equal(new ScoreSmoother().alpha, 0.4);
  });

  void test('converges to a constant input', () => {
    const smoother = new ScoreSmoother();
    smoother.update(1, sad);
    let result = smoother.update(1, happy);
    assert.equal(result.label, 'sad', 'one happy frame does not flip a sad face');
    assert.ok(Math.abs(result.scores.happy - (0.4 * 0.85 + 0.6 * 0.05)) < 1e-12);
    for (let i = 0; i < 40; i++) result = smoother.update(1, happy);
    for (const label of EMOTION_LABELS)
      assert.ok(Math.abs(result.scores[label] - happy[label]) < 1e-6, label);
    assert.ok(Math.abs(result.confidence - 0.85) < 1e-6);
  });

  void test('follows the exponential moving average and renormalises', () => {
    const smoother = new ScoreSmoother({ alpha: 0.4 });
    // Unnormalised input is normalised first.
    const first = smoother.update(7, scores([0, 0, 0, 2, 0, 0, 2]));
    assert.equal(first.scores.happy, 0.5);
    assert.equal(first.label, 'happy', 'ties go to the first label in EMOTION_LABELS order');
    const second = smoother.update(7, sad);
    assert.ok(Math.abs(second.scores.sad - (0.4 * 0.7 + 0.6 * 0)) < 1e-12);
    assert.ok(Math.abs(second.scores.happy - (0.4 * 0.05 + 0.6 * 0.5)) < 1e-12);
    assert.equal(second.label, 'neutral');
    assert.ok(Math.abs(sum(second.scores) - 1) < 1e-12);
  });

  void test('alpha 1 returns the raw input', () => {
    const smoother = new ScoreSmoother({ alpha: 1 });
    smoother.update(1, happy);
    const result = smoother.update(1, sad);
    for (const label of EMOTION_LABELS) assert.ok(Math.abs(result.scores[label] - sad[label]) < 1e-12);
    assert.equal(result.label, 'sad');
    assert.ok(Math.abs(result.confidence - 0.7) < 1e-12);
  });

  void test('output always sums to 1', () => {
    const smoother = new ScoreSmoother({ alpha: 0.25 });
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 200; i++) {
      const result = smoother.update(i % 3, scores(EMOTION_LABELS.map(() => random() * 5)));
      assert.ok(Math.abs(sum(result.scores) - 1) < 1e-9);
      assert.equal(result.confidence, Math.max(...EMOTION_LABELS.map((l) => result.scores[l])));
      assert.equal(result.scores[result.label], result.confidence);
    }
  });

  void test('keeps tracks apart; forget and retain drop them', () => {
    const smoother = new ScoreSmoother();
    smoother.update(1, happy);
    smoother.update(2, sad);
    assert.equal(smoother.get(1)?.label, 'happy');
    assert.equal(smoother.get(2)?.label, 'sad');
    assert.equal(smoother.forget(1), true);
    assert.equal(smoother.forget(1), false);
    assert.equal(smoother.get(1), undefined);
    assert.equal(smoother.update(1, sad).label, 'sad', 'a forgotten track starts afresh');
    smoother.update(3, happy);
    smoother.retain([3]);
    assert.equal(smoother.size, 1);
    assert.equal(smoother.get(3)?.label, 'happy');
  });

  void test('rejects bad input', () => {
    const smoother = new ScoreSmoother();
    assert.throws(() => new ScoreSmoother({ alpha: 0 }), RangeError);
    assert.throws(() => new ScoreSmoother({ alpha: 1.1 }), RangeError);
    assert.throws(() => smoother.update(1, scores([0, 0, 0, 0, 0, 0, 0])), RangeError);
    assert.throws(() => smoother.update(1, scores([-1, 0, 0, 2, 0, 0, 0])), RangeError);
    assert.throws(() => smoother.update(1, scores([Number.NaN, 0, 0, 1, 0, 0, 0])), RangeError);
  });
});
