/**
 * The README quotes figures that other places produce: what `analyze` prints for the example photo, the
 * model cards' accuracies, the results tables. Each quote is checked against its source here, so a
 * retrained model or a changed default cannot leave the README saying something else.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertAstronautBox } from './support/astronaut-face.js';
import { runCaptured } from './support/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let readme = '';
let scratch = '';

before(async () => {
  readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  scratch = await mkdtemp(join(tmpdir(), 'moodlens-readme-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** The one match of `pattern` in the README (its groups), failing clearly when it is gone or repeated. */
function quote(pattern: RegExp): RegExpMatchArray {
  const found = [...readme.matchAll(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`))];
  assert.equal(found.length, 1, `the README should quote ${pattern} exactly once`);
  return found[0];
}

/** A results-table row of the README by its first cell, as its cells (bold marks removed). */
function tableRow(firstCell: string): string[] {
  const line = readme.split('\n').find((l) => l.startsWith(`| ${firstCell} |`));
  assert.ok(line !== undefined, `README table row '${firstCell}'`);
  return line
    .split('|')
    .slice(1, -1)
    .map((cell) => cell.trim().replaceAll('**', ''));
}

void test('the set-up command runs with the default detector and finds the astronaut with an emotion', async () => {
  const [, command] = quote(/npm ci && npx moodlens (analyze examples\/astronaut\.png)\n/);
  const [name, photo] = command.split(' ');
  const run = await runCaptured([name, join(ROOT, photo), '--out', scratch]);
  assert.equal(run.code, 0, run.stderr);
  const printed = run.stdout.split('\n').find((line) => line.trim().startsWith('face 1:'));
  assert.ok(printed !== undefined, run.stdout);
  const box = /face 1: \w+ \d+% .* at x=(\d+) y=(\d+) (\d+)x(\d+),/.exec(printed);
  assert.ok(box !== null, printed);
  const [x, y, width, height] = box.slice(1).map(Number);
  assertAstronautBox({ x, y, width, height }, printed.trim());
  assert.match(run.stdout, /: 1 face \(512x512\)/);
});

void test('the set-up paragraph quotes what `moodlens analyze examples/astronaut.png` prints, with either detector', async () => {
  const [, defaultQuote, haarCommand, haarQuote] = quote(
    /With the default learned detector it prints\n`(face 1: [^`]*?), \.\.\.\)`;\nwith the Haar detector \(`npx moodlens (analyze --detector haar examples\/astronaut\.png)`\)\n`(face 1: [^`]*?), \.\.\.\)`/,
  );
  for (const [command, quoted] of [
    ['analyze examples/astronaut.png', defaultQuote],
    [haarCommand, haarQuote],
  ]) {
    const argv = command.split(' ').map((arg) => (arg.startsWith('examples/') ? join(ROOT, arg) : arg));
    const run = await runCaptured([...argv, '--out', scratch]);
    assert.equal(run.code, 0, run.stderr);
    const printed = run.stdout.split('\n').find((line) => line.trim().startsWith('face 1:'));
    assert.ok(printed !== undefined, run.stdout);
    assert.ok(
      printed.trim().startsWith(quoted),
      `README quotes\n  ${quoted}\nbut moodlens ${command} prints\n  ${printed.trim()}`,
    );
  }
});

void test('the summary gives the shipped emotion models’ measured accuracies (model cards)', async () => {
  const card = async (name: string): Promise<number> => {
    const json = JSON.parse(await readFile(join(ROOT, 'models', 'emotion', `${name}.json`), 'utf8')) as {
      publicTest: { accuracy: number };
    };
    return json.publicTest.accuracy * 100;
  };
  const [, fast, accurate] = quote(
    /PublicTest: \*\*(\d+\.\d)%\*\* with the fast default[\s\S]*?and \*\*(\d+\.\d)%\*\* with the shipped accurate/,
  );
  assert.equal(fast, (await card('emotion')).toFixed(1));
  assert.equal(accurate, (await card('emotion-ensemble')).toFixed(1));
  const row = readme.split('\n').find((l) => l.startsWith('| dense mini-Xception (shipped default'));
  assert.ok(row !== undefined, 'the emotion results table row of the shipped default');
  const tableFigure = row.match(/\*\*(\d+\.\d+)%\*\* \|$/)?.[1];
  assert.equal(tableFigure, (await card('emotion')).toFixed(2));
});

void test('the --mirror figures are the detector card’s (models/detector/face-detector.json)', async () => {
  type Figures = { recall: number; precision: number; ap: number; reviewed_precision?: number };
  const card = JSON.parse(await readFile(join(ROOT, 'models', 'detector', 'face-detector.json'), 'utf8')) as {
    mirror: { val: Figures; test: Figures; webfaces: Figures };
  };
  const pct = (v: number, digits = 1) => (100 * v).toFixed(digits);
  const [, testRecall, testPrecision, testAp] = quote(
    /held-out test: (\d+\.\d)% recall at (\d+\.\d)% precision, AP@0\.4 (0\.\d+) \(default/,
  );
  const { test: t, webfaces: w, val: v } = card.mirror;
  assert.deepEqual([testRecall, testPrecision, testAp], [pct(t.recall), pct(t.precision), t.ap.toFixed(3)]);
  const [, webRecall, webPrecision] = quote(
    /WebFaces: (\d+\.\d\d)% recall, about (\d+\.\d)% precision from judged samples/,
  );
  assert.deepEqual([webRecall, webPrecision], [pct(w.recall, 2), pct(w.reviewed_precision ?? Number.NaN)]);
  const [, valAp] = quote(/chosen on val by a rule fixed beforehand \(AP@0\.4 (0\.\d+) against 0\.9486\)/);
  assert.equal(valAp, v.ap.toFixed(4));
});

void test('the summary’s FSRNet figures are the super-resolution table’s', () => {
  const [, x4Bicubic, x4Fsrnet, x2Bicubic, x2Fsrnet] = quote(
    /12x12 faces FSRNet lifts emotion accuracy from (\S+)% \(bicubic\) to (\S+)%, on 24x24 faces from (\S+)% to (\S+)%\./,
  );
  const x4 = tableRow('x4: 12x12');
  const x2 = tableRow('x2: 24x24');
  assert.deepEqual([x4Bicubic, x4Fsrnet], [x4[2].replace('%', ''), x4[3].replace('%', '')]);
  assert.deepEqual([x2Bicubic, x2Fsrnet], [x2[2].replace('%', ''), x2[3].replace('%', '')]);
});

void test('the detection speed sentence is the 2-thread row of its table, per photo', () => {
  const [, perPhoto, total] = quote(/about (\d+) ms for a 640x480 photo \((\d+\.\d) ms for the 5\)/);
  const row = tableRow('2 threads, 5 images');
  assert.equal(total, row[1]);
  assert.equal(Number(perPhoto), Math.round(Number(row[1]) / 5));
});

void test('commands that need a Debian package say so on their line', () => {
  for (const line of readme.split('\n')) {
    if (line.includes('/usr/share/opencv4/') && line.trimStart().startsWith('npx ')) {
      assert.match(line, /opencv-data/, `this README command needs Debian's opencv-data: ${line}`);
    }
  }
});

void test('--no-align help describes the alignment analyze really applies (roll only)', async () => {
  const help = (await runCaptured(['analyze', '--help'])).stdout;
  const noAlign = help.slice(help.indexOf('--no-align'), help.indexOf('--landmark-model'));
  assert.match(noAlign, /upright by the roll/);
  assert.doesNotMatch(noAlign, /canonical/);
  const run = await runCaptured([
    'analyze',
    '--json',
    '--no-images',
    join(ROOT, 'examples', 'astronaut.png'),
  ]);
  const [photo] = JSON.parse(run.stdout) as Array<{ faces: Array<{ alignment: { method: string } }> }>;
  assert.equal(photo.faces[0].alignment.method, 'rotation');
  assert.match(readme, /the box crop is turned upright before classification/);
});
