/**
 * What a newcomer meets first: an install that skips onnxruntime-node's CUDA download on any npm, a Node
 * floor in package.json that every installed package accepts (an older Node is refused at install),
 * `npx moodlens` without npm warnings, and `kill` on `npx moodlens serve &` stopping the server too.
 */
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL = join(ROOT, 'test', 'fixtures', 'tiny-emotion.onnx');
const run = promisify(execFile);

interface Semver {
  subset(sub: string, dom: string): boolean;
  satisfies(version: string, range: string): boolean;
}
// semver comes with npm's own tooling in node_modules (eslint, vite and others depend on it).
const semver = createRequire(join(ROOT, 'package.json'))('semver') as Semver;

interface LockPackage {
  readonly engines?: { readonly node?: string };
}

void test('package.json’s Node range is within every installed package’s, and this Node meets it', () => {
  const floor = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  ).engines.node;
  assert.ok(semver.satisfies(process.version, floor), `${process.version} outside ${floor}`);
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockPackage>;
  };
  assert.equal(lock.packages[''].engines?.node, floor, 'package-lock.json records the same range');
  const narrower: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    const wants = entry.engines?.node;
    // Optional platform packages that are not installed here (another OS or CPU) do not count.
    if (path === '' || wants === undefined || !existsSync(join(ROOT, path))) continue;
    if (!semver.subset(floor, wants)) narrower.push(`${path} wants ${wants}`);
  }
  assert.deepEqual(narrower, [], `raise engines.node (${floor}) or replace these packages`);
});

void test('the project config skips onnxruntime-node’s CUDA download on every npm, and refuses an old Node', async () => {
  // npm 11 honours package.json's allowScripts; older npm runs the install step unless the key says skip.
  const allow = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { allowScripts: Record<string, boolean> }
  ).allowScripts;
  assert.equal(allow['onnxruntime-node'], false);
  const { stdout, stderr } = await run(
    'npm',
    ['config', 'get', 'onnxruntime-node-install', 'engine-strict'],
    {
      cwd: ROOT,
    },
  );
  assert.equal(stdout, 'onnxruntime-node-install=skip\nengine-strict=true\n');
  assert.equal(stderr, '');
});

void test('npx moodlens prints what the command prints, and no npm warning', async () => {
  const { stdout, stderr } = await run('npx', ['--no-install', 'moodlens', '--version'], { cwd: ROOT });
  assert.match(stdout, /^\d+\.\d+\.\d+\n$/);
  assert.equal(stderr, '');
});

void test('kill on `npx moodlens serve &` stops the server as well as npm', async () => {
  // Marks the server's environment, so that a server left running by a failure can be found and stopped.
  const mark = `moodlens-install-test-${process.pid}-${Date.now()}`;
  const npx = spawn(
    'npx',
    ['--no-install', 'moodlens', 'serve', '--port', '0', '--workers', '1', '--model', MODEL],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, MOODLENS_TEST_MARK: mark } },
  );
  try {
    let stdout = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${stdout}`)), 30_000);
      npx.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match !== null) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    });
    assert.equal((await fetch(new URL('/healthz', url))).status, 200);
    npx.kill('SIGTERM');
    let stopped = false;
    for (let i = 0; i < 100 && !stopped; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      stopped = await fetch(new URL('/healthz', url)).then(
        () => false,
        () => true,
      );
    }
    assert.ok(stopped, 'the server still answers 10 s after npx was killed');
  } finally {
    npx.stdout.destroy();
    npx.kill('SIGKILL');
    killMarked(mark);
  }
});

/** SIGKILLs every process whose environment holds `mark` (Linux /proc; elsewhere nothing). */
function killMarked(mark: string): void {
  if (!existsSync('/proc')) return;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(`MOODLENS_TEST_MARK=${mark}`)) {
        process.kill(Number(pid), 'SIGKILL');
      }
    } catch {
      // Gone already, or not ours to read.
    }
  }
}
