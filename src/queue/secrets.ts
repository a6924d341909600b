/**
 * Keeping the Redis password out of everything a queue command prints: its stdout and stderr lines, and
 * the errors it throws (which `runCli` prints). The secrets are taken from the raw arguments and the
 * environment before anything is parsed, so even a usage error cannot echo them.
 */
import { MoodLensError, isMoodLensError } from '../core/errors.js';
import type { CliIo } from '../cli/main.js';
import { redact, secretsOf } from './redis-url.js';

/** The environment variable read when `--redis` is not given (keeps the password out of `ps`). */
export const REDIS_URL_ENV = 'MOODLENS_REDIS_URL';

/** Passwords in any argument (`--redis URL`, `--redis=URL`) or in MOODLENS_REDIS_URL. */
export function secretsInArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const values = args.map((arg) =>
    arg.startsWith('--') && arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : arg,
  );
  const fromEnv = env[REDIS_URL_ENV];
  return [...new Set([...values, ...(fromEnv === undefined ? [] : [fromEnv])].flatMap(secretsOf))];
}

/** An io whose every line has the secrets replaced by `***`. */
export function redactingIo(io: CliIo, secrets: readonly string[]): CliIo {
  if (secrets.length === 0) return io;
  return {
    stdout: (s) => io.stdout(redact(s, secrets)),
    stderr: (s) => io.stderr(redact(s, secrets)),
    isTTY: io.isTTY,
  };
}

/** Runs `fn`, rethrowing any error with the secrets replaced in its message (and stack). */
export async function withoutSecrets<T>(secrets: readonly string[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (secrets.length === 0) throw error;
    if (isMoodLensError(error)) throw new MoodLensError(error.code, redact(error.message, secrets));
    const clean = new Error(redact(error instanceof Error ? error.message : String(error), secrets));
    clean.stack = redact(error instanceof Error ? (error.stack ?? clean.message) : clean.message, secrets);
    throw clean;
  }
}
