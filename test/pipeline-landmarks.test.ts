/**
 * The library pipeline with its optional stages: detect -> landmarks -> align -> classify, each stage also
 * usable on its own. A real FER-2013 face turned 25 degrees; the landmark stage runs through a backend that
 * answers the face's true points (the template placed by the known transform), so alignment really happens.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FaceAligner } from '../src/align/aligner.js';
import { applySimilarity, similarityToAffine, type Similarity } from '../src/align/similarity.js';
import type { Box } from '../src/core/image.js';
import type { InferenceBackend } from '../src/emotion/backend.js';
import { cropFace } from '../src/emotion/preprocess.js';
import { invertAffine, warpAffineGray } from '../src/image/warp.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { loadAlignmentTemplate } from '../src/io/node/landmark-model.js';
import { landmarkCropSquare } from '../src/landmarks/crop.js';
import { LandmarkDetector } from '../src/landmarks/detector.js';
import { EmotionPipeline } from '../src/pipeline/pipeline.js';
import { FER2013_CACHE, listFerFaces, readGrayFile } from './support/fer-scenes.js';
import { REPO_ROOT } from './support/opencv.js';

const TINY_EMOTION = join(REPO_ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
const METADATA = {
  'moodlens.task': 'landmarks',
  'moodlens.points': '68',
  'moodlens.input_size': '64',
  'moodlens.crop_margin': '0.25',
  'moodlens.crop_shift': '0.15',
};

/** A landmark "model" that answers given crop units for the first face of a batch, a collapsed shape after. */
class KnownPointsBackend implements InferenceBackend {
  calls = 0;
  constructor(private readonly units: Float32Array) {}
  run(input: Float32Array, batch: number): Promise<Float32Array> {
    this.calls++;
    assert.equal(input.length, batch * 64 * 64);
    const out = new Float32Array(batch * 136);
    out.set(this.units);
    out.fill(0.5, 136);
    return Promise.resolve(out);
  }
  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

void test('EmotionPipeline with landmark and alignment stages, and each stage on its own', async () => {
  const template = await loadAlignmentTemplate();
  const files = await listFerFaces();
  const face = await readGrayFile(join(FER2013_CACHE, files[1500]));
  // The face 3x larger, turned 25 degrees counter-clockwise on screen, in the middle of 300x300.
  const rad = (-25 * Math.PI) / 180;
  const s0 = { a: 3 * Math.cos(rad), b: 3 * Math.sin(rad), tx: 0, ty: 0 };
  const toImage: Similarity = {
    ...s0,
    tx: 150 - (s0.a * 23.5 - s0.b * 23.5),
    ty: 150 - (s0.b * 23.5 + s0.a * 23.5),
  };
  const image = warpAffineGray(face, invertAffine(similarityToAffine(toImage)), 300, 300);
  const box: Box = { x: 78, y: 78, width: 144, height: 144 };
  const truth = template.points.map((p) => applySimilarity(toImage, p));
  const square = landmarkCropSquare(box, { inputSize: 64, cropMargin: 0.25, cropShift: 0.15 });
  const units = Float32Array.from(
    truth.flatMap(([x, y]) => [(x + 0.5 - square.x) / square.width, (y + 0.5 - square.y) / square.height]),
  );
  const backend = new KnownPointsBackend(units);
  // flipTta off and one scale: the fake model knows only the model's own crop (the averaging has its own test).
  const landmarks = await LandmarkDetector.create({
    backend,
    metadata: METADATA,
    source: 'known points',
    flipTta: false,
    scales: [1],
  });
  const classifier = await loadEmotionClassifier(TINY_EMOTION);
  const aligner = new FaceAligner(template);
  const detector = { detect: (): Box[] => [box, { x: 10, y: 200, width: 60, height: 60 }] };
  try {
    // The false-face check off: this fake model answers the same points for every crop, mirrored ones
    // too (test/pipeline-face-check.test.ts checks the check with the real model).
    const pipeline = new EmotionPipeline(detector, classifier, { landmarks, aligner, faceCheck: 'off' });
    const [first, second] = await pipeline.analyze(image);
    assert.equal(backend.calls, 1, 'one inference for all faces of the image');
    // The face: its true points back (float32 crop units), aligned by its roll, classified aligned.
    assert.equal(first.landmarks?.points.length, 68);
    first.landmarks?.points.forEach(([x, y], i) => {
      assert.ok(Math.abs(x - truth[i][0]) < 1e-3 && Math.abs(y - truth[i][1]) < 1e-3);
    });
    assert.equal(first.alignment?.method, 'rotation');
    assert.ok(first.alignment?.method === 'rotation' && Math.abs(first.alignment.angle - 25) < 1e-3);
    const alignedFace = aligner.align(image, box, first.landmarks).face;
    const [expected] = await classifier.classify([alignedFace]);
    assert.deepEqual(first.emotion, expected);
    // The second face's points collapse to one spot: flagged, classified from its box crop.
    assert.equal(second.alignment?.method, 'box');
    assert.equal(second.landmarks?.reliability.reliable, false);
    const [boxed] = await classifier.classify([cropFace(image, second.box)]);
    assert.deepEqual(second.emotion, boxed);

    // Landmarks without alignment: points reported, the box crop classified.
    const noAlign = new EmotionPipeline(detector, classifier, { landmarks });
    const [plain] = await noAlign.classifyFaces(image, [{ box, trackId: 7 }]);
    assert.equal(plain.trackId, 7, 'fields the caller gave are kept');
    assert.equal(plain.alignment, undefined);
    assert.equal(plain.landmarks?.points.length, 68);
    const [fromBox] = await classifier.classify([cropFace(image, box)]);
    assert.deepEqual(plain.emotion, fromBox);
    assert.notDeepEqual(plain.emotion, first.emotion, 'alignment changed what the classifier saw');

    // An aligner whose faces the classifier cannot take is refused up front.
    assert.throws(
      () => new EmotionPipeline(detector, classifier, { aligner: new FaceAligner(template, { size: 64 }) }),
      /makes 64x64 faces but the classifier takes 48x48/,
    );
  } finally {
    await classifier.dispose();
    await landmarks.dispose();
  }
});
