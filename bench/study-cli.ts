/**
 * The command line of the studies and one-off measurements in bench/ (`npm run study:*`, `eval:landmarks`,
 * `bench:video-memory`, `screenshot:web`): `--help` prints the usage; an unknown flag or a bad value is one
 * line on stderr and exit code 2, any other failure one line and exit code 1; never a stack trace.
 */
import process from 'node:process';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A flag or value the study cannot take: exit code 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;
type StrictConfig<T extends Options> = { args: string[]; options: T; strict: true; allowPositionals: false };
/** The parsed flags, typed from the option table as `parseArgs` types them. */
export type StudyValues<T extends Options> = ReturnType<typeof parseArgs<StrictConfig<T>>>['values'];

/**
 * The study's flags (strict: no unknown flag, no positional). With `--help` or `-h` prints `usage` and ends
 * the process (exit code 0) before anything is loaded.
 */
export function studyArgs<T extends Options>(usage: string, options: T): StudyValues<T> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)} (--help for the usage)`);
  }
}

/** Runs the study; a failure is reported as `name: message`, exit code 2 for bad input, else 1. */
export function runStudy(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    const badInput = error instanceof UsageError || error instanceof RangeError;
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = badInput ? 2 : 1;
  });
}
