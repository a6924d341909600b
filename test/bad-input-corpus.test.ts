/**
 * Every bad input of a corpus made at test time (test/support/bad-inputs.ts) through `analyze`, `enhance`,
 * `video`, `report` (as real processes, each bounded in time) and the HTTP API. Each must give a coded
 * error naming its file, no stack trace, an exit within the bound, and the good inputs beside it must
 * still be answered. Unwritable `--out` paths (an existing file, a dangling link, /proc) are part of it:
 * they once hung the CLI with the ffmpeg decoder left running.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildServer, type MoodLensServer } from '../src/server/app.js';
import { makeBadCorpus, type BadCorpus, type BadInput } from './support/bad-inputs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'moodlens.js');
const ASTRONAUT = join(ROOT, 'examples', 'astronaut.png');
const CLIP = join(ROOT, 'examples', 'astronaut-pan.mp4');
const MODEL = join(ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
/** Every command must have exited by then (the hangs this guards against never exited). */
const BOUND_MS = 60_000;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** Whether the bound ran out and the process was killed. */
  readonly killed: boolean;
}

let corpus: BadCorpus;
let scratch = '';

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'moodlens-bad-'));
  corpus = await makeBadCorpus(scratch, ASTRONAUT, CLIP);
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Runs `moodlens <args>` in the corpus folder, killed (and reported so) past the bound. */
function moodlens(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: scratch,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, BOUND_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started, killed });
    });
  });
}

/** Exit 1 within the bound, no stack trace, and one line per bad input naming it with its code. */
function assertFailedCleanly(run: Run, bad: readonly BadInput[], what: string): void {
  assert.equal(run.killed, false, `${what}: still running after ${BOUND_MS} ms`);
  assert.equal(run.code, 1, `${what}: exit code\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+/, `${what}: a stack trace\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /internal error/, `${what}\n${run.stderr}`);
  const lines = run.stderr.split('\n');
  for (const input of bad) {
    assert.ok(
      lines.some((line) => line.includes(input.name) && line.includes(`(${input.code})`)),
      `${what}: no line names ${input.name.slice(0, 40)} with ${input.code}\n${run.stderr}`,
    );
  }
}

void describe('bad inputs through the CLI', () => {
  void test('analyze --json: every bad image gets its coded entry, in order; the good one is still analysed', async () => {
    const names = [corpus.goodImage, ...corpus.images.map((i) => i.name)];
    const run = await moodlens(['analyze', '--json', '--no-images', ...names]);
    assertFailedCleanly(run, corpus.images, 'analyze');
    const entries = JSON.parse(run.stdout) as Array<{
      file: string;
      faces?: unknown[];
      error?: { code: string };
    }>;
    assert.deepEqual(
      entries.map((e) => e.file),
      names,
    );
    assert.equal(entries[0].error, undefined);
    assert.equal(entries[0].faces?.length, 1);
    corpus.images.forEach((input, i) => assert.equal(entries[i + 1].error?.code, input.code, input.name));
  });

  void test('enhance: every bad image is named with its code; the good one is restored', async () => {
    const out = join(scratch, 'enhanced');
    const run = await moodlens([
      'enhance',
      '--out',
      out,
      corpus.goodImage,
      ...corpus.images.map((i) => i.name),
    ]);
    assertFailedCleanly(run, corpus.images, 'enhance');
    assert.ok((await readdir(out)).some((f) => f.startsWith('good_face1_enhanced')));
  });

  void test('video: each bad video exits 1 with its coded error and writes nothing', async () => {
    for (const input of corpus.videos) {
      const out = join(scratch, `video-out-${input.name.slice(0, 20)}`);
      const run = await moodlens(['video', input.name, '--out', out]);
      assertFailedCleanly(run, [input], `video ${input.name.slice(0, 40)}`);
      assert.equal(existsSync(out), false, `${input.name}: ${out} was created`);
    }
  });

  void test('report: each bad record file exits 1 with its coded error', async () => {
    for (const input of corpus.records) {
      const run = await moodlens(['report', input.name, '--out', join(scratch, 'report-out.html')]);
      assertFailedCleanly(run, [input], `report ${input.name.slice(0, 40)}`);
    }
  });
});

void describe('unwritable --out paths: a coded error, no hang, no ffmpeg left behind', () => {
  let existingFile = '';
  let danglingDir = '';
  let frames = '';
  before(async () => {
    existingFile = join(scratch, 'an-existing-file');
    await writeFile(existingFile, 'keep me');
    danglingDir = join(scratch, 'dangling-dir');
    await symlink(join(scratch, 'gone'), danglingDir);
    frames = join(scratch, 'frames.csv');
    await writeFile(
      frames,
      'frame,time,track,x,y,width,height,label,confidence,angry,disgust,fear,happy,sad,surprise,neutral\n' +
        '0,0,1,10,10,50,50,happy,0.9,0.01,0.01,0.01,0.9,0.03,0.02,0.02\n',
    );
  });

  const unwritable = (): Array<[string, string]> => [
    ['an existing file', existingFile],
    ['under a dangling link', join(danglingDir, 'x')],
    ['under /proc', '/proc/moodlens-x'],
  ];

  void test('analyze, enhance and video (also --no-video --no-stills) refuse each with OUTPUT_UNWRITABLE', async () => {
    for (const [what, out] of unwritable()) {
      const commands: string[][] = [
        ['analyze', '--json', '--out', out, corpus.goodImage],
        ['enhance', '--out', out, corpus.goodImage],
        ['video', CLIP, '--out', out],
        ['video', CLIP, '--no-video', '--no-stills', '--out', out],
      ];
      for (const args of commands) {
        const run = await moodlens(args);
        const label = `${args.filter((a) => a !== out).join(' ')} --out ${what}`;
        assert.equal(run.killed, false, `${label}: still running after ${BOUND_MS} ms`);
        assert.equal(run.code, 1, `${label}\n${run.stderr}`);
        assert.match(run.stderr, /MOODLENS_ERR_OUTPUT_UNWRITABLE/, label);
        assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+|internal error/, `${label}\n${run.stderr}`);
      }
    }
    assert.equal(await readFile(existingFile, 'utf8'), 'keep me');
  });

  void test('report --out FILE/x.html and the other unwritable pages: OUTPUT_UNWRITABLE', async () => {
    // An existing file is what --out names here (the page replaces it); a path through one is not.
    const pages = unwritable().filter(([what]) => what !== 'an existing file');
    for (const [what, out] of [...pages, ['inside a file', join(existingFile, 'x.html')]]) {
      const run = await moodlens(['report', frames, '--out', out]);
      assert.equal(run.killed, false, what);
      assert.equal(run.code, 1, `${what}\n${run.stderr}`);
      assert.match(run.stderr, /MOODLENS_ERR_OUTPUT_UNWRITABLE/, `${what}\n${run.stderr}`);
      assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+|internal error/, `${what}\n${run.stderr}`);
    }
  });
});

void describe('bad inputs through the HTTP API', () => {
  let app: MoodLensServer;
  before(async () => {
    app = await buildServer({ modelPath: MODEL, workers: 1, maxBatchFiles: 32 });
  });
  after(async () => {
    await app.close();
  });

  void test('POST /v1/analyze: each uploadable bad image gets its 4xx and its code', async () => {
    for (const input of corpus.images.filter((i) => i.uploadable)) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/analyze',
        headers: { 'content-type': 'application/octet-stream' },
        payload: await readFile(join(scratch, input.name)),
      });
      assert.ok(
        response.statusCode >= 400 && response.statusCode < 500,
        `${input.name}: ${response.statusCode}`,
      );
      assert.equal(response.json<{ error: { code: string } }>().error.code, input.code, input.name);
    }
  });

  void test('POST /v1/analyze/batch: the bad files get their coded entries, the good one its faces', async () => {
    const form = new FormData();
    const uploads = [corpus.goodImage, ...corpus.images.filter((i) => i.uploadable).map((i) => i.name)];
    for (const name of uploads) {
      form.append('file', new Blob([new Uint8Array(await readFile(join(scratch, name)))]), name);
    }
    const request = new Request('http://localhost/', { method: 'POST', body: form });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/analyze/batch',
      headers: { 'content-type': request.headers.get('content-type') ?? '' },
      payload: Buffer.from(await request.arrayBuffer()),
    });
    assert.equal(response.statusCode, 200, response.body);
    const entries = response.json<Array<{ file: string; faces?: unknown[]; error?: { code: string } }>>();
    assert.deepEqual(
      entries.map((e) => e.file),
      uploads,
    );
    assert.equal(entries[0].faces?.length, 1);
    for (const [i, name] of uploads.slice(1).entries()) {
      const expected = corpus.images.find((input) => input.name === name)?.code;
      assert.equal(entries[i + 1].error?.code, expected, name);
    }
  });
});
