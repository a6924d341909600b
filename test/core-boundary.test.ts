/** The browser-safe core (`moodlens/core`) must not reach any Node-only module through its imports. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)\s[^;]*?from\s+'([^']+)'/g)].map((m) => m[1]);
}

// The core (`moodlens/core`) and the browser adapters (`moodlens/web`, which the web app bundles).
for (const entry of ['core.ts', 'io/web/index.ts']) {
  void test(`src/${entry} and everything it imports use no node: builtins, sharp or onnxruntime-node`, () => {
    const seen = new Set<string>();
    const forbidden: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of importsOf(file)) {
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else forbidden.push(`${file.slice(SRC.length + 1)} imports ${spec}`);
      }
    };
    visit(resolve(SRC, entry));
    assert.ok(seen.size > 5, `walked ${seen.size} files`);
    assert.deepEqual(forbidden, []);
  });
}
