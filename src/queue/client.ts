/**
 * A BullMQ Queue handle for the commands that only read or add (`queue add/status/results`, the HTTP
 * routes): Redis is checked first (reachable, eviction policy), and every failure of the queue's
 * commands becomes `MOODLENS_ERR_QUEUE_UNAVAILABLE` without the password.
 */
import { Queue } from 'bullmq';
import { checkRedis, queueUnavailable, redisOptions, type ConnectionRole } from './connection.js';
import { QUEUE_NAME } from './jobs.js';
import type { RedisTarget } from './redis-url.js';

export interface QueueClient {
  readonly queue: Queue;
  /** Warnings from the connection check (eviction policy), redacted. */
  readonly warnings: readonly string[];
  close(): Promise<void>;
}

/** Checks Redis and opens the queue; `role` 'service' keeps reconnecting (a long-running server). */
export async function openQueue(target: RedisTarget, role: ConnectionRole = 'client'): Promise<QueueClient> {
  const { warnings } = await checkRedis(target);
  const queue = new Queue(QUEUE_NAME, { connection: redisOptions(target, role) });
  // Connection errors surface through the failing commands (coded there); this keeps Node from
  // treating them as unhandled 'error' events.
  queue.on('error', () => undefined);
  return {
    queue,
    warnings,
    close: () => queue.close().catch(() => undefined),
  };
}

/** Runs `fn` on an open queue, closing it after; failures of Redis itself are coded. */
export async function withQueue<T>(target: RedisTarget, fn: (client: QueueClient) => Promise<T>): Promise<T> {
  const client = await openQueue(target);
  try {
    return await fn(client);
  } catch (error) {
    throw isRedisFailure(error) ? queueUnavailable(target, error) : error;
  } finally {
    await client.close();
  }
}

/** Whether an error comes from Redis or the connection to it (anything else is ours and propagates). */
export function isRedisFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    ['MaxRetriesPerRequestError', 'ReplyError', 'AbortError'].includes(error.name) ||
    (typeof code === 'string' &&
      /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)$/.test(
        code,
      )) ||
    /Connection is closed|Stream isn't writeable|connect ETIMEDOUT|NOAUTH|WRONGPASS/i.test(error.message)
  );
}

/** Jobs per state, as `moodlens queue status` shows them. */
export interface QueueCounts {
  readonly waiting: number;
  readonly active: number;
  readonly completed: number;
  readonly failed: number;
  readonly total: number;
}

export async function queueCounts(queue: Queue): Promise<QueueCounts> {
  const c = await queue.getJobCounts(
    'waiting',
    'active',
    'completed',
    'failed',
    'delayed',
    'prioritized',
    'paused',
    'waiting-children',
  );
  // Jobs waiting for a retry (delayed) or held back are still to do: counted as waiting.
  const waiting =
    (c.waiting ?? 0) +
    (c.delayed ?? 0) +
    (c.prioritized ?? 0) +
    (c.paused ?? 0) +
    (c['waiting-children'] ?? 0);
  const active = c.active ?? 0;
  const completed = c.completed ?? 0;
  const failed = c.failed ?? 0;
  return { waiting, active, completed, failed, total: waiting + active + completed + failed };
}
