/**
 * The enhance stage inside the pipeline and the frame analyzer, on a real small face (the astronaut photo
 * scaled so her face is 26 px): which faces are restored, what the classifier then sees (the restored
 * crop, turned upright by the landmarks found on the image), and the `enhanced` field of results and
 * JSON records.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { composeSimilarity } from '../src/align/similarity.js';
import type { GrayImage } from '../src/core/image.js';
import type { EmotionClassifier } from '../src/emotion/classifier.js';
import { equalizeHist } from '../src/emotion/preprocess.js';
import { bicubicResizeGray } from '../src/enhance/bicubic.js';
import { DEFAULT_ENHANCE_BELOW } from '../src/enhance/policy.js';
import { enhancedClassifierInput, nativeFaceCrop, restoredToImage } from '../src/enhance/enhanced-face.js';
import type { FaceEnhancer } from '../src/enhance/face-enhancer.js';
import { toGray } from '../src/image/gray.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { hasDefaultEnhanceModel, loadFaceEnhancer } from '../src/io/node/enhance-model.js';
import {
  hasDefaultLandmarkModel,
  loadFaceAligner,
  loadLandmarkDetector,
} from '../src/io/node/landmark-model.js';
import { readImage } from '../src/io/node/read-image.js';
import type { LandmarkDetector } from '../src/landmarks/detector.js';
import { EmotionPipeline } from '../src/pipeline/pipeline.js';
import { formatFramesCsv, FRAME_CSV_HEADER, parseFramesJson } from '../src/report/records.js';
import { FrameAnalyzer } from '../src/video/frame-analyzer.js';
import { SMALL_ASTRONAUT_BOX, writeSmallAstronaut } from './support/small-astronaut.js';

const ready = hasDefaultEnhanceModel();
const skip = ready ? false : 'needs the super-resolution model at models/enhance/fsrnet.onnx';

let dir = '';
let gray: GrayImage;
let classifier: EmotionClassifier;
let enhancer: FaceEnhancer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moodlens-pipeline-enhance-'));
  gray = toGray(await readImage(await writeSmallAstronaut(dir)));
  classifier = await loadEmotionClassifier();
  if (ready) enhancer = await loadFaceEnhancer();
});

after(async () => {
  await classifier.dispose();
  if (ready) await enhancer.dispose();
  await rm(dir, { recursive: true, force: true });
});

void test('the restored crop maps onto the image: pixel centres, and an upright plan is the identity', async () => {
  // A 24 px square at (10, 20) restored to 48 px: restored pixel 0 covers image [10, 10.5).
  const box = { x: 10, y: 20, width: 24, height: 24 };
  const map = restoredToImage(box, 0, 48);
  assert.deepEqual(map, { a: 0.5, b: 0, tx: 9.75, ty: 19.75 });
  // The rotation-mode plan of a face with no roll maps the box square onto the 48 px frame: composed with
  // the restored face's map it leaves the restored face as it is.
  const aligner = await loadFaceAligner();
  const upright = aligner.rotationAboutBox({ a: 1, b: 0, tx: 0, ty: 0 }, box);
  const composed = composeSimilarity(upright, map);
  for (const [key, expected] of Object.entries({ a: 1, b: 0, tx: 0, ty: 0 })) {
    assert.ok(
      Math.abs(composed[key as keyof typeof composed] - expected) < 1e-12,
      `${key}: ${composed[key as keyof typeof composed]}`,
    );
  }
});

void test(
  'pipeline: faces below enhanceBelow are restored and classified from the restored crop',
  { skip },
  async () => {
    const detector = await loadFaceDetector();
    const plain = new EmotionPipeline(detector, classifier);
    const enhanced = new EmotionPipeline(detector, classifier, { enhancer, enhanceBelow: 32 });
    const [face] = await enhanced.analyze(gray);
    assert.deepEqual(face.box, SMALL_ASTRONAUT_BOX);
    assert.equal(face.enhanced, true);
    const crop = nativeFaceCrop(gray, face.box);
    assert.equal(crop.width, 26);
    const [restored] = await enhancer.enhance([crop]);
    const [expected] = await classifier.classify([equalizeHist(restored)]);
    assert.deepEqual(face.emotion, expected);

    // At or above the threshold nothing changes but the field.
    const [notSmall] = await new EmotionPipeline(detector, classifier, {
      enhancer,
      enhanceBelow: 26,
    }).analyze(gray);
    const [reference] = await plain.analyze(gray);
    assert.deepEqual(plain.restorationThresholds, { enhanceBelow: DEFAULT_ENHANCE_BELOW, upscaleBelow: 0 });
    assert.deepEqual(enhanced.restorationThresholds, { enhanceBelow: 32, upscaleBelow: 0 });
    assert.equal(notSmall.enhanced, false);
    assert.deepEqual(notSmall.emotion, reference.emotion);
    assert.equal(reference.enhanced, undefined);
    // Infinity restores every face.
    const [always] = await new EmotionPipeline(detector, classifier, {
      enhancer,
      enhanceBelow: Infinity,
    }).analyze(gray);
    assert.equal(always.enhanced, true);
    assert.throws(
      () => new EmotionPipeline(detector, classifier, { enhancer, enhanceBelow: -1 }),
      RangeError,
    );
  },
);

void test(
  'pipeline: faces FSRNet leaves below upscaleBelow are enlarged bicubically from the same crop',
  { skip },
  async () => {
    const detector = await loadFaceDetector();
    // FSRNet for faces under 20 px (none here: the face is 26 px), bicubic under 32.
    const options = { enhancer, enhanceBelow: 20, upscaleBelow: 32 };
    const [face] = await new EmotionPipeline(detector, classifier, options).analyze(gray);
    assert.deepEqual(face.box, SMALL_ASTRONAUT_BOX);
    assert.equal(face.restoration, 'bicubic');
    assert.equal(face.enhanced, false);
    const large = bicubicResizeGray(nativeFaceCrop(gray, face.box), 48, 48);
    const [expected] = await classifier.classify([equalizeHist(large)]);
    assert.deepEqual(face.emotion, expected);
    const [plain] = await new EmotionPipeline(detector, classifier).analyze(gray);
    assert.notDeepEqual(face.emotion.scores, plain.emotion.scores);
    assert.equal(plain.restoration, undefined);

    // Without an enhancer the bicubic path still runs; FSRNet wins below its own threshold.
    const [noModel] = await new EmotionPipeline(detector, classifier, { upscaleBelow: 32 }).analyze(gray);
    assert.equal(noModel.restoration, 'bicubic');
    assert.equal(noModel.enhanced, undefined);
    const [fsrnet] = await new EmotionPipeline(detector, classifier, {
      enhancer,
      enhanceBelow: 32,
      upscaleBelow: 48,
    }).analyze(gray);
    assert.equal(fsrnet.restoration, 'fsrnet');
    // At or above upscaleBelow, or when the crop is as large as the input, the plain path.
    const [atThreshold] = await new EmotionPipeline(detector, classifier, { upscaleBelow: 26 }).analyze(gray);
    assert.equal(atThreshold.restoration, 'none');
    assert.deepEqual(atThreshold.emotion, plain.emotion);
    const [wide] = await new EmotionPipeline(detector, classifier, {
      upscaleBelow: 48,
      crop: { margin: 0.5 },
    }).analyze(gray);
    assert.equal(wide.restoration, 'none');
    assert.throws(() => new EmotionPipeline(detector, classifier, { upscaleBelow: -1 }), RangeError);
  },
);

void test(
  'pipeline with landmarks and alignment: the plan made on the image is applied to the restored crop',
  { skip },
  async (t) => {
    if (!hasDefaultLandmarkModel()) {
      t.skip('needs the landmark model');
      return;
    }
    const landmarks: LandmarkDetector = await loadLandmarkDetector();
    try {
      const aligner = await loadFaceAligner();
      const pipeline = new EmotionPipeline(await loadFaceDetector(), classifier, {
        landmarks,
        aligner,
        enhancer,
        enhanceBelow: 32,
      });
      const [face] = await pipeline.analyze(gray);
      assert.equal(face.enhanced, true);
      assert.ok(face.landmarks !== undefined && face.alignment !== undefined);
      // The points stay in image pixels, around the 26 px box.
      const xs = face.landmarks.points.map((p) => p[0]);
      assert.ok(Math.min(...xs) > face.box.x - 10 && Math.max(...xs) < face.box.x + face.box.width + 10);
      const [restored] = await enhancer.enhance([nativeFaceCrop(gray, face.box)]);
      const input = enhancedClassifierInput(restored, face.box, face.landmarks, aligner);
      assert.deepEqual(input.alignment, face.alignment);
      const [expected] = await classifier.classify([input.face]);
      assert.deepEqual(face.emotion, expected);
      if (face.alignment.method !== 'box') {
        // A real roll turns the restored face: its input differs from the restored face merely equalized.
        assert.notDeepEqual(input.face.data, equalizeHist(restored).data);
      }
    } finally {
      await landmarks.dispose();
    }
  },
);

void test(
  'frame analyzer: JSON records say enhanced and restoration; frames.csv keeps its columns; JSON reads back',
  { skip },
  async () => {
    const pipeline = new EmotionPipeline(await loadFaceDetector(), classifier, {
      enhancer,
      enhanceBelow: 32,
      upscaleBelow: 48,
    });
    const analyzer = new FrameAnalyzer(pipeline);
    let last;
    for (let frame = 0; frame < 3; frame++) last = await analyzer.analyzeFrame(gray, frame, frame / 10);
    assert.ok(last !== undefined);
    const [record] = last.records;
    assert.equal(last.faces[0].enhanced, true);
    assert.equal(record.enhanced, true);
    assert.equal(record.restoration, 'fsrnet');
    const csv = formatFramesCsv(last.records);
    assert.equal(csv.split('\n')[0], FRAME_CSV_HEADER);
    assert.ok(!csv.includes('true') && !csv.includes('fsrnet'));
    const [back] = parseFramesJson(JSON.stringify(last.records));
    assert.equal(back.enhanced, true);
    assert.equal(back.restoration, 'fsrnet');
    // Records written before the stage existed have no field; a wrong value is a coded error.
    const older = { ...record };
    delete older.enhanced;
    assert.equal(parseFramesJson(JSON.stringify([older]))[0].enhanced, undefined);
    assert.throws(() => parseFramesJson(JSON.stringify([{ ...record, enhanced: 'yes' }])), {
      code: 'MOODLENS_ERR_INVALID_FRAMES',
      message: /record 0: expected true or false for enhanced but received 'yes'/,
    });
    assert.throws(
      () => parseFramesJson(JSON.stringify([{ frame: 0, time: 0, enhanced: false }])),
      /enhanced is set but track is empty/,
    );
    assert.throws(() => parseFramesJson(JSON.stringify([{ ...record, restoration: 'magic' }])), {
      code: 'MOODLENS_ERR_INVALID_FRAMES',
      message: /record 0: expected one of none, bicubic, fsrnet for restoration but received 'magic'/,
    });
    assert.throws(
      () => parseFramesJson(JSON.stringify([{ frame: 0, time: 0, restoration: 'none' }])),
      /restoration is set but track is empty/,
    );
  },
);
