/**
 * FrameAnalyzer on a real face: the astronaut photo seen through a panning window (the face moves 5 px
 * right and 1 px down per frame in the photo, so left and up in the frame), with the shipped cascade and
 * emotion model.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EMOTION_LABELS } from '../src/emotion/labels.js';
import type { EmotionClassifier } from '../src/emotion/classifier.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { EmotionPipeline } from '../src/pipeline/pipeline.js';
import { FrameAnalyzer, type FrameAnalysis } from '../src/video/frame-analyzer.js';
import { boxIou } from '../src/video/tracker.js';
import type { Box } from '../src/core/image.js';
import { astronautPanClip, toFrame, type PanClip } from './support/astronaut-clip.js';

let classifier: EmotionClassifier;
let pipeline: EmotionPipeline;
let clip: PanClip;
/** The astronaut's face in the photo (frame 0 has no offset). */
let photoFace: Box;

before(async () => {
  classifier = await loadEmotionClassifier();
  pipeline = new EmotionPipeline(await loadFaceDetector(), classifier);
  clip = await astronautPanClip({ frames: 30 });
  const boxes = await pipeline.detector.detect(clip.frames[0]);
  assert.equal(boxes.length, 1);
  photoFace = boxes[0];
});
after(async () => {
  await classifier.dispose();
});

async function run(analyzer: FrameAnalyzer, frames = clip.frames, fps = 30): Promise<FrameAnalysis[]> {
  const out: FrameAnalysis[] = [];
  for (let f = 0; f < frames.length; f++) out.push(await analyzer.analyzeFrame(frames[f], f, f / fps));
  return out;
}

/** The result for the astronaut's face: the one over where the pan puts it (the cascade also has false hits). */
function astronaut<T extends { box: Box }>(faces: readonly T[], frame: number, offsets = clip.offsets): T {
  const expected = toFrame(photoFace, offsets[frame]);
  const found = faces.filter((face) => boxIou(face.box, expected) > 0.5);
  assert.equal(found.length, 1, `frame ${frame}: ${JSON.stringify(faces.map((face) => face.box))}`);
  return found[0];
}

function sum(values: Readonly<Record<string, number>>): number {
  return Object.values(values).reduce((a, b) => a + b, 0);
}

void describe('FrameAnalyzer', () => {
  void test('every frame: the astronaut is track 1 throughout, detector boxes, one flat record per face', async () => {
    const analyzer = new FrameAnalyzer(pipeline, { smoothingAlpha: 0.4 });
    const results = await run(analyzer);
    let faceCount = 0;
    for (const [f, { faces, records }] of results.entries()) {
      const detected = await pipeline.detector.detect(clip.frames[f]);
      assert.deepEqual(
        faces.map((face) => face.box).sort((a, b) => a.x - b.x),
        [...detected].sort((a, b) => a.x - b.x),
      );
      faceCount += faces.length;
      const face = astronaut(faces, f);
      assert.equal(face.track, 1, `frame ${f}`);
      assert.equal(face.detected, true);
      // The cascade's false hit on the suit (frames 19-20, 24-26 of this pan) gets an id of its own.
      for (const other of faces) if (other !== face) assert.notEqual(other.track, 1);
      assert.deepEqual(
        records.map((r) => r.track),
        faces.map((x) => x.track),
      );
      const record = records[faces.indexOf(face)];
      assert.equal(record.frame, f);
      assert.equal(record.time, f / 30);
      assert.deepEqual(
        [record.x, record.y, record.width, record.height],
        [face.box.x, face.box.y, face.box.width, face.box.height],
      );
      assert.equal(record.label, face.emotion.label);
      for (const label of EMOTION_LABELS) assert.equal(record[label], face.emotion.scores[label]);
      assert.deepEqual(record.raw, face.rawScores);
      assert.ok(Math.abs(sum(face.emotion.scores) - 1) < 1e-9);
    }
    // The face follows the pan: x decreases by about 5 px a frame.
    const first = astronaut(results[0].faces, 0).box;
    const last = astronaut(results[29].faces, 29).box;
    assert.ok(Math.abs(first.x - last.x - 29 * 5) <= 12, `${first.x} -> ${last.x}`);
    const stats = analyzer.stats;
    assert.equal(stats.frames, 30);
    assert.equal(stats.detections, 30);
    assert.equal(stats.faces, faceCount);
    assert.ok(stats.detectMs > 0 && stats.classifyMs > 0);
  });

  void test('smoothing: the first frame is raw, later ones mix in the past; alpha 1 keeps raw scores', async () => {
    const smoothed = await run(new FrameAnalyzer(pipeline, { smoothingAlpha: 0.2 }));
    for (const label of EMOTION_LABELS) {
      assert.ok(
        Math.abs(smoothed[0].faces[0].emotion.scores[label] - smoothed[0].faces[0].rawScores[label]) < 1e-12,
      );
    }
    const f1 = smoothed[1].faces[0];
    for (const label of EMOTION_LABELS) {
      const expected = 0.2 * f1.rawScores[label] + 0.8 * smoothed[0].faces[0].emotion.scores[label];
      assert.ok(Math.abs(f1.emotion.scores[label] - expected) < 1e-6, label);
    }
    const raw = await run(new FrameAnalyzer(pipeline, { smoothingAlpha: 1 }), clip.frames.slice(0, 5));
    for (const { faces } of raw) {
      for (const label of EMOTION_LABELS) {
        assert.ok(Math.abs(faces[0].emotion.scores[label] - faces[0].rawScores[label]) < 1e-12);
      }
    }
  });

  void test('detectEvery 3: the detector runs on frames 0, 3, 6...; boxes carried in between stay on the face', async () => {
    const perFrame = await run(new FrameAnalyzer(pipeline));
    const analyzer = new FrameAnalyzer(pipeline, { detectEvery: 3 });
    const every3 = await run(analyzer);
    assert.equal(analyzer.stats.detections, 10);
    const ious: number[] = [];
    every3.forEach(({ faces }, f) => {
      const face = faces.find((x) => x.track === 1);
      assert.ok(face, `frame ${f}`);
      assert.equal(face.detected, f % 3 === 0);
      const lastDetected = every3[f - (f % 3)].faces.find((x) => x.track === 1)?.box;
      assert.deepEqual(face.box, lastDetected);
      ious.push(boxIou(face.box, astronaut(perFrame[f].faces, f).box));
    });
    // Moving 5 px a frame, a ~95 px face carried for 2 frames still overlaps its true box well.
    assert.ok(Math.min(...ious) > 0.7, `min IoU ${Math.min(...ious).toFixed(3)}`);
  });

  void test('frames without a face give one empty record; the face keeps its id across the gap', async () => {
    const gappy = await astronautPanClip({ frames: 18, blank: [8, 9, 10, 11] });
    const results = await run(new FrameAnalyzer(pipeline), gappy.frames);
    for (const f of [8, 9, 10, 11]) {
      assert.deepEqual(results[f].faces, []);
      assert.equal(results[f].records.length, 1);
      const [record] = results[f].records;
      assert.equal(record.frame, f);
      assert.equal(record.track, null);
      assert.equal(record.label, null);
      assert.equal(record.happy, null);
    }
    assert.deepEqual([...new Set(results.flatMap((r) => r.faces.map((face) => face.track)))], [1]);
  });

  void test('a gap longer than maxMissedFrames starts a new track of the same person; reset restarts ids', async () => {
    const gappy = await astronautPanClip({ frames: 12, blank: [4, 5, 6, 7] });
    const analyzer = new FrameAnalyzer(pipeline, { tracker: { maxMissedFrames: 2 } });
    const results = await run(analyzer, gappy.frames);
    assert.deepEqual(
      results.map((r) => r.faces[0]?.track ?? 0),
      [1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2],
    );
    // Persons once confirmed (3 of the first 5 detections), and the returning face is person 1 again.
    assert.deepEqual(
      results.map((r) => r.faces[0]?.person ?? 0),
      [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1],
    );
    analyzer.reset();
    assert.equal(analyzer.stats.frames, 0);
    const again = await analyzer.analyzeFrame(gappy.frames[0], 0, 0);
    assert.equal(again.faces[0].track, 1);
  });

  void test('bad options and frame indices are refused with RangeErrors naming them', async () => {
    assert.throws(() => new FrameAnalyzer(pipeline, { detectEvery: 0 }), /detectEvery/);
    assert.throws(() => new FrameAnalyzer(pipeline, { detectEvery: 1.5 }), /detectEvery/);
    assert.throws(() => new FrameAnalyzer(pipeline, { smoothingAlpha: 0 }), /smoothingAlpha/);
    const analyzer = new FrameAnalyzer(pipeline);
    await assert.rejects(analyzer.analyzeFrame(clip.frames[0], -1, 0), /frame/);
    await assert.rejects(analyzer.analyzeFrame(clip.frames[0], 0, Number.NaN), /timeSeconds/);
    await analyzer.analyzeFrame(clip.frames[0], 3, 0.1);
    await assert.rejects(analyzer.analyzeFrame(clip.frames[1], 3, 0.2), /increase/);
  });
});
