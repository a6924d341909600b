/**
 * `npm run bench`: MoodLens benchmarks, one section per stage (face detection now; emotion model, video
 * and others are added to SECTIONS). Prints tables, or one JSON document with `--json`.
 *
 *   node dist/bench/run.js [--json] [--repeat N] [--warmup N] [--only detect,...]
 */
import { parseArgs } from 'node:util';
import { detectSection } from './detect.js';
import { detectCnnSection } from './detect-cnn.js';
import { describeMachine } from './machine.js';
import { emotionSection } from './emotion.js';
import { enhanceSection } from './enhance.js';
import { videoSection } from './video.js';
import { queueSection } from './queue.js';
import { webSection } from './web.js';

export interface BenchOptions {
  /** Timed runs per measurement; medians are reported. */
  readonly repeat: number;
  /** Untimed runs before the timed ones. */
  readonly warmup: number;
  /** Progress lines (to stderr, so `--json` output stays clean). */
  readonly progress: (line: string) => void;
}

export type Cell = string | number | null;

export interface SectionReport {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
  readonly notes: readonly string[];
  /** Everything measured, for `--json`. */
  readonly data: unknown;
}

export interface BenchSection {
  readonly name: string;
  readonly description: string;
  run(options: BenchOptions): Promise<SectionReport>;
}

/** Add later benchmarks (emotion model, video pipeline, ...) here. */
export const SECTIONS: readonly BenchSection[] = [
  detectSection,
  detectCnnSection,
  emotionSection,
  enhanceSection,
  videoSection,
  webSection,
  queueSection,
];

export function formatTable(columns: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((row) => row.map((cell) => (cell === null ? 'n/a' : String(cell))));
  const widths = columns.map((c, i) => Math.max(c.length, ...text.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...text.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      repeat: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'Usage: node dist/bench/run.js [--json] [--repeat N] [--warmup N] [--only NAME[,NAME]]\n' +
        SECTIONS.map((s) => `  ${s.name}: ${s.description}\n`).join(''),
    );
    return;
  }
  const repeat = Number(values.repeat);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(repeat) || repeat < 1) throw new RangeError(`--repeat: expected an integer >= 1`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new RangeError(`--warmup: expected an integer >= 0`);
  const only = values.only?.split(',').map((s) => s.trim());
  const sections = only ? SECTIONS.filter((s) => only.includes(s.name)) : SECTIONS;
  if (only && sections.length !== only.length) {
    throw new RangeError(
      `--only: unknown section in ${values.only}; known: ${SECTIONS.map((s) => s.name).join(', ')}`,
    );
  }

  const machine = await describeMachine();
  const options: BenchOptions = { repeat, warmup, progress: (line) => process.stderr.write(`${line}\n`) };
  if (!values.json) {
    process.stdout.write(
      `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}; ` +
        `Node ${machine.node}; OpenCV ${machine.opencv ?? 'not available'}\n` +
        `Medians of ${repeat} runs after ${warmup} warm-up run(s).\n`,
    );
  }
  const reports: Record<string, SectionReport> = {};
  for (const section of sections) {
    const report = await section.run(options);
    reports[section.name] = report;
    if (!values.json) {
      process.stdout.write(`\n## ${report.title}\n\n${formatTable(report.columns, report.rows)}\n`);
      for (const note of report.notes) process.stdout.write(`${note}\n`);
    }
  }
  if (values.json) {
    const sectionsJson = Object.fromEntries(Object.entries(reports).map(([name, r]) => [name, r.data]));
    process.stdout.write(`${JSON.stringify({ machine, repeat, warmup, sections: sectionsJson }, null, 2)}\n`);
  }
}

main().catch((error: unknown) => {
  // Usage errors are RangeErrors: their message says it all; anything else gets its stack.
  const text =
    error instanceof RangeError
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
  process.stderr.write(`bench: ${text}\n`);
  process.exitCode = 1;
});
