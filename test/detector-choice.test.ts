/**
 * `--detector cnn|haar` through every surface (issue 21): the commands (detect, analyze, landmarks, enhance,
 * video, serve, worker), the HTTP service, the queue's job processor and the video frame records. The
 * learned detector (the shipped models/detector/face-detector.onnx) finds the astronaut's face where Haar
 * does and gives it a score; Haar output has no score; each misuse of the flags is a usage error naming
 * the flag; a file that is no detector gives the coded model-load error.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServeArgs } from '../src/cli/serve-command.js';
import { parseWorkerArgs } from '../src/cli/worker-command.js';
import type { Box } from '../src/core/image.js';
import { CnnBoxDetector } from '../src/detect/cnn/box-detector.js';
import { DEFAULT_DETECTOR } from '../src/detect/detector-kind.js';
import { DEFAULT_CNN_DETECTOR_PATH, loadCnnFaceDetector } from '../src/io/node/cnn-detector-model.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { readImage } from '../src/io/node/read-image.js';
import { EmotionPipeline } from '../src/pipeline/pipeline.js';
import { JOB_FORMAT } from '../src/queue/jobs.js';
import { sha256File } from '../src/queue/inputs.js';
import { JobProcessor, type PhotoResult } from '../src/queue/processor.js';
import { buildServer } from '../src/server/app.js';
import { FrameAnalyzer } from '../src/video/frame-analyzer.js';
import { runCaptured as run } from './support/cli.js';
import { REPO_ROOT } from './support/opencv.js';

const ASTRONAUT = join(REPO_ROOT, 'examples', 'astronaut.png');
/** The small emotion model of the tests (fast to load; the emotion itself is not what is tested here). */
const TINY_EMOTION = join(REPO_ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
const NOT_A_DETECTOR = join(REPO_ROOT, 'models', 'emotion', 'emotion.onnx');

interface JsonFace {
  box: Box;
  score?: number;
  emotion?: { label: string };
  landmarks?: unknown[];
}
interface JsonEntry {
  file: string;
  faces: JsonFace[];
}

function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.width * a.height + b.width * b.height - w * h);
}

function assertScore(face: JsonFace, what: string): void {
  assert.equal(typeof face.score, 'number', `${what}: score`);
  assert.ok((face.score as number) > 0 && (face.score as number) <= 1, `${what}: score ${face.score}`);
  assert.deepEqual(Object.keys(face.box), ['x', 'y', 'width', 'height'], `${what}: a plain box`);
}

async function jsonRun(argv: string[]): Promise<JsonEntry[]> {
  const { code, stdout, stderr } = await run(argv);
  assert.equal(code, 0, `${argv.join(' ')}: ${stderr}`);
  return JSON.parse(stdout) as JsonEntry[];
}

void test('detect, analyze and landmarks: cnn finds the astronaut where Haar does, with a score; Haar has none', async () => {
  const [haar] = await jsonRun(['detect', '--detector', 'haar', '--json', ASTRONAUT]);
  assert.equal(haar.faces.length, 1);
  assert.ok(!('score' in haar.faces[0]), 'Haar boxes have no score');
  const [cnn] = await jsonRun(['detect', '--detector', 'cnn', '--json', ASTRONAUT]);
  assert.equal(cnn.faces.length, 1, JSON.stringify(cnn.faces));
  assertScore(cnn.faces[0], 'detect');
  const overlap = iou(cnn.faces[0].box, haar.faces[0].box);
  assert.ok(overlap > 0.5, `IoU with the Haar box ${overlap.toFixed(3)}`);
  // the second pass's size (crowds: more small faces) or none: the astronaut's large face is found either way
  for (const side of ['1024', '0']) {
    const [fine] = await jsonRun(['detect', '--fine-long-side', side, '--json', ASTRONAUT]);
    assert.deepEqual(fine.faces, cnn.faces, `--fine-long-side ${side}`);
  }
  // the mirror view (the shipped model records its threshold): the same one face, near the same box
  const [mirrored] = await jsonRun(['detect', '--mirror', '--json', ASTRONAUT]);
  assert.equal(mirrored.faces.length, 1, JSON.stringify(mirrored.faces));
  assertScore(mirrored.faces[0], 'detect --mirror');
  assert.ok(iou(mirrored.faces[0].box, cnn.faces[0].box) > 0.8);
  // The default is the default detector's output, byte for byte (Haar's until the default switches).
  const plain = await run(['detect', '--json', ASTRONAUT]);
  const explicit = await run(['detect', '--detector', DEFAULT_DETECTOR, '--json', ASTRONAUT]);
  assert.equal(plain.stdout, explicit.stdout);

  const analyzeArgs = ['analyze', '--json', '--no-images', '--model', TINY_EMOTION, ASTRONAUT];
  const [analyzed] = await jsonRun([...analyzeArgs, '--detector', 'cnn']);
  assert.equal(analyzed.faces.length, 1);
  assertScore(analyzed.faces[0], 'analyze');
  assert.equal(typeof analyzed.faces[0].emotion?.label, 'string');
  assert.ok(iou(analyzed.faces[0].box, haar.faces[0].box) > 0.5);
  // Through the rotated search too: the upright hit keeps its score.
  const [rotated] = await jsonRun([...analyzeArgs, '--detector', 'cnn', '--rotated-search']);
  assert.equal(rotated.faces.length, 1);
  assertScore(rotated.faces[0], 'analyze --rotated-search');
  const [analyzedHaar] = await jsonRun([...analyzeArgs, '--detector', 'haar']);
  assert.equal(analyzedHaar.faces.length, 1);
  assert.ok(!('score' in analyzedHaar.faces[0]));

  const [marks] = await jsonRun(['landmarks', '--detector', 'cnn', '--json', ASTRONAUT]);
  assert.equal(marks.faces.length, 1);
  assertScore(marks.faces[0], 'landmarks');
  assert.equal(marks.faces[0].landmarks?.length, 68);
});

void test('enhance --detector cnn writes the face with its score', async () => {
  const out = await mkdtemp(join(tmpdir(), 'moodlens-detector-choice-'));
  try {
    const [entry] = await jsonRun(['enhance', '--detector', 'cnn', '--json', '--out', out, ASTRONAUT]);
    assert.equal(entry.faces.length, 1);
    assertScore(entry.faces[0], 'enhance');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

void test('flag misuse is a usage error (exit 2) naming the flag, in every command', async () => {
  const cases: Array<[string[], string]> = [
    [['--detector', 'yolo'], '--detector'],
    [['--detector', 'cnn', '--min-score', '1.5'], '--min-score'],
    [['--detector', 'cnn', '--min-score', '-0.1'], '--min-score'],
    [['--detector', 'cnn', '--min-score', 'high'], '--min-score'],
    [['--detector', 'cnn', '--scale-factor', '1.2'], '--scale-factor'],
    [['--detector', 'cnn', '--min-neighbors', '5'], '--min-neighbors'],
    [['--detector', 'cnn', '--cascade', 'faces.xml'], '--cascade'],
    [['--detector', 'haar', '--detector-model', 'd.onnx'], '--detector-model'],
    [['--detector', 'haar', '--min-score', '0.5'], '--min-score'],
    [['--detector', 'haar', '--fine-long-side', '1024'], '--fine-long-side'],
    [['--fine-long-side', '-5'], '--fine-long-side'],
    [['--fine-long-side', 'big'], '--fine-long-side'],
    [['--detector', 'haar', '--mirror'], '--mirror'],
  ];
  for (const command of ['detect', 'analyze', 'landmarks', 'enhance', 'video']) {
    for (const [args, flag] of cases) {
      const { code, stderr } = await run([command, ASTRONAUT, ...args]);
      assert.equal(code, 2, `${command} ${args.join(' ')}: ${stderr}`);
      assert.ok(stderr.includes(flag), `${command} ${args.join(' ')}: ${stderr}`);
    }
  }
  // In the CLI's range but not above the model's first pass (416): the core's check, reported under the flag.
  for (const command of ['detect', 'analyze', 'landmarks', 'enhance', 'video']) {
    const input = command === 'video' ? join(REPO_ROOT, 'examples', 'astronaut-pan.mp4') : ASTRONAUT;
    const { code, stderr } = await run([command, input, '--fine-long-side', '300']);
    assert.equal(code, 2, `${command}: ${stderr}`);
    assert.match(
      stderr,
      /above the first pass's long side 416 for --fine-long-side but received 300/,
      command,
    );
  }
  for (const command of ['serve', 'worker']) {
    for (const [args, flag] of cases.filter(
      ([, f]) =>
        !['--scale-factor', '--min-neighbors', '--cascade', '--fine-long-side', '--mirror'].includes(f),
    )) {
      const { code, stderr } = await run([command, ...args]);
      assert.equal(code, 2, `${command} ${args.join(' ')}: ${stderr}`);
      assert.ok(stderr.includes(flag), `${command} ${args.join(' ')}: ${stderr}`);
    }
  }
  assert.deepEqual(
    {
      detector: parseServeArgs(['--detector', 'cnn', '--min-score', '0.4']).detector,
      minScore: parseServeArgs(['--detector', 'cnn', '--min-score', '0.4']).minScore,
    },
    { detector: 'cnn', minScore: 0.4 },
  );
  // A flag of the other detector: the message names the default when --detector was left out.
  const explicitCnn = await run(['detect', ASTRONAUT, '--detector', 'cnn', '--min-neighbors', '5']);
  assert.doesNotMatch(explicitCnn.stderr, /the default detector is/);
  const other = DEFAULT_DETECTOR === 'cnn' ? ['--min-neighbors', '5'] : ['--min-score', '0.5'];
  const implicit = await run(['detect', ASTRONAUT, ...other]);
  assert.equal(implicit.code, 2, implicit.stderr);
  assert.ok(implicit.stderr.includes(`the default detector is ${DEFAULT_DETECTOR}`), implicit.stderr);
  const worker = parseWorkerArgs(['--redis', 'redis://127.0.0.1:6379', '--detector', 'cnn']);
  assert.equal(worker.detector, 'cnn');
  for (const command of ['detect', 'analyze', 'landmarks', 'enhance', 'video', 'serve', 'worker']) {
    const help = (await run([command, '--help'])).stdout;
    for (const flag of ['--detector NAME', '--detector-model FILE', '--min-score S']) {
      assert.ok(help.includes(flag), `${command} --help: ${flag}`);
    }
    assert.ok(help.includes(`(default ${DEFAULT_DETECTOR}`), `${command} --help names the default`);
  }
});

void test('a file that is no face detector gives the coded model-load error, exit 1, no stack trace', async () => {
  for (const argv of [
    ['detect', ASTRONAUT],
    ['analyze', '--no-images', '--model', TINY_EMOTION, ASTRONAUT],
    ['landmarks', ASTRONAUT],
    ['serve', '--port', '0', '--model', TINY_EMOTION, '--workers', '1'],
    ['worker', '--redis', 'redis://127.0.0.1:1'],
  ]) {
    const { code, stderr } = await run([...argv, '--detector', 'cnn', '--detector-model', NOT_A_DETECTOR]);
    assert.equal(code, 1, `${argv[0]}: ${stderr}`);
    assert.match(stderr, /MOODLENS_ERR_MODEL_LOAD/, argv[0]);
    assert.match(stderr, /not a MoodLens face detector/, argv[0]);
    assert.doesNotMatch(stderr, /\n\s+at /, `${argv[0]}: no stack trace`);
  }
});

void test('the HTTP service with the cnn detector answers with a score per face and describes the model', async () => {
  const app = await buildServer({ modelPath: TINY_EMOTION, workers: 1, queue: 2, detector: 'cnn' });
  try {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/analyze',
      headers: { 'content-type': 'image/png' },
      payload: await readFile(ASTRONAUT),
    });
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json<JsonEntry>();
    assert.equal(body.faces.length, 1);
    assertScore(body.faces[0], 'server');
    const models = (await app.inject({ method: 'GET', url: '/v1/models' })).json<{
      models: { task: string; file: string }[];
    }>();
    const detector = models.models.find((m) => m.task === 'face-detection');
    assert.equal(detector?.file, 'face-detector.onnx');
    // Haar settings in the query are refused, not silently ignored; the others still apply.
    const haarQuery = await app.inject({
      method: 'POST',
      url: '/v1/analyze?minNeighbors=5&scaleFactor=1.2',
      headers: { 'content-type': 'image/png' },
      payload: await readFile(ASTRONAUT),
    });
    assert.equal(haarQuery.statusCode, 400, haarQuery.body);
    const error = haarQuery.json<{ error: { code: string; message: string } }>().error;
    assert.equal(error.code, 'MOODLENS_ERR_INVALID_ARGUMENT');
    assert.match(error.message, /scaleFactor and minNeighbors are Haar cascade settings/);
    const sized = await app.inject({
      method: 'POST',
      url: '/v1/analyze?minSize=200',
      headers: { 'content-type': 'image/png' },
      payload: await readFile(ASTRONAUT),
    });
    assert.equal(sized.statusCode, 200, sized.body);
    assert.equal(sized.json<JsonEntry>().faces.length, 0);
  } finally {
    await app.close();
  }
});

void test('the queue worker runs a photo job with the cnn detector: the face has its score', async () => {
  const io = { stdout: () => undefined, stderr: () => undefined, isTTY: false };
  const processor = new JobProcessor({ threads: 1, detector: 'cnn' }, io);
  try {
    const result = (await processor.run(
      {
        format: JOB_FORMAT,
        kind: 'photo',
        file: ASTRONAUT,
        sha256: await sha256File(ASTRONAUT),
        model: 'default',
      },
      () => undefined,
    )) as PhotoResult;
    assert.equal(result.entry.faces.length, 1);
    assertScore(result.entry.faces[0], 'worker');
  } finally {
    await processor.close();
  }
});

void test('video frame records carry the cnn score on detection frames only', async () => {
  const classifier = await loadEmotionClassifier(TINY_EMOTION);
  const detector = new CnnBoxDetector(await loadCnnFaceDetector(DEFAULT_CNN_DETECTOR_PATH));
  try {
    const analyzer = new FrameAnalyzer(new EmotionPipeline(detector, classifier), { detectEvery: 2 });
    const image = await readImage(ASTRONAUT);
    const first = await analyzer.analyzeFrame(image, 0, 0);
    const second = await analyzer.analyzeFrame(image, 1, 0.04);
    assert.equal(first.records.length, 1);
    const { score } = first.records[0];
    assert.ok(typeof score === 'number' && score > 0 && score <= 1, `score ${score}`);
    assert.equal(second.records[0].track, first.records[0].track);
    assert.equal(second.records[0].score, undefined, 'no score between detections');
  } finally {
    await detector.close();
    await classifier.dispose();
  }
});
