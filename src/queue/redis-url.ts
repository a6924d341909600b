/**
 * The `--redis URL` of the queue commands: parsed into ioredis connection options, and every way of
 * showing it or a message about it with the password replaced by `***`. Pure: no connection is made here.
 */
import { MoodLensError } from '../core/errors.js';

/** What ioredis needs to connect (BullMQ passes these on to ioredis). */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  /** `rediss://`: TLS, verified against the system's CAs (and NODE_EXTRA_CA_CERTS). */
  readonly tls: boolean;
  /** The URL as it may be printed: the password replaced by `***`. */
  readonly display: string;
  /** The strings that must never be printed (the password, raw and percent-encoded). */
  readonly secrets: readonly string[];
}

export const DEFAULT_REDIS_PORT = 6379;

/** The placeholder printed in place of a password. */
export const REDACTED = '***';

function invalid(message: string): MoodLensError {
  return new MoodLensError('MOODLENS_ERR_INVALID_ARGUMENT', message);
}

/** The password part of `scheme://user:password@...`, found without a URL parser (for unparsable input). */
function rawPassword(text: string): string | undefined {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^/@:]*:([^/@]*)@/i.exec(text);
  return match === null || match[1] === '' ? undefined : match[1];
}

function decodeOrKeep(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The secrets of a URL even when it does not parse: never echo what the user typed as a password. */
export function secretsOf(text: string): string[] {
  const raw = rawPassword(text);
  if (raw === undefined) return [];
  return [...new Set([raw, decodeOrKeep(raw)])].filter((s) => s !== '');
}

/** Replaces every secret in `text` by `***` (longest first, so an encoded form is not half-replaced). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret !== '') out = out.split(secret).join(REDACTED);
  }
  return out;
}

/**
 * Parses `redis://[user[:password]@]host[:port][/db]` or `rediss://...` (TLS).
 * @throws MoodLensError `MOODLENS_ERR_INVALID_ARGUMENT` naming the problem, never the password.
 */
export function parseRedisUrl(text: string): RedisTarget {
  const secrets = secretsOf(text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(
      `Expected a Redis URL (redis://host:port or rediss://host:port) for --redis but received ` +
        `'${redact(text, secrets)}'`,
    );
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw invalid(
      `Expected a redis:// or rediss:// URL for --redis but received the scheme '${url.protocol}'`,
    );
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw invalid('Expected a host in the --redis URL but it has none');
  const port = url.port === '' ? DEFAULT_REDIS_PORT : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  const db = path === '' ? 0 : Number(path);
  if (!/^\d*$/.test(path) || !Number.isSafeInteger(db)) {
    throw invalid(`Expected a database number after the host in --redis but received '/${path}'`);
  }
  const username = url.username === '' ? undefined : decodeOrKeep(url.username);
  const password = url.password === '' ? undefined : decodeOrKeep(url.password);
  const allSecrets = [...new Set([...secrets, ...(password === undefined ? [] : [password, url.password])])];
  const auth =
    username === undefined && password === undefined
      ? ''
      : `${url.username}${password === undefined ? '' : `:${REDACTED}`}@`;
  return {
    host,
    port,
    db,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    tls: url.protocol === 'rediss:',
    display: `${url.protocol}//${auth}${url.host}/${db}`,
    secrets: allSecrets,
  };
}
