import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EMOTION_LABELS } from '../src/emotion/labels.js';
import { toGray } from '../src/image/gray.js';
import { readImage } from '../src/io/node/read-image.js';
import { FER2013_CACHE, listFerFaces } from './support/fer-scenes.js';
import { REPO_ROOT } from './support/opencv.js';
import { runCaptured, type Captured } from './support/cli.js';

const TINY_MODEL = join(REPO_ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
const PER_CLASS = 10;
/** Rows of the test CSV marked Training (copies of the first faces), to check the usage filter. */
const TRAINING_ROWS = 5;

const run = runCaptured;

interface Report {
  n: number;
  accuracy: number;
  perClass: Record<string, { precision: number; recall: number; f1: number; n: number }>;
  confusion: number[][];
  imagesPerSecond: number;
  labels: string[];
  usage: string | null;
}

let dir = '';
let folder = '';
let csv = '';
let csvLines: string[] = [];

before(async () => {
  // 10 real PublicTest faces per class, copied into <tmp>/faces/<emotion>/, and the same pixels as a CSV.
  const files = await listFerFaces();
  dir = await mkdtemp(join(tmpdir(), 'moodlens-evaluate-'));
  folder = join(dir, 'faces');
  const rows: string[] = [];
  for (const [label, emotion] of EMOTION_LABELS.entries()) {
    await mkdir(join(folder, emotion), { recursive: true });
    for (const file of files.filter((f) => f.startsWith(`val/${emotion}/`)).slice(0, PER_CLASS)) {
      const name = file.split('/').at(-1) ?? file;
      await copyFile(join(FER2013_CACHE, file), join(folder, emotion, name));
      const image = toGray(await readImage(join(FER2013_CACHE, file)));
      rows.push(`${label},${[...image.data].join(' ')},PublicTest`);
    }
  }
  const training = rows.slice(0, TRAINING_ROWS).map((row) => row.replace(/PublicTest$/, 'Training'));
  csvLines = ['emotion,pixels,Usage', ...training, ...rows];
  csv = join(dir, 'fer2013.csv');
  await writeFile(csv, `${csvLines.join('\n')}\n`);
});

after(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

function parseReport(result: Captured): Report {
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Report;
}

/** The report's numbers agree with its own confusion matrix. */
function assertConsistent(report: Report): void {
  const k = EMOTION_LABELS.length;
  assert.deepEqual(report.labels, [...EMOTION_LABELS]);
  assert.deepEqual(Object.keys(report.perClass), [...EMOTION_LABELS]);
  assert.equal(report.confusion.length, k);
  const total = report.confusion.flat().reduce((a, b) => a + b, 0);
  assert.equal(total, report.n);
  const trace = report.confusion.reduce((a, row, i) => a + row[i], 0);
  assert.ok(Math.abs(report.accuracy - trace / report.n) < 1e-12);
  EMOTION_LABELS.forEach((emotion, c) => {
    const m = report.perClass[emotion];
    assert.equal(report.confusion[c].length, k);
    const rowSum = report.confusion[c].reduce((a, b) => a + b, 0);
    const colSum = report.confusion.reduce((a, row) => a + row[c], 0);
    const diag = report.confusion[c][c];
    assert.equal(m.n, rowSum, `${emotion} n`);
    assert.ok(Math.abs(m.precision - (colSum === 0 ? 0 : diag / colSum)) < 1e-12, `${emotion} precision`);
    assert.ok(Math.abs(m.recall - (rowSum === 0 ? 0 : diag / rowSum)) < 1e-12, `${emotion} recall`);
    const f1 = m.precision + m.recall === 0 ? 0 : (2 * m.precision * m.recall) / (m.precision + m.recall);
    assert.ok(Math.abs(m.f1 - f1) < 1e-12, `${emotion} f1`);
  });
  assert.ok(report.imagesPerSecond > 0);
}

void test('evaluate <folder> --json: 70 real faces, metrics consistent with the confusion matrix', async () => {
  const report = parseReport(await run(['evaluate', folder, '--model', TINY_MODEL, '--json']));
  assert.equal(report.n, EMOTION_LABELS.length * PER_CLASS);
  assert.equal(report.usage, null);
  assertConsistent(report);
  for (const emotion of EMOTION_LABELS) assert.equal(report.perClass[emotion].n, PER_CLASS);
});

void test('evaluate fer2013.csv gives the folder’s confusion matrix (same pixels); --usage filters rows', async () => {
  const fromFolder = parseReport(await run(['evaluate', folder, '--model', TINY_MODEL, '--json']));
  const fromCsv = parseReport(await run(['evaluate', csv, '--model', TINY_MODEL, '--json']));
  assert.equal(fromCsv.usage, 'PublicTest'); // the default with a Usage column
  assertConsistent(fromCsv);
  assert.deepEqual(fromCsv.confusion, fromFolder.confusion);

  const training = parseReport(
    await run(['evaluate', csv, '--model', TINY_MODEL, '--usage', 'Training', '--json']),
  );
  assert.equal(training.n, TRAINING_ROWS);
  assertConsistent(training);
  const all = parseReport(await run(['evaluate', csv, '--model', TINY_MODEL, '--usage', 'all', '--json']));
  assert.equal(all.n, EMOTION_LABELS.length * PER_CLASS + TRAINING_ROWS);

  // Batch size changes nothing but speed; --limit takes the first rows.
  const batched = parseReport(await run(['evaluate', csv, '--model', TINY_MODEL, '--batch', '7', '--json']));
  assert.deepEqual(batched.confusion, fromCsv.confusion);
  const limited = parseReport(await run(['evaluate', csv, '--model', TINY_MODEL, '--limit', '15', '--json']));
  assert.equal(limited.n, 15);
  assertConsistent(limited);
});

void test('evaluate prints a readable report on stdout and progress on stderr', async () => {
  const result = await run(['evaluate', folder, '--model', TINY_MODEL], true);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^accuracy {2}\d+\.\d{2}% \(\d+ of 70\)$/m);
  assert.match(result.stdout, /^emotion +precision +recall +f1 +n$/m);
  for (const emotion of EMOTION_LABELS)
    assert.match(result.stdout, new RegExp(`^${emotion} +(\\d\\.\\d{4} +){3}10$`, 'm'));
  assert.match(result.stdout, /confusion matrix \(rows: true label, columns: predicted\)/);
  assert.match(result.stdout, /^true +angry +disgust +fear +happy +sad +surprise +neutral$/m);
  assert.match(result.stdout, /images\/s/);
  assert.match(result.stderr, /\revaluate \[[#-]+\] \d+\/70/); // the bar, on a terminal
  assert.match(result.stderr, /moodlens evaluate: 70 faces in \d+\.\d\d s \(\d+\.\d images\/s\), accuracy/);
});

void test('evaluate: a malformed CSV row fails with exit 1 naming the line', async () => {
  const cases: { name: string; edit: (fields: string[]) => string; message: RegExp }[] = [
    {
      name: 'short',
      edit: ([e, p, u]) => `${e},${p.split(' ').slice(0, 100).join(' ')},${u}`,
      message: /line 4: expected 2304 pixel values \(48x48\) but found 100/,
    },
    {
      name: 'label',
      edit: ([, p, u]) => `9,${p},${u}`,
      message: /line 4: emotion '9' is not a class index 0-6/,
    },
    {
      name: 'pixel',
      edit: ([e, p, u]) => `${e},${p.replace(/^\d+/, '300')},${u}`,
      message: /line 4: pixel 1 is '300', not an integer 0-255/,
    },
    { name: 'fields', edit: ([e, p]) => `${e},${p}`, message: /line 4: expected 3 comma-separated fields/ },
  ];
  for (const { name, edit, message } of cases) {
    const lines = [...csvLines];
    lines[3] = edit(lines[3].split(','));
    const path = join(dir, `bad-${name}.csv`);
    await writeFile(path, `${lines.join('\n')}\n`);
    const result = await run(['evaluate', path, '--model', TINY_MODEL, '--usage', 'all']);
    assert.equal(result.code, 1, `${name}: ${result.stderr}`);
    assert.equal(result.stdout, '');
    assert.match(
      result.stderr,
      new RegExp(`Malformed row in ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`),
    );
    assert.match(result.stderr, message);
    assert.match(result.stderr, /\(MOODLENS_ERR_INVALID_DATASET\)/);
  }
});

void test('evaluate: wrong data layouts and a bad model are reported clearly', async () => {
  // An unknown class folder: usage-level error naming it and the expected layout.
  const odd = join(dir, 'odd');
  await mkdir(join(odd, 'happy'), { recursive: true });
  await mkdir(join(odd, 'contempt'), { recursive: true });
  const [first] = (await readdir(join(folder, 'happy'))).sort();
  await copyFile(join(folder, 'happy', first), join(odd, 'happy', 'a.jpg'));
  let result = await run(['evaluate', odd, '--model', TINY_MODEL]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Unknown class folder 'contempt' in .*odd: expected an image folder/);

  // A CSV without the columns, a folder with --usage, a missing path.
  const notes = join(dir, 'notes.csv');
  await writeFile(notes, 'name,age\nx,3\n');
  result = await run(['evaluate', notes, '--model', TINY_MODEL]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Not a labelled data set: .*notes\.csv starts with "name,age"/);
  result = await run(['evaluate', folder, '--usage', 'Training', '--model', TINY_MODEL]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /usage filter applies to a fer2013\.csv/);
  result = await run(['evaluate', join(dir, 'nope'), '--model', TINY_MODEL]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Data set not found: .*nope \(MOODLENS_ERR_FILE_NOT_FOUND\)/);
  result = await run(['evaluate', csv, '--usage', 'PrivateTest', '--model', TINY_MODEL]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /No PrivateTest rows in/);

  // A model that is not there, or not a model.
  result = await run(['evaluate', folder, '--model', join(dir, 'missing.onnx')]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Model not found: .*missing\.onnx: no such file \(MOODLENS_ERR_MODEL_LOAD\)/);
  const page = join(dir, 'page.onnx');
  await writeFile(page, '<!DOCTYPE html><html><body>Not Found</body></html>');
  result = await run(['evaluate', folder, '--model', page]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /page\.onnx is an HTML page/);
});

void test('evaluate: usage errors exit 2 naming the flag', async () => {
  const cases: [string[], RegExp][] = [
    [[], /No data set given/],
    [[folder, csv], /Expected one data set but received 2/],
    [[csv, '--batch', '0'], /Expected an integer from 1 to 1024 for --batch but received 0/],
    [[csv, '--batch', '2.5'], /Expected an integer for --batch but received '2\.5'/],
    [[csv, '--limit', '-3'], /Expected a positive integer for --limit but received -3/],
    [
      [csv, '--usage', 'test'],
      /Expected Training, PublicTest, PrivateTest or all for --usage but received 'test'/,
    ],
    [[csv, '--model', ''], /Expected a file path for --model/],
    [[csv, '--frobnicate'], /Unknown option '--frobnicate'/],
  ];
  for (const [args, message] of cases) {
    const result = await run(['evaluate', ...args]);
    assert.equal(result.code, 2, args.join(' '));
    assert.match(result.stderr, message);
    assert.match(result.stderr, /Run 'moodlens evaluate --help' for usage/);
  }
  const help = await run(['evaluate', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: moodlens evaluate <folder \| fer2013\.csv>/);
  assert.match(help.stdout, /--batch N .*\(default 32\)/);
  const top = await run(['--help']);
  assert.match(top.stdout, /^ {2}evaluate /m);
});

void test('evaluate reads a CSV with quoted fields, CRLF line ends and a BOM (other fer2013.csv exports)', async () => {
  const body = csvLines.slice(TRAINING_ROWS + 1, TRAINING_ROWS + 8).map((line) => {
    const [e, p, u] = line.split(',');
    return `${e},"${p}",${u}`;
  });
  const path = join(dir, 'quoted.csv');
  await writeFile(path, `\uFEFFemotion,pixels,Usage\r\n${body.join('\r\n')}\r\n`);
  const report = parseReport(await run(['evaluate', path, '--model', TINY_MODEL, '--json']));
  assert.equal(report.n, 7);
  assertConsistent(report);
  assert.ok((await readFile(path, 'utf8')).includes('\r\n'));
});
