/**
 * Connecting to Redis for the queue: the ioredis options for BullMQ (workers retry forever, clients fail
 * fast), a first connection that proves Redis is reachable before anything else starts, and the check of
 * its eviction policy. Every error leaves here as a coded MoodLensError without the password.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { MoodLensError, isMoodLensError } from '../core/errors.js';
import { redact, type RedisTarget } from './redis-url.js';

/** How long a first connection may take before Redis counts as unreachable. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** Who uses the connection: a worker rides out Redis restarts, a command-line client reports them. */
export type ConnectionRole = 'worker' | 'client' | 'service';

/** The ioredis options for `target` (BullMQ builds its own connections from these). */
export function redisOptions(target: RedisTarget, role: ConnectionRole): RedisOptions {
  return {
    host: target.host,
    port: target.port,
    db: target.db,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    // SNI and certificate checks use the host name as given.
    ...(target.tls ? { tls: { servername: target.host } } : {}),
    connectTimeout: CONNECT_TIMEOUT_MS,
    // BullMQ requires null for workers (their blocking commands must wait across reconnects); clients
    // fail a command after one retry, so a dead Redis is reported instead of waited for.
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    ...(role === 'client' ? { retryStrategy: (times: number) => (times > 3 ? null : 200 * times) } : {}),
  };
}

/** The coded error for a Redis that cannot be used, with the cause's message (redacted). */
export function queueUnavailable(target: RedisTarget, cause: unknown): MoodLensError {
  if (isMoodLensError(cause)) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new MoodLensError(
    'MOODLENS_ERR_QUEUE_UNAVAILABLE',
    `Redis at ${target.display} cannot be used: ${redact(reason, target.secrets)}`,
  );
}

/** What the first connection learnt. */
export interface RedisCheck {
  /** Redis's `maxmemory-policy`, or undefined when the server does not let us read it (managed Redis). */
  readonly evictionPolicy: string | undefined;
  /** Lines to show the user (the eviction warning), already redacted. */
  readonly warnings: readonly string[];
}

/** The warning for an eviction policy other than noeviction (pure, for tests). */
export function evictionWarning(policy: string | undefined): string | undefined {
  if (policy === undefined) {
    return (
      'could not read Redis maxmemory-policy (CONFIG GET is not allowed): make sure it is noeviction, ' +
      'or Redis may delete queued jobs and results when it runs out of memory'
    );
  }
  if (policy === 'noeviction') return undefined;
  return (
    `Redis maxmemory-policy is ${policy}, not noeviction: when Redis runs out of memory it may delete ` +
    'queued jobs and results. Set it with `redis-server --maxmemory-policy noeviction` (or ' +
    '`CONFIG SET maxmemory-policy noeviction`)'
  );
}

/**
 * Connects once (no retries), pings and reads the eviction policy, then disconnects.
 * @throws MoodLensError `MOODLENS_ERR_QUEUE_UNAVAILABLE` when Redis is unreachable or refuses us.
 */
export async function checkRedis(target: RedisTarget): Promise<RedisCheck> {
  const redis = new Redis({
    ...redisOptions(target, 'client'),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // The 'error' event carries the real cause (ECONNREFUSED, WRONGPASS); the rejected promises below
  // often only say "Connection is closed". Without a listener ioredis would print it itself.
  let lastError: unknown;
  redis.on('error', (error) => (lastError = error));
  try {
    await redis.connect();
    await redis.ping();
    let evictionPolicy: string | undefined;
    try {
      const reply = await redis.config('GET', 'maxmemory-policy');
      if (Array.isArray(reply) && typeof reply[1] === 'string') evictionPolicy = reply[1];
    } catch {
      evictionPolicy = undefined;
    }
    const warning = evictionWarning(evictionPolicy);
    return { evictionPolicy, warnings: warning === undefined ? [] : [warning] };
  } catch (error) {
    throw queueUnavailable(target, lastError ?? error);
  } finally {
    redis.disconnect();
  }
}
