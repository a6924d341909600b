import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Progress, formatDuration } from '../src/cli/progress.js';
import { DEFAULT_DETECTOR } from '../src/detect/detector-kind.js';
import { APP_DETECT_OPTIONS, DEFAULT_DETECT_OPTIONS } from '../src/detect/options.js';
import { DEFAULT_MAX_PIXELS } from '../src/io/node/read-image.js';
import { runCaptured } from './support/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ASTRONAUT = join(ROOT, 'examples', 'astronaut.png');

const run = runCaptured;
/** Pins the Haar cascade, for tests of its own flags whatever the default detector. */
const HAAR = ['--detector', 'haar'];

interface JsonFace {
  box: { x: number; y: number; width: number; height: number };
}
type JsonResult =
  | { file: string; width: number; height: number; faces: JsonFace[] }
  | { file: string; error: { code: string; message: string } };

/** A missing file, a directory, an empty file and a text file, in a fresh temporary folder. */
async function withBadInputs(fn: (paths: Record<string, string>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-cli-'));
  try {
    const paths = {
      missing: join(dir, 'missing.png'),
      directory: join(dir, 'a-folder'),
      empty: join(dir, 'empty.png'),
      text: join(dir, 'notes.txt'),
    };
    await mkdir(paths.directory);
    await writeFile(paths.empty, new Uint8Array(0));
    await writeFile(paths.text, 'these are not pixels\n'.repeat(20));
    await fn(paths);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const EXPECTED_CODES = {
  missing: 'MOODLENS_ERR_FILE_NOT_FOUND',
  directory: 'MOODLENS_ERR_NOT_A_FILE',
  empty: 'MOODLENS_ERR_EMPTY_INPUT',
  text: 'MOODLENS_ERR_NOT_AN_IMAGE',
} as const;

void test('moodlens --help lists the commands and --version prints the package version', async () => {
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: moodlens <command>/);
  assert.match(help.stdout, /^ {2}detect /m);
  assert.equal(help.stderr, '');

  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const version = await run(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout, `${pkg.version}\n`);
});

void test('moodlens with no command, an unknown command or an unknown flag exits 2 with a message', async () => {
  for (const argv of [[], ['frobnicate'], ['--frobnicate']]) {
    const result = await run(argv);
    assert.equal(result.code, 2, `argv ${JSON.stringify(argv)}`);
    assert.equal(result.stdout, '');
    assert.notEqual(result.stderr, '');
  }
  assert.match((await run(['frobnicate'])).stderr, /Unknown command 'frobnicate'/);
});

void test('moodlens detect --help explains every flag with its default', async () => {
  for (const argv of [
    ['detect', '--help'],
    ['detect', '-h'],
    ['help', 'detect'],
  ]) {
    const { code, stdout, stderr } = await run(argv);
    assert.equal(code, 0);
    assert.equal(stderr, '');
    for (const flag of [
      '--json',
      '--scale-factor',
      '--min-neighbors',
      '--min-size',
      '--max-size',
      '--cascade',
      '--max-pixels',
      '--help',
    ]) {
      assert.ok(stdout.includes(flag), `help mentions ${flag}`);
    }
    const d = DEFAULT_DETECT_OPTIONS;
    assert.ok(stdout.includes(`(default ${d.scaleFactor})`));
    assert.ok(stdout.includes(`(default ${d.minNeighbors})`));
    assert.ok(stdout.includes(`(default ${d.minSize}`));
    assert.ok(stdout.includes(`(default ${d.maxSize}`));
    assert.ok(stdout.includes(`(default ${DEFAULT_MAX_PIXELS})`));
  }
});

void test("moodlens analyze --help gives the app defaults (4 neighbours) and --keep-all-faces; detect keeps OpenCV's", async () => {
  const analyze = await run(['analyze', '--help']);
  assert.equal(analyze.code, 0);
  assert.ok(analyze.stdout.includes(`(default ${APP_DETECT_OPTIONS.minNeighbors})`));
  assert.ok(!analyze.stdout.includes(`(default ${DEFAULT_DETECT_OPTIONS.minNeighbors})`));
  assert.match(analyze.stdout, /--keep-all-faces/);
  assert.match(analyze.stdout, /"rejected"/);
  const detect = await run(['detect', '--help']);
  assert.match(detect.stdout, /OpenCV-parity command/);
  const landmarks = await run(['landmarks', '--help']);
  assert.ok(landmarks.stdout.includes(`(default ${DEFAULT_DETECT_OPTIONS.minNeighbors})`));
});

void test('moodlens detect usage errors exit 2 and name the flag, the expectation and the value', async () => {
  const cases: [string[], RegExp][] = [
    [['detect'], /No input images/],
    [['detect', '--json'], /No input images/],
    [['detect', '--bogus', 'a.png'], /Unknown option '--bogus'/],
    // The Haar flags' values are checked under --detector haar (the learned detector refuses the flags).
    [
      ['detect', ...HAAR, '--scale-factor', '0.5', 'a.png'],
      /above 1 and at most 4 for --scale-factor but received 0\.5/,
    ],
    [
      ['detect', ...HAAR, '--scale-factor', 'fast', 'a.png'],
      /a number for --scale-factor but received 'fast'/,
    ],
    [
      ['detect', ...HAAR, '--min-neighbors', '-1', 'a.png'],
      /non-negative integer for --min-neighbors but received -1/,
    ],
    [
      ['detect', ...HAAR, '--min-neighbors=-1', 'a.png'],
      /non-negative integer for --min-neighbors but received -1/,
    ],
    [['detect', '--min-size', '2.5', 'a.png'], /an integer for --min-size but received '2\.5'/],
    [['detect', '--max-size', '', 'a.png'], /an integer for --max-size but received ''/],
    [['detect', '--max-pixels', '0', 'a.png'], /positive integer for --max-pixels but received 0/],
    [['detect', ...HAAR, 'a.png', '--cascade'], /--cascade/],
  ];
  for (const [argv, message] of cases) {
    const { code, stdout, stderr } = await run(argv);
    assert.equal(code, 2, `exit code of ${JSON.stringify(argv)}`);
    assert.equal(stdout, '', `stdout of ${JSON.stringify(argv)}`);
    assert.match(stderr, message, `stderr of ${JSON.stringify(argv)}`);
    assert.match(stderr, /moodlens detect --help/);
  }
});

void test('moodlens detect reports unreadable inputs with their codes and exits 1', async () => {
  await withBadInputs(async (paths) => {
    const names = Object.keys(EXPECTED_CODES) as (keyof typeof EXPECTED_CODES)[];
    const { code, stdout, stderr } = await run(['detect', '--json', ...names.map((n) => paths[n])]);
    assert.equal(code, 1);
    const results = JSON.parse(stdout) as JsonResult[];
    assert.deepEqual(
      results.map((r) => ({ file: r.file, code: 'error' in r ? r.error.code : 'ok' })),
      names.map((n) => ({ file: paths[n], code: EXPECTED_CODES[n] })),
    );
    for (const r of results) assert.ok('error' in r && r.error.message.length > 0);
    // Diagnostics go to stderr with the code and the catalogue hint; the count line ends it.
    assert.ok(stderr.includes(`moodlens: ${paths.missing}: `));
    assert.ok(stderr.includes('(MOODLENS_ERR_FILE_NOT_FOUND)\n  Check the path.'));
    assert.match(stderr, /0 faces in 0 images, 4 failed/);

    const human = await run(['detect', paths.text]);
    assert.equal(human.code, 1);
    assert.equal(human.stdout, '');
    assert.match(human.stderr, /notes\.txt: .* \(MOODLENS_ERR_NOT_AN_IMAGE\)\n {2}Give a JPEG/);
  });
});

void test('moodlens detect fails the command when the cascade cannot load', async () => {
  const { code, stdout, stderr } = await run([
    'detect',
    ...HAAR,
    '--cascade',
    join(ROOT, 'no-such-cascade.xml'),
    ASTRONAUT,
  ]);
  assert.equal(code, 1);
  assert.equal(stdout, '');
  assert.match(stderr, /MOODLENS_ERR_FILE_NOT_FOUND/);
});

function centreAndSide(face: JsonFace): { cx: number; cy: number; side: number } {
  const { x, y, width, height } = face.box;
  return { cx: x + width / 2, cy: y + height / 2, side: (width + height) / 2 };
}

function assertAstronautFace(result: JsonResult | undefined): void {
  assert.ok(result !== undefined && !('error' in result), JSON.stringify(result));
  assert.equal(result.width, 512);
  assert.equal(result.height, 512);
  assert.equal(result.faces.length, 1, JSON.stringify(result.faces));
  const { cx, cy, side } = centreAndSide(result.faces[0]);
  assert.ok(cx >= 180 && cx <= 280, `centre x ${cx}`);
  assert.ok(cy >= 60 && cy <= 170, `centre y ${cy}`);
  assert.ok(side >= 90 && side <= 170, `side ${side}`);
}

void test('moodlens detect --json finds the one face of the astronaut', async () => {
  const { code, stdout } = await run(['detect', ASTRONAUT, '--json']);
  assert.equal(code, 0);
  const results = JSON.parse(stdout) as JsonResult[];
  assert.equal(results.length, 1);
  assert.equal(results[0].file, ASTRONAUT);
  assertAstronautFace(results[0]);
});

void test('moodlens detect still answers for a good input among failed ones', async () => {
  await withBadInputs(async (paths) => {
    const inputs = [paths.missing, ASTRONAUT, paths.directory, paths.empty, paths.text];
    const { code, stdout } = await run(['detect', '--json', ...inputs]);
    assert.equal(code, 1);
    const results = JSON.parse(stdout) as JsonResult[];
    assert.deepEqual(
      results.map((r) => r.file),
      inputs,
    );
    assertAstronautFace(results[1]);
    for (const [i, name] of [
      [0, 'missing'],
      [2, 'directory'],
      [3, 'empty'],
      [4, 'text'],
    ] as const) {
      const r = results[i];
      assert.ok('error' in r, JSON.stringify(r));
      assert.equal(r.error.code, EXPECTED_CODES[name]);
    }
  });
});

void test('moodlens detect prints one block per image and a progress bar on a terminal', async () => {
  const { code, stdout, stderr } = await run(['detect', ASTRONAUT, ASTRONAUT], true);
  assert.equal(code, 0);
  const block = new RegExp(
    `^${ASTRONAUT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 1 face \\(512x512\\)\\n {2}face 1: x=\\d+ y=\\d+ width=\\d+ height=\\d+` +
      // The learned detector's faces have their score, Haar's none.
      `${DEFAULT_DETECTOR === 'cnn' ? ' score=\\d\\.\\d{3}' : ''}\\n`,
  );
  assert.match(stdout, block);
  assert.equal(stdout.split('\n').filter((l) => l.endsWith('1 face (512x512)')).length, 2);
  assert.ok(stderr.includes('\r'), 'the bar redraws in place');
  assert.match(stderr, /2 faces in 2 images/);
});

void test('node bin/moodlens.js detect examples/astronaut.png --json prints JSON and exits 0', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['bin/moodlens.js', 'detect', 'examples/astronaut.png', '--json'],
    { cwd: ROOT },
  );
  const results = JSON.parse(stdout) as JsonResult[];
  assert.equal(results.length, 1);
  assert.equal(results[0].file, 'examples/astronaut.png');
  assertAstronautFace(results[0]);
});

void test('Progress redraws in place on a terminal and prints occasional lines elsewhere', () => {
  let clock = 0;
  let tty = '';
  const bar = new Progress({
    total: 4,
    write: (s) => void (tty += s),
    isTTY: true,
    label: 'job',
    now: () => clock,
  });
  clock = 1000;
  bar.tick();
  assert.equal(tty, '\rjob [######------------------] 1/4 25% 1.00/s ETA 3s\x1b[K');
  clock = 1050;
  bar.tick(); // within the redraw interval: nothing new
  assert.equal(tty.split('\r').length, 2);
  clock = 2000;
  bar.update(4); // completion always draws
  assert.ok(tty.endsWith('\rjob [########################] 4/4 100% 2.00/s ETA 0s\x1b[K'));
  bar.finish();
  assert.ok(tty.endsWith('\r\x1b[K'));

  clock = 0;
  let log = '';
  const lines = new Progress({ total: 100, write: (s) => void (log += s), isTTY: false, now: () => clock });
  for (let i = 1; i <= 99; i++) {
    clock = i * 500;
    lines.tick();
  }
  assert.ok(!log.includes('\r'));
  assert.equal(log.split('\n').filter(Boolean).length, 4, log); // every 10 s over 49.5 s
  assert.match(log, /^20\/100 20% 2\.00\/s ETA 40s$/m);

  assert.equal(formatDuration(9.4), '9s');
  assert.equal(formatDuration(125), '2m05s');
  assert.equal(formatDuration(3720), '1h02m');
});
