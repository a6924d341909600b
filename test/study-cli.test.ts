/**
 * The studies' command line (bench/study-cli.ts): `--help` prints the usage and exits 0 before loading
 * anything; an unknown flag or a bad value is one line on stderr and exit code 2, not a stack trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench');
const STUDIES = [
  ['crop-margin.js', 'study:margin'],
  ['enhance-study.js', 'study:enhance'],
  ['enhance-align-study.js', 'study:enhance-align'],
  ['rotation-study.js', 'study:rotation'],
  ['landmark-eval.js', 'eval:landmarks'],
  ['detector-framing-study.js', 'study:detector-framing'],
  ['video-memory.js', 'bench:video-memory'],
  ['web-screenshot.js', 'screenshot:web'],
] as const;

function run(script: string, ...args: string[]) {
  return spawnSync(process.execPath, [join(BENCH, script), ...args], { encoding: 'utf8', timeout: 30_000 });
}

void test('every study prints its usage for --help and refuses an unknown flag with exit code 2', () => {
  for (const [script, name] of STUDIES) {
    const help = run(script, '--help');
    assert.equal(help.status, 0, `${script} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`^Usage: npm run ${name} -- \\[`), script);
    const bad = run(script, '--no-such-flag');
    assert.equal(bad.status, 2, script);
    assert.equal(bad.stderr, `${name}: Unknown option '--no-such-flag' (--help for the usage)\n`);
  }
});

void test('a study refuses a bad value with one line and exit code 2', () => {
  const bad = run('enhance-study.js', '--sizes', '12,99');
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, 'study:enhance: --sizes: expected integers from 1 to 48 but received 12,99\n');
});
