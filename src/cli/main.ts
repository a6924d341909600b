import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MoodLensError, isMoodLensError } from '../core/errors.js';
import { errnoCode, explainErrno } from '../io/node/file-errors.js';

/**
 * The command line of MoodLens. `runCli` takes the arguments after `moodlens` and an injected stdio, so
 * tests run it in-process; `main` binds it to the real process. Subcommands live in their own modules,
 * loaded on demand, and register in `COMMANDS` below.
 */

/** Injected stdio: `stdout` and `stderr` receive raw text (callers add the newlines). */
export interface CliIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** Whether stderr is a terminal (progress bars redraw in place only then). */
  readonly isTTY: boolean;
}

/** One subcommand: `moodlens <name> ...`. */
export interface CliCommand {
  readonly name: string;
  /** Full text of `moodlens <name> --help`, ending with a newline. */
  readonly help: string;
  /** Runs with the arguments after the command name (never containing --help); returns the exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

interface CommandEntry {
  readonly name: string;
  /** One line for `moodlens --help`. */
  readonly summary: string;
  readonly load: () => Promise<CliCommand>;
}

/** The subcommands, in the order `moodlens --help` lists them. Modules load only when their command runs. */
const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'detect',
    summary: 'Find faces in images with the Haar cascade',
    load: async () => (await import('./detect-command.js')).detectCommand,
  },
  {
    name: 'landmarks',
    summary: 'Find faces and their 68 landmarks (iBUG 300-W points)',
    load: async () => (await import('./landmarks-command.js')).landmarksCommand,
  },
  {
    name: 'enhance',
    summary: 'Restore small faces with the FSRNet super-resolution model (PNG pictures)',
    load: async () => (await import('./enhance-command.js')).enhanceCommand,
  },
  {
    name: 'analyze',
    summary: 'Detect faces, classify their emotion and write labelled copies',
    load: async () => (await import('./analyze-command.js')).analyzeCommand,
  },
  {
    name: 'evaluate',
    summary: 'Measure the emotion model on labelled faces (image folder or fer2013.csv)',
    load: async () => (await import('./evaluate-command.js')).evaluateCommand,
  },
  {
    name: 'evaluate-detector',
    summary: 'Measure a face detector (learned or Haar) on photos with labelled boxes',
    load: async () => (await import('./evaluate-detector-command.js')).evaluateDetectorCommand,
  },
  {
    name: 'video',
    summary: 'Follow faces through a video: frames.csv, labelled.mp4, report.html, stills',
    load: async () => (await import('./video-command.js')).videoCommand,
  },
  {
    name: 'report',
    summary: 'Per-person screening summary (HTML + JSON) from frames.csv or JSON records',
    load: async () => (await import('./report-command.js')).reportCommand,
  },
  {
    name: 'serve',
    summary: 'Serve the HTTP API and MoodLens live, the in-browser webcam app',
    load: async () => (await import('./serve-command.js')).serveCommand,
  },
  {
    name: 'queue',
    summary: 'Queue photos and videos on Redis for workers anywhere: add, status, results',
    load: async () => (await import('./queue-command.js')).queueCommand,
  },
  {
    name: 'worker',
    summary: 'Run queued jobs (moodlens queue add) from Redis, as analyze and video would',
    load: async () => (await import('./worker-command.js')).workerCommand,
  },
];

/** Exit codes of every command. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The package version, read from the package's own package.json (not the working directory's). */
export function packageVersion(): string {
  const url = new URL('../../../package.json', import.meta.url);
  const parsed = JSON.parse(readFileSync(url, 'utf8')) as { version?: unknown };
  return typeof parsed.version === 'string' ? parsed.version : 'unknown';
}

function topLevelHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: moodlens <command> [options]',
    '',
    'Facial emotion recognition from the command line.',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  -h, --help     Show this help (or `moodlens <command> --help` for a command)',
    '  -v, --version  Print the version',
    '',
    'Exit codes: 0 success, 1 an input or model failed, 2 usage error.',
    '',
  ].join('\n');
}

/** Runs `moodlens <argv...>` and returns the exit code. Never throws for expected failures. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr(topLevelHelp());
    return EXIT_USAGE;
  }
  if (first === '-h' || first === '--help') {
    io.stdout(topLevelHelp());
    return EXIT_OK;
  }
  if (first === '-v' || first === '--version') {
    io.stdout(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  if (first === 'help') {
    if (rest.length === 0) {
      io.stdout(topLevelHelp());
      return EXIT_OK;
    }
    return runCli([rest[0], '--help'], io);
  }
  if (first.startsWith('-')) {
    return reportUsageError(io, 'moodlens', `Unknown option '${first}'. Give a command first.`);
  }
  const entry = COMMANDS.find((c) => c.name === first);
  if (entry === undefined) {
    const names = COMMANDS.map((c) => c.name).join(', ');
    return reportUsageError(io, 'moodlens', `Unknown command '${first}'. Commands: ${names}.`);
  }
  const command = await entry.load();
  if (wantsHelp(rest)) {
    io.stdout(command.help);
    return EXIT_OK;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (isMoodLensError(error)) {
      if (error.code === 'MOODLENS_ERR_INVALID_ARGUMENT') {
        return reportUsageError(io, `moodlens ${command.name}`, error.message);
      }
      io.stderr(`moodlens ${command.name}: ${error.message} (${error.code})\n  ${error.hint}\n`);
      return error.exitCode;
    }
    const systemError = describeSystemError(error);
    if (systemError !== undefined) {
      // An operating-system failure no code path above anticipated: a clear line, not a stack trace.
      io.stderr(`moodlens ${command.name}: ${systemError}\n`);
      return EXIT_FAILURE;
    }
    io.stderr(`moodlens ${command.name}: internal error: ${describeUnexpected(error)}\n`);
    return EXIT_FAILURE;
  }
}

/** `open /a/b: permission denied (EACCES)` for a Node system error (errno code and syscall), else undefined. */
function describeSystemError(error: unknown): string | undefined {
  const code = errnoCode(error);
  const { syscall, path } = (error ?? {}) as { syscall?: unknown; path?: unknown };
  if (code === undefined || typeof syscall !== 'string') return undefined;
  return `${syscall}${typeof path === 'string' ? ` ${path}` : ''}: ${explainErrno(code)} (${code})`;
}

/** `--help` or `-h` anywhere before a `--` terminator. */
function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

function reportUsageError(io: CliIo, prefix: string, message: string): number {
  const helpCommand = prefix === 'moodlens' ? 'moodlens --help' : `${prefix} --help`;
  io.stderr(`${prefix}: ${message}\nRun '${helpCommand}' for usage.\n`);
  return EXIT_USAGE;
}

function describeUnexpected(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/** A usage error: commands throw it, `runCli` prints it with a pointer to --help and exits 2. */
export function usageError(message: string): MoodLensError {
  return new MoodLensError('MOODLENS_ERR_INVALID_ARGUMENT', message);
}

/** A flag of a subcommand: `--name VALUE` (string) or `--name` (boolean), optionally with a `-x` alias. */
export interface CommandOption {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
}

/** The values `parseCommandArgs` returns: a string or boolean per flag given, absent when not given. */
export type CommandOptionValues<O extends Record<string, CommandOption>> = {
  readonly [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string;
};

/**
 * `parseArgs` in strict mode with positionals allowed, turning its errors into usage errors. Values that
 * look like negative numbers are accepted after options listed in `numericOptions` (`--min-size -1` is
 * then read as a value, so the range check can name the flag, instead of as an unknown option).
 */
export function parseCommandArgs<const O extends Record<string, CommandOption>>(
  args: readonly string[],
  options: O,
  numericOptions: readonly (keyof O & string)[] = [],
): { values: CommandOptionValues<O>; positionals: string[] } {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const next = args[i + 1];
    if (arg === '--') {
      joined.push(...args.slice(i));
      break;
    }
    if (
      arg.startsWith('--') &&
      numericOptions.includes(arg.slice(2)) &&
      next !== undefined &&
      /^-[\d.]/.test(next)
    ) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  try {
    const { values, positionals } = parseArgs({
      args: joined,
      options,
      strict: true,
      allowPositionals: true,
    });
    return { values, positionals };
  } catch (error) {
    if (
      error instanceof TypeError &&
      String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')
    ) {
      throw usageError(error.message.split('\n')[0]);
    }
    throw error;
  }
}

const NUMBER_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Reads a decimal number given to `flag`, or throws a usage error naming the flag and what arrived. */
export function parseNumberOption(flag: string, raw: string, kind: 'number' | 'integer' = 'number'): number {
  const value = NUMBER_PATTERN.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(value) || (kind === 'integer' && !Number.isInteger(value))) {
    throw usageError(
      `Expected ${kind === 'integer' ? 'an integer' : 'a number'} for ${flag} but received '${raw}'`,
    );
  }
  return value;
}

/** Binds `runCli` to the real process; returns the exit code (the bin shim sets `process.exitCode`). */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  // A closed pipe on stdout (`moodlens detect ... | head`) ends the output quietly rather than crashing.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  return runCli(argv, {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    isTTY: process.stderr.isTTY === true,
  });
}
