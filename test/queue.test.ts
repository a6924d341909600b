/**
 * The Redis job queue end to end: a real redis-server (with a password) on a loopback port, two
 * `moodlens worker` processes, 22 jobs (16 photos made from the astronaut photo, a corrupt image, an
 * empty video and a clip in 4 chunks), one worker killed with SIGKILL in the middle of a chunk. Every job
 * must finish exactly once, the results must equal `moodlens analyze` and `moodlens video` run directly,
 * bad inputs fail at once with their codes, adding again adds nothing, and the password is never printed.
 * Skipped only when /usr/bin/redis-server is not installed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { CnnBoxDetector } from '../src/detect/cnn/box-detector.js';
import { loadFaceDetector } from '../src/io/node/cascade-file.js';
import { DEFAULT_CNN_DETECTOR_PATH, loadCnnFaceDetector } from '../src/io/node/cnn-detector-model.js';
import { loadEmotionClassifier } from '../src/io/node/emotion-model.js';
import { VideoFrameReader } from '../src/io/node/ffmpeg/decode.js';
import { locateFfmpeg } from '../src/io/node/ffmpeg/locate.js';
import { probeVideo } from '../src/io/node/ffmpeg/probe.js';
import { EmotionPipeline, type FaceDetector } from '../src/pipeline/pipeline.js';
import { evictionWarning } from '../src/queue/connection.js';
import { JOB_FORMAT, jobId, planChunks, warmupFrames, type VideoJobData } from '../src/queue/jobs.js';
import { mergeChunks } from '../src/queue/merge.js';
import { parseRedisUrl, redact } from '../src/queue/redis-url.js';
import { chunkedVideoOutputs, type InputSummary } from '../src/queue/results.js';
import {
  analyzeChunk,
  encodeFloats,
  type ObservedFrame,
  type ThumbnailCandidate,
  type VideoChunkResult,
} from '../src/queue/video-chunk.js';
import type { AddedJob } from '../src/queue/enqueue.js';
import { buildServer } from '../src/server/app.js';
import { FrameAnalyzer } from '../src/video/frame-analyzer.js';
import { runCaptured, type Captured } from './support/cli.js';
import { REPO_ROOT } from './support/opencv.js';
import { redisServerProblem, startRedis, type RedisServer } from './support/redis-server.js';
import { ffmpegRun } from './support/videos.js';

const BIN = join(REPO_ROOT, 'bin', 'moodlens.js');
const PHOTOS = 16;
const PASSWORD = 'queue-SECRET-p@ss';
const skip = redisServerProblem();

/**
 * An entry with the decoder's own words about a damaged image left out: libvips words the same truncated
 * PNG differently from run to run ("libpng read error", or a warning failOn turned into an error), so two
 * processes agree on the code and on MoodLens's message, not always on that tail.
 */
function withoutDecoderDetail(entry: unknown): unknown {
  const { error } = entry as { error?: { code: string; message: string } };
  if (error === undefined) return entry;
  const message = error.message.replace(/ \(truncated or damaged\): .*$/s, ' (truncated or damaged)');
  return { ...(entry as object), error: { ...error, message } };
}

void describe('queue: pure parts', () => {
  void test('Redis URLs: TLS, database, and the password only ever shown as ***', () => {
    const target = parseRedisUrl(`rediss://worker:${encodeURIComponent(PASSWORD)}@queue.example:6380/2`);
    assert.equal(target.tls, true);
    assert.equal(target.db, 2);
    assert.equal(target.port, 6380);
    assert.equal(target.password, PASSWORD);
    assert.equal(target.display, 'rediss://worker:***@queue.example:6380/2');
    const message = `AUTH ${PASSWORD} and ${encodeURIComponent(PASSWORD)}`;
    assert.equal(redact(message, target.secrets), 'AUTH *** and ***');
    assert.throws(
      () => parseRedisUrl(`http://u:${PASSWORD}@h`),
      (error: Error) => !error.message.includes('SECRET'),
    );
    assert.throws(
      () => parseRedisUrl(`redis://u:${PASSWORD}@/x y`),
      (error: Error) => !error.message.includes('SECRET'),
    );
    assert.equal(parseRedisUrl('redis://localhost').port, 6379);
  });

  void test('chunks cover every frame once; warm-up starts on the detector schedule', () => {
    const warmup = warmupFrames(3, 15, 5);
    assert.equal(warmup, 31, 'a lost face forgotten (16 frames) and a track confirmed (5 detections)');
    const chunks = planChunks(240, 60, warmup, 3);
    assert.equal(chunks.length, 4);
    assert.deepEqual(
      chunks.map((c) => [c.start, c.end]),
      [
        [0, 60],
        [60, 120],
        [120, 180],
        [180, null],
      ],
    );
    for (const c of chunks) {
      assert.equal(c.warmStart % 3, 0);
      assert.ok(c.warmStart <= Math.floor(c.start / 3) * 3, 'the last detection before the chunk is tracked');
    }
    assert.deepEqual(planChunks(undefined, 60, warmup, 3), [
      { index: 0, count: 1, start: 0, end: null, warmStart: 0 },
    ]);
    const data = (index: number): VideoJobData => ({
      format: JOB_FORMAT,
      kind: 'video',
      file: '/a.mp4',
      sha256: 'x',
      model: 'default',
      group: 'g',
      chunk: chunks[index],
      detectEvery: 3,
      smoothingAlpha: 0.4,
    });
    assert.notEqual(jobId(data(0)), jobId(data(1)));
    assert.equal(jobId(data(0)), jobId({ ...data(0), file: '/elsewhere/a.mp4' }), 'the id ignores the path');
    assert.doesNotMatch(jobId(data(0)), /:/);
  });

  void test('merging refuses a missing chunk and a frame outside its chunk', () => {
    const chunk = (index: number, frames: number[]): VideoChunkResult => ({
      kind: 'video',
      file: '/a.mp4',
      video: { width: 8, height: 8, fps: 10, expectedFrames: 4 },
      chunk: { index, count: 2, start: index * 2, end: index === 0 ? 2 : null, warmStart: 0 },
      records: frames.map((frame) => ({ frame, time: frame / 10, scores: '' })),
      thumbnails: [],
      frames: frames.length,
      complete: true,
    });
    assert.equal(mergeChunks([chunk(1, [2, 3]), chunk(0, [0, 1])]).frames, 4);
    assert.throws(() => mergeChunks([chunk(1, [2, 3])]), /MOODLENS_ERR_INTERNAL|expected chunk 1 of 2/);
    assert.throws(() => mergeChunks([chunk(0, [0, 1, 2]), chunk(1, [2, 3])]), /outside chunk 1/);
    assert.throws(() => mergeChunks([chunk(0, [0]), chunk(1, [2, 3])]), /after an earlier chunk ended/);
    assert.throws(() => mergeChunks([chunk(0, [0, 1]), chunk(1, [3])]), /frame 3 follows frame 1/);
  });

  void test('results replay a chunked video: persons filled in from confirmation back, thumbnail crops', () => {
    // One face on frames 0-11, detected every 3rd frame, in 2 chunks; confirmed on its 3rd detection.
    const descriptor = encodeFloats(new Float32Array(144).fill(1 / 12));
    const scores = (happy: number): Float64Array => {
      const values = new Float64Array(7).fill((1 - happy) / 6);
      values[3] = happy;
      return values;
    };
    const observe = (frame: number): ObservedFrame =>
      frame % 3 === 0
        ? {
            frame,
            time: frame / 10,
            faces: [
              { box: [10, 10, 40, 40], scores: encodeFloats(scores(0.6)), descriptor, thumb: 20 + frame },
            ],
          }
        : { frame, time: frame / 10, scores: encodeFloats(scores(0.8)) };
    const chunk = (index: number, thumbnails: ThumbnailCandidate[]): VideoChunkResult => ({
      kind: 'video',
      file: '/a.mp4',
      video: { width: 64, height: 64, fps: 10, expectedFrames: 12 },
      chunk: { index, count: 2, start: index * 6, end: index === 0 ? 6 : null, warmStart: 0 },
      records: Array.from({ length: 6 }, (_, i) => observe(index * 6 + i)),
      thumbnails,
      frames: 6,
      complete: true,
    });
    const source = { file: '/a.mp4', detectEvery: 3, smoothingAlpha: 0.4, generator: 'g', generatedAt: 'd' };
    const best = { frame: 9, index: 0, url: 'data:image/png;base64,best' };
    const other = { frame: 6, index: 0, url: 'data:image/png;base64,other' };
    const exact = chunkedVideoOutputs([chunk(1, [other, best]), chunk(0, [])], source);
    const rows = exact.framesCsv.trim().split('\n').slice(1);
    assert.equal(rows.length, 12);
    assert.ok(
      rows.every((row) => row.endsWith(',1')),
      'person 1 on every row, before its confirmation too',
    );
    assert.equal(rows[1].split(',')[8], '0.6800', 'smoothed: 0.4 * 0.8 + 0.6 * 0.6');
    assert.deepEqual(exact.report.thumbnails, { '1': best.url });
    assert.equal(exact.approximateThumbnails, 0);
    const approximate = chunkedVideoOutputs([chunk(0, []), chunk(1, [other])], source);
    assert.deepEqual(approximate.report.thumbnails, { '1': other.url }, 'the best crop kept');
    assert.equal(approximate.approximateThumbnails, 1);
    assert.equal(approximate.framesCsv, exact.framesCsv);
  });

  void test("a chunk records the learned detector's score per face, as moodlens video does; the merge keeps it", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moodlens-chunk-score-'));
    const classifier = await loadEmotionClassifier(join(REPO_ROOT, 'test', 'fixtures', 'tiny-emotion.onnx'));
    const cnn = new CnnBoxDetector(await loadCnnFaceDetector(DEFAULT_CNN_DETECTOR_PATH));
    try {
      const ffmpeg = await locateFfmpeg();
      const clip = join(dir, 'four.mp4');
      const pan = join(REPO_ROOT, 'examples', 'astronaut-pan.mp4');
      await ffmpegRun(ffmpeg, ['-i', pan, '-frames:v', '4', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', clip]);
      const info = await probeVideo(ffmpeg, clip);
      const chunk = { index: 0, count: 1, start: 0, end: null, warmStart: 0 };
      const run = async (detector: FaceDetector): Promise<VideoChunkResult> =>
        analyzeChunk({
          ffmpeg,
          info,
          pipeline: new EmotionPipeline(detector, classifier),
          chunk,
          detectEvery: 2,
        });
      const result = await run(cnn);
      // What moodlens video records for the same frames: the score on detection frames, 4 decimals.
      const analyzer = new FrameAnalyzer(new EmotionPipeline(cnn, classifier), { detectEvery: 2 });
      const expected: (number | undefined)[][] = [];
      for await (const frame of VideoFrameReader.open(ffmpeg, info).frames()) {
        const { records } = await analyzer.analyzeFrame(frame.image, frame.index, frame.time);
        expected.push(records.filter((r) => r.track !== null).map((r) => r.score));
      }
      assert.equal(result.records.length, 4);
      for (const observation of result.records) {
        if (observation.frame % 2 === 0) {
          const scores = (observation.faces ?? []).map((face) => face.score);
          assert.ok(scores.length > 0, `frame ${observation.frame}: her face`);
          assert.ok(
            scores.every((s) => s !== undefined && s > 0 && s <= 1),
            `frame ${observation.frame}`,
          );
          assert.deepEqual(
            scores,
            expected[observation.frame],
            `frame ${observation.frame} as moodlens video`,
          );
        } else {
          assert.equal(observation.faces, undefined);
        }
      }
      assert.deepEqual(mergeChunks([result]).observations, result.records, 'the merge keeps every field');
      // Haar's boxes have no score: none recorded.
      const haar = await run(await loadFaceDetector());
      const haarFaces = haar.records.flatMap((observation) => observation.faces ?? []);
      assert.ok(haarFaces.length > 0);
      assert.ok(haarFaces.every((face) => !('score' in face)));
    } finally {
      await cnn.close();
      await classifier.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  void test('the eviction policy check warns unless noeviction', () => {
    assert.equal(evictionWarning('noeviction'), undefined);
    assert.match(evictionWarning('allkeys-lru') ?? '', /allkeys-lru, not noeviction/);
  });

  void test('queue and worker: help, usage errors (exit 2)', async () => {
    for (const command of ['queue', 'worker']) {
      const help = await runCaptured([command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--redis URL/);
    }
    const env = process.env.MOODLENS_REDIS_URL;
    delete process.env.MOODLENS_REDIS_URL;
    try {
      assert.equal((await runCaptured(['queue'])).code, 2);
      assert.equal((await runCaptured(['queue', 'status'])).code, 2, 'no --redis and no MOODLENS_REDIS_URL');
      assert.equal((await runCaptured(['queue', 'results', '--redis', 'redis://h'])).code, 2, 'no --out');
      assert.equal((await runCaptured(['queue', 'status', '--redis', 'redis://h', '--model', 'x'])).code, 2);
      assert.equal(
        (await runCaptured(['queue', 'add', '--redis', 'redis://h', 'a', '--chunk-seconds', '0'])).code,
        2,
      );
      const leaked = await runCaptured(['worker', '--redis', `http://u:${PASSWORD}@h`]);
      assert.equal(leaked.code, 2);
      assert.doesNotMatch(leaked.stderr, /SECRET/);
      assert.equal((await runCaptured(['worker', '--redis', 'redis://h', '--concurrency', '0'])).code, 2);
    } finally {
      if (env !== undefined) process.env.MOODLENS_REDIS_URL = env;
    }
  });
});

/** A worker process with its stderr collected. */
interface WorkerProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly log: () => string;
  readonly exited: Promise<number | null>;
  /** Resolves with the first match of `pattern` in the log (or rejects after `ms`). */
  until(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
}

function spawnWorker(url: string, viaEnv: boolean, extra: readonly string[] = []): WorkerProcess {
  const args = [
    BIN,
    'worker',
    ...(viaEnv ? [] : ['--redis', url]),
    ...extra,
    '--threads',
    '1',
    '--lock-duration',
    '2000',
    '--stalled-interval',
    '1000',
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(viaEnv ? { MOODLENS_REDIS_URL: url } : {}) },
  });
  let log = '';
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer): void => {
    log += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    log: () => log,
    exited,
    until: (pattern, ms = 60_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(log);
          if (match !== null) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no ${String(pattern)} in the worker's log within ${ms} ms:\n${log}`));
        }, ms);
        listeners.add(check);
        check();
      }),
  };
}

function countLines(log: string, pattern: RegExp): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of log.matchAll(pattern)) counts.set(match[1], (counts.get(match[1]) ?? 0) + 1);
  return counts;
}

void describe('queue: two workers on a real Redis', { skip }, () => {
  /** The id of the (single) job of a file already queued, from queue add (which adds nothing then). */
  const jobIdOf = async (file: string): Promise<string> => {
    const run = await runCaptured(['queue', 'add', '--redis', url, '--chunk-seconds', '2', '--json', file]);
    return (JSON.parse(run.stdout) as { jobs: AddedJob[] }).jobs[0].id;
  };
  let redis: RedisServer;
  let dir: string;
  let url: string;
  let clip: string;
  let photos: string[];
  let corrupt: string;
  let empty: string;
  const workers: WorkerProcess[] = [];
  const printed: string[] = [];
  const cli = async (argv: string[]): Promise<Captured> => {
    const run = await runCaptured(argv);
    printed.push(run.stdout, run.stderr);
    return run;
  };

  before(async () => {
    redis = await startRedis(['--requirepass', PASSWORD]);
    url = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${redis.port}`;
    dir = await mkdtemp(join(tmpdir(), 'moodlens-queue-'));
    const astronaut = join(REPO_ROOT, 'examples', 'astronaut.png');
    photos = [];
    for (let i = 0; i < PHOTOS; i++) {
      const file = join(dir, `photo${String(i).padStart(2, '0')}.png`);
      let image = sharp(astronaut).extract({
        left: (i % 4) * 16,
        top: Math.floor(i / 4) * 12,
        width: 440,
        height: 440,
      });
      if (i % 2 === 1) image = image.flop();
      await image
        .resize(220 + (i % 3) * 20)
        .png()
        .toFile(file);
      photos.push(file);
    }
    corrupt = join(dir, 'corrupt.png');
    await writeFile(corrupt, (await readFile(photos[0])).subarray(0, 3000));
    empty = join(dir, 'empty.mp4');
    await writeFile(empty, '');
    // The shipped clip at 320x240 (same 240 frames): small enough for 2 cores, long enough for 4 chunks.
    clip = join(dir, 'clip.mp4');
    await ffmpegRun(await locateFfmpeg(), [
      '-i',
      join(REPO_ROOT, 'examples', 'astronaut-pan.mp4'),
      '-vf',
      'scale=320:240',
      '-c:v',
      'libx264',
      '-pix_fmt',
      'yuv420p',
      clip,
    ]);
  });

  after(async () => {
    for (const worker of workers) worker.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  void test('22 jobs, a worker killed mid-chunk: each done once, results as analyze and video give', async () => {
    const inputs = [clip, ...photos, corrupt, empty];
    const add = await cli(['queue', 'add', '--redis', url, '--chunk-seconds', '2', '--json', ...inputs]);
    assert.equal(add.code, 0, add.stderr);
    const jobs = (JSON.parse(add.stdout) as { jobs: AddedJob[] }).jobs;
    assert.equal(jobs.length, 22);
    assert.ok(jobs.every((j) => j.status === 'added'));
    assert.equal(jobs.filter((j) => j.chunk?.count === 4).length, 4, 'the clip in 4 chunks');

    const again = await cli(['queue', 'add', '--redis', url, '--chunk-seconds', '2', '--json', ...inputs]);
    assert.equal(again.code, 0, again.stderr);
    const second = (JSON.parse(again.stdout) as { jobs: AddedJob[] }).jobs;
    assert.deepEqual(
      second.map((j) => [j.id, j.status]),
      jobs.map((j) => [j.id, 'exists']),
      'adding the same files again adds nothing',
    );

    const a = spawnWorker(url, false);
    workers.push(a);
    const victim = (await a.until(/started (v-[0-9a-f]+) video chunk/))[1];
    // Let it get well into the chunk (models loaded, frames decoding), then kill it without warning.
    await new Promise((resolve) => setTimeout(resolve, 400));
    // B runs two jobs at once on one set of models (photos and chunks side by side): its results must be
    // those of the direct commands all the same.
    const b = spawnWorker(url, true, ['--concurrency', '2']);
    workers.push(b);
    a.child.kill('SIGKILL');
    assert.equal(await a.exited, null);

    const out = join(dir, 'results');
    const results = await cli(['queue', 'results', '--redis', url, '--wait', '--out', out, '--json']);
    assert.equal(results.code, 1, 'two inputs failed');
    const summaries = JSON.parse(results.stdout) as InputSummary[];
    assert.equal(summaries.length, PHOTOS + 3);

    // Exactly once: every job started on A and not finished there was finished by B, once.
    const log = a.log() + b.log();
    assert.doesNotMatch(a.log(), new RegExp(`done ${victim}`));
    assert.match(b.log(), new RegExp(`done ${victim}`), 'the killed worker\u2019s chunk was taken over');
    const done = countLines(log, /done ([pv]-[0-9a-f]+) in/g);
    const failed = countLines(log, /failed ([pv]-[0-9a-f]+):/g);
    assert.equal(done.size, 20);
    assert.ok(
      [...done.values()].every((n) => n === 1),
      'no job completed twice',
    );
    assert.equal(failed.size, 2);
    const started = countLines(log, /started ([pv]-[0-9a-f]+) /g);
    for (const id of failed.keys()) assert.equal(started.get(id), 1, 'a bad input is not retried');
    assert.deepEqual(new Set([...done.keys(), ...failed.keys()]), new Set(jobs.map((j) => j.id)));

    const byFile = new Map(summaries.map((s) => [s.file, s]));
    assert.equal(byFile.get(corrupt)?.error?.code, 'MOODLENS_ERR_CORRUPT_IMAGE');
    assert.equal(byFile.get(empty)?.error?.code, 'MOODLENS_ERR_EMPTY_INPUT');

    // The same photos through `moodlens analyze` directly: the same JSON entries (failures included).
    const direct = await runCaptured(['analyze', '--json', '--no-images', ...photos, corrupt]);
    const entries = JSON.parse(direct.stdout) as { file: string }[];
    for (const entry of entries) {
      const summary = byFile.get(entry.file);
      assert.ok(summary !== undefined, entry.file);
      const queued = JSON.parse(await readFile(join(out, summary.outputs[0]), 'utf8')) as unknown;
      assert.deepEqual(
        withoutDecoderDetail(queued),
        withoutDecoderDetail(entry),
        `${entry.file} as analyze gives it`,
      );
    }

    // The clip through `moodlens video` directly: frames.csv byte for byte, report.json but its date.
    const videoDir = join(dir, 'direct-video');
    const video = await runCaptured(['video', '--no-video', '--no-stills', '--out', videoDir, clip]);
    assert.equal(video.code, 0, video.stderr);
    const clipSummary = byFile.get(clip);
    assert.equal(clipSummary?.state, 'done');
    // Chunks: moodlens video's very files, frames.csv byte for byte (tracks, persons, smoothed scores),
    // report.json but its date (thumbnails included).
    const csv = await readFile(join(out, 'clip', 'frames.csv'), 'utf8');
    const directCsv = await readFile(join(videoDir, 'frames.csv'), 'utf8');
    assert.equal(csv, directCsv, 'frames.csv of the chunks is moodlens video\u2019s');
    const frames = csv
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => Number(line.split(',')[0]));
    assert.deepEqual(
      [...new Set(frames)],
      Array.from({ length: 240 }, (_, i) => i),
      'every frame once, in order',
    );
    const withoutDate = (text: string): unknown => {
      const report = JSON.parse(text) as { source: Record<string, unknown> };
      delete report.source.generatedAt;
      return report;
    };

    assert.deepEqual(
      withoutDate(await readFile(join(out, 'clip', 'report.json'), 'utf8')),
      withoutDate(await readFile(join(videoDir, 'report.json'), 'utf8')),
      'report.json of the chunks is moodlens video\u2019s but its date',
    );
    // B ran two jobs at once: some job started while another of its jobs was running.
    let active = 0;
    let most = 0;
    for (const [, event] of b.log().matchAll(/moodlens worker: (started|done|failed) /g)) {
      active += event === 'started' ? 1 : -1;
      most = Math.max(most, active);
    }
    assert.equal(most, 2, 'worker B ran two jobs side by side');

    // Results again: the same files (idempotent, the date included).
    const before = await readFile(join(out, 'clip', 'report.json'), 'utf8');
    const rerun = await cli(['queue', 'results', '--redis', url, '--out', out]);
    assert.equal(rerun.code, 1);
    assert.equal(await readFile(join(out, 'clip', 'report.json'), 'utf8'), before);

    const status = await cli(['queue', 'status', '--redis', url, '--json']);
    assert.deepEqual(JSON.parse(status.stdout), {
      waiting: 0,
      active: 0,
      completed: 20,
      failed: 2,
      total: 22,
    });

    // SIGTERM in the middle of a job: the job finishes, then the worker exits 0.
    const whole = await cli(['queue', 'add', '--redis', url, '--json', clip]);
    const wholeId = (JSON.parse(whole.stdout) as { jobs: AddedJob[] }).jobs[0].id;
    await b.until(new RegExp(`started ${wholeId}`));
    b.child.kill('SIGTERM');
    assert.equal(await b.exited, 0, b.log());
    assert.match(b.log(), new RegExp(`done ${wholeId}[^]*stopped`));
    const finalStatus = await cli(['queue', 'status', '--redis', url, '--json']);
    assert.equal((JSON.parse(finalStatus.stdout) as { completed: number }).completed, 21);

    // A whole video (no chunks) is moodlens video's own output: frames.csv byte for byte, report.json but
    // its date.
    const out2 = join(dir, 'results2');
    const final = await cli(['queue', 'results', '--redis', url, '--out', out2, '--json']);
    const wholeSummary = (JSON.parse(final.stdout) as InputSummary[]).find(
      (s) => s.file === clip && s.jobs === 1,
    );
    assert.equal(wholeSummary?.state, 'done');
    const [wholeCsv, wholeReport] = wholeSummary.outputs.map((o) => join(out2, o));
    assert.equal(await readFile(wholeCsv, 'utf8'), directCsv);
    assert.deepEqual(
      withoutDate(await readFile(wholeReport, 'utf8')),
      withoutDate(await readFile(join(videoDir, 'report.json'), 'utf8')),
    );

    for (const text of [...printed, a.log(), b.log()]) {
      assert.ok(!text.includes(PASSWORD) && !text.includes(encodeURIComponent(PASSWORD)), 'password printed');
    }
    assert.match(a.log(), /redis:\/\/:\*\*\*@127\.0\.0\.1/);
  });

  void test('HTTP: POST /v1/jobs queues files as queue add does, GET /v1/jobs/{id} tells their state', async () => {
    const app = await buildServer({ redis: url, workers: 1, webRoot: false });
    try {
      const post = async (body: string) =>
        app.inject({
          method: 'POST',
          url: '/v1/jobs',
          headers: { 'content-type': 'application/json' },
          body,
        });
      const again = await post(JSON.stringify({ files: [photos[0]] }));
      assert.equal(again.statusCode, 202, again.body);
      const [job] = again.json<{ jobs: AddedJob[] }>().jobs;
      assert.equal(job.status, 'exists', 'queued and done by the test above');
      const state = await app.inject({ method: 'GET', url: `/v1/jobs/${job.id}` });
      assert.equal(state.statusCode, 200, state.body);
      const body = state.json<{ state: string; progress: number; result: { file: string } }>();
      assert.equal(body.state, 'completed');
      assert.equal(body.result.file, photos[0]);

      const fresh = join(dir, 'fresh.png');
      await sharp(photos[1]).flip().toFile(fresh);
      const added = await post(JSON.stringify({ files: [fresh] }));
      const [newJob] = added.json<{ jobs: AddedJob[] }>().jobs;
      assert.equal(newJob.status, 'added');
      const waiting = await app.inject({ method: 'GET', url: `/v1/jobs/${newJob.id}` });
      assert.equal(waiting.json<{ state: string }>().state, 'waiting');

      const failed = await app.inject({ method: 'GET', url: `/v1/jobs/${await jobIdOf(empty)}` });
      assert.equal(failed.json<{ error: { code: string } }>().error.code, 'MOODLENS_ERR_EMPTY_INPUT');

      const missing = await app.inject({ method: 'GET', url: `/v1/jobs/p-${'0'.repeat(40)}` });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json<{ error: { code: string } }>().error.code, 'MOODLENS_ERR_JOB_NOT_FOUND');
      assert.equal((await post(JSON.stringify({ files: ['relative.png'] }))).statusCode, 400);
      assert.equal((await post('{"files": [')).statusCode, 400);
      assert.equal((await post(JSON.stringify({ files: [fresh], extra: 1 }))).statusCode, 400);
    } finally {
      await app.close();
    }
  });

  void test('a wrong password or a dead Redis: MOODLENS_ERR_QUEUE_UNAVAILABLE, exit 1, nothing leaked', async () => {
    const wrong = await runCaptured([
      'queue',
      'status',
      '--redis',
      `redis://:wrong-SECRET@127.0.0.1:${redis.port}`,
    ]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /MOODLENS_ERR_QUEUE_UNAVAILABLE/);
    assert.match(wrong.stderr, /WRONGPASS|NOAUTH|invalid password/i);
    assert.doesNotMatch(wrong.stderr + wrong.stdout, /wrong-SECRET/);
    const dead = await runCaptured(['worker', '--redis', 'redis://127.0.0.1:1']);
    assert.equal(dead.code, 1);
    assert.match(
      dead.stderr,
      /MOODLENS_ERR_QUEUE_UNAVAILABLE[^]*ECONNREFUSED|ECONNREFUSED[^]*MOODLENS_ERR_QUEUE_UNAVAILABLE/,
    );
  });
});
