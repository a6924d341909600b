import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MoodLensError, isMoodLensError } from '../core/errors.js';
import { checkInputFile } from '../io/node/ffmpeg/probe.js';
import { loadModelQuality } from '../io/node/model-card.js';
import { inputFileError } from '../io/node/file-errors.js';
import { checkOutputDirectory, writeOutputFile } from '../io/node/output-path.js';
import { renderReportHtml } from '../report/html.js';
import { parseFrames } from '../report/records.js';
import { buildReport } from '../report/report.js';
import { DEFAULT_MIN_TRACK_SECONDS } from '../report/summary.js';
import {
  EXIT_OK,
  packageVersion,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
} from './main.js';
import { describeSummary } from './video-command.js';

const HELP = `Usage: moodlens report <frames.csv | records.json> [options]

Builds the screening summary of a recorded session from its frame records (the
frames.csv of moodlens video, its --json output, report.json, or the web app's
saved session): per person, the share of time of each emotion, the dominant one,
how often and how fast it changes, the share of negative affect (angry, disgust,
fear, sad) and the longest negative stretch, with a timeline plot. Writes one
self-contained HTML page (no network needed to view it).
A screening aid for a professional, never a diagnosis.

Options:
  --out FILE          The HTML page (default: report.html beside the input)
  --json              Print the summary and timelines as JSON on stdout
  --no-html           Do not write the page (with --json)
  --min-seconds S     People seen for less than S seconds are listed apart as brief
                      tracks, >= 0 (default ${DEFAULT_MIN_TRACK_SECONDS})
  --model FILE        The emotion model the records came from, for its measured
                      accuracy (read from the model card beside it; default: the shipped model;
                      default and accurate name the shipped ones, as in analyze)
  -h, --help          Show this help

Records: CSV with the header frame,time,track,x,y,width,height,label,confidence,
angry,disgust,fear,happy,sad,surprise,neutral, or JSON: an array of records or an
object with a "records" array. A malformed file is refused with the line (CSV) or
record (JSON) and field at fault.
Exit codes: 0 done, 1 the input failed, 2 usage error.

Examples:
  moodlens report out/interview/frames.csv --out interview.html
  moodlens report --json --no-html session.json > summary.json
`;

const OPTIONS = {
  out: { type: 'string' },
  json: { type: 'boolean' },
  'no-html': { type: 'boolean' },
  'min-seconds': { type: 'string' },
  model: { type: 'string' },
} as const;

export async function runReport(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, ['min-seconds']);
  if (positionals.length !== 1) {
    throw usageError(
      positionals.length === 0
        ? 'No records file given'
        : `Expected one records file but received ${positionals.length}`,
    );
  }
  const input = positionals[0];
  for (const flag of ['out', 'model'] as const) {
    if (values[flag] === '') throw usageError(`Expected a path for --${flag} but received an empty string`);
  }
  if (values['no-html'] === true && values.out !== undefined)
    throw usageError('--no-html cannot be combined with --out');
  let minTrackSeconds = DEFAULT_MIN_TRACK_SECONDS;
  if (values['min-seconds'] !== undefined) {
    minTrackSeconds = parseNumberOption('--min-seconds', values['min-seconds']);
    if (minTrackSeconds < 0) {
      throw usageError(`Expected a number >= 0 for --min-seconds but received ${values['min-seconds']}`);
    }
  }
  await checkInputFile(input);
  const htmlOut =
    values['no-html'] === true ? undefined : (values.out ?? join(dirname(input), 'report.html'));
  if (htmlOut !== undefined) await checkOutputDirectory(dirname(htmlOut));
  const text = await readFile(input, 'utf8').catch((error: unknown) => {
    throw inputFileError(input, error);
  });
  const records = namingInput(input, () => parseFrames(text));
  if (records.length === 0) {
    throw new MoodLensError(
      'MOODLENS_ERR_INVALID_FRAMES',
      `${input}: no records (only a header or an empty list)`,
    );
  }
  const report = buildReport(records, {
    minTrackSeconds,
    model: await loadModelQuality(values.model),
    source: {
      file: input,
      generatedAt: new Date().toISOString().slice(0, 19).replace('T', ' '),
      generator: `moodlens ${packageVersion()}`,
    },
  });
  const out = htmlOut;
  if (out !== undefined) await writeOutputFile(out, renderReportHtml(report));
  if (values.json === true) {
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    io.stdout(
      `${input}: ${report.summary.frames} frames, ${report.summary.tracks.filter((t) => !t.brief).length} person(s)\n` +
        describeSummary(report.summary) +
        (out === undefined ? '' : `  -> ${out}\n`),
    );
  }
  if (out !== undefined && values.json === true) io.stderr(`moodlens report: wrote ${out}\n`);
  return EXIT_OK;
}

export const reportCommand: CliCommand = {
  name: 'report',
  help: HELP,
  run: runReport,
};

/** Runs `parse`, putting the input's name in front of a malformed-records error that lacks it. */
function namingInput<T>(input: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (
      isMoodLensError(error) &&
      error.code === 'MOODLENS_ERR_INVALID_FRAMES' &&
      !error.message.includes(input)
    ) {
      throw new MoodLensError(error.code, `${input}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}
