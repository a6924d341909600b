/**
 * The false-face check (src/pipeline/face-check.ts) on real images with the shipped landmark model, in the
 * library (EmotionPipeline), in `moodlens analyze` and in the HTTP service: the astronaut keeps her face;
 * a 40 px window inside her face and a spacesuit "face" the cascade finds on a frame of the example clip
 * are dropped, listed under "rejected" with why; `--keep-all-faces` (`keepAllFaces=true`) keeps them
 * with their verdict. The labelled copy numbers the faces as the listing does. The false face is the Haar
 * cascade's: the commands and the service run `--detector haar` (`detector: 'haar'`) whatever the default.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Box } from '../src/core/image.js';
import { APP_DETECT_OPTIONS } from '../src/detect/options.js';
import { EMOTION_COLORS } from '../src/draw/annotate.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { loadLandmarkDetector } from '../src/io/node/landmark-model.js';
import { readImage } from '../src/io/node/read-image.js';
import { landmarkAgreement } from '../src/pipeline/face-check.js';
import { toGray } from '../src/image/gray.js';
import { EmotionPipeline } from '../src/pipeline/pipeline.js';
import { buildServer, type MoodLensServer } from '../src/server/app.js';
import { runCaptured } from './support/cli.js';
import { PAN_FRAME_FACE, PAN_FRAME_FALSE_FACE, writePanFrame } from './support/false-face.js';
import { REPO_ROOT } from './support/opencv.js';

const ASTRONAUT = join(REPO_ROOT, 'examples', 'astronaut.png');
const ASTRONAUT_BOX = { x: 177, y: 66, width: 95, height: 95 };
const TINY_EMOTION = join(REPO_ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');

interface Verdict {
  passed: boolean;
  problems: string[];
}
interface Entry {
  faces: { box: Box; emotion: { label: keyof typeof EMOTION_COLORS }; faceCheck?: Verdict }[];
  rejected?: { box: Box; problems: string[] }[];
  output?: string;
}

let dir: string;
let frame: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moodlens-face-check-'));
  frame = join(dir, 'pan141.png');
  await writePanFrame(frame);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

void test('EmotionPipeline: a 40 px window inside the face is dropped, the face kept; mark and off modes', async () => {
  const image = await readImage(ASTRONAUT);
  const inner: Box = { x: 205, y: 90, width: 40, height: 40 };
  const detector = { detect: (): Box[] => [ASTRONAUT_BOX, inner] };
  const landmarks = await loadLandmarkDetector();
  const classifier = await loadEmotionClassifier(TINY_EMOTION);
  try {
    const drop = new EmotionPipeline(detector, classifier, { landmarks });
    assert.equal(drop.faceCheckMode, 'drop');
    const { faces, rejected, checked } = await drop.analyzeImage(image);
    assert.ok(checked);
    assert.deepEqual(
      faces.map((f) => [f.box, f.faceCheck?.passed]),
      [[ASTRONAUT_BOX, true]],
    );
    assert.deepEqual(
      rejected.map((r) => r.box),
      [inner],
    );
    assert.ok(rejected[0].faceCheck.problems.length > 0);

    // The landmark model agrees with itself on the face (spread well under 0.04 eye distances).
    const [spread] = await landmarkAgreement(landmarks, toGray(image), [ASTRONAUT_BOX]);
    assert.ok(spread.spread < 0.03, `spread ${spread.spread}`);

    const mark = await new EmotionPipeline(detector, classifier, {
      landmarks,
      faceCheck: 'mark',
    }).analyzeImage(image);
    assert.deepEqual(
      mark.faces.map((f) => f.faceCheck?.passed),
      [true, false],
    );
    assert.deepEqual(mark.rejected, []);
    const off = await new EmotionPipeline(detector, classifier, { landmarks, faceCheck: 'off' }).analyzeImage(
      image,
    );
    assert.equal(off.checked, false);
    assert.deepEqual(
      off.faces.map((f) => f.faceCheck),
      [undefined, undefined],
    );
    assert.throws(
      () => new EmotionPipeline(detector, classifier, { faceCheck: 'maybe' as 'off' }),
      /one of drop, mark, off for faceCheck/,
    );
  } finally {
    await landmarks.dispose();
    await classifier.dispose();
  }
});

void test('the clip frame: the cascade (4 neighbours) finds the face and a spacesuit "face"', async () => {
  const detector = await loadFaceDetector();
  const boxes = detector.detect(await readImage(frame), APP_DETECT_OPTIONS);
  assert.deepEqual(
    [...boxes].sort((a, b) => a.x - b.x),
    [PAN_FRAME_FACE, PAN_FRAME_FALSE_FACE],
  );
});

void test('moodlens analyze drops the false face (listed under "rejected"), keeps real ones, numbers them', async () => {
  const out = join(dir, 'labelled');
  const result = await runCaptured([
    'analyze',
    '--detector',
    'haar',
    ASTRONAUT,
    frame,
    '--json',
    '--model',
    TINY_EMOTION,
    '--out',
    out,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const [astronaut, pan] = JSON.parse(result.stdout) as Entry[];
  assert.deepEqual(
    astronaut.faces.map((f) => [f.box, f.faceCheck]),
    [[ASTRONAUT_BOX, { passed: true, problems: [] }]],
  );
  assert.deepEqual(astronaut.rejected, []);
  assert.deepEqual(
    pan.faces.map((f) => f.box),
    [PAN_FRAME_FACE],
  );
  assert.deepEqual(
    pan.rejected?.map((r) => r.box),
    [PAN_FRAME_FALSE_FACE],
  );
  assert.match(pan.rejected?.[0].problems.join('; ') ?? '', /landmark answers disagree/);

  // The tag "#1 <label> NN%" sits above the box in the label's colour (the tag's left end, under the text).
  const labelled = await readImage(pan.output as string);
  const colour = EMOTION_COLORS[pan.faces[0].emotion.label];
  const { x, y } = PAN_FRAME_FACE;
  const at = (px: number, py: number): number[] =>
    Array.from(labelled.data.subarray((py * labelled.width + px) * 3, (py * labelled.width + px) * 3 + 3));
  assert.deepEqual(at(x + 1, y - 2), [...colour]);

  // The text listing says which box was no face and why.
  const text = await runCaptured([
    'analyze',
    '--detector',
    'haar',
    frame,
    '--no-images',
    '--model',
    TINY_EMOTION,
  ]);
  assert.match(text.stdout, /face 1: .* at x=257 y=56 140x140/);
  assert.match(text.stdout, /not a face: x=416 y=145 185x185 \(/);

  // --keep-all-faces: both, each with its verdict.
  const kept = await runCaptured([
    'analyze',
    '--detector',
    'haar',
    frame,
    '--json',
    '--no-images',
    '--model',
    TINY_EMOTION,
    '--keep-all-faces',
  ]);
  const [keptEntry] = JSON.parse(kept.stdout) as Entry[];
  assert.equal(keptEntry.rejected, undefined);
  const verdicts = new Map(keptEntry.faces.map((f) => [f.box.x, f.faceCheck?.passed]));
  assert.equal(verdicts.get(PAN_FRAME_FACE.x), true);
  assert.equal(verdicts.get(PAN_FRAME_FALSE_FACE.x), false);
});

void test('POST /v1/analyze drops the false face as analyze does; keepAllFaces=true keeps it', async () => {
  let app: MoodLensServer | undefined;
  try {
    app = await buildServer({ workers: 1, modelPath: TINY_EMOTION, detector: 'haar' });
    const body = await readFile(frame);
    const post = async (query: string): Promise<Entry> => {
      const response = await app!.inject({
        method: 'POST',
        url: `/v1/analyze${query}`,
        headers: { 'content-type': 'image/png' },
        payload: body,
      });
      assert.equal(response.statusCode, 200, response.body);
      return response.json<Entry>();
    };
    const dropped = await post('');
    assert.deepEqual(
      dropped.faces.map((f) => [f.box, f.faceCheck?.passed]),
      [[PAN_FRAME_FACE, true]],
    );
    assert.deepEqual(
      dropped.rejected?.map((r) => r.box),
      [PAN_FRAME_FALSE_FACE],
    );
    const all = await post('?keepAllFaces=true');
    assert.equal(all.faces.length, 2);
    assert.equal(all.rejected, undefined);
    // OpenCV's 3 neighbours on request, still checked.
    const three = await post('?minNeighbors=3');
    assert.deepEqual(
      three.faces.map((f) => f.box),
      [PAN_FRAME_FACE],
    );
  } finally {
    await app?.close();
  }
});
