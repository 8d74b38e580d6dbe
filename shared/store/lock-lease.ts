/**
 * Named locks as leases in the platform store (table `lock_leases`), so that instances working on the same
 * thing (a tenant) take turns, without pinning a pool connection for the time the lock is held.
 *
 * Why a lease and not a session advisory lock: a session lock lives on one connection, so every operation
 * holding one keeps a pool connection checked out for its whole saga (seconds of Keycloak, Kubernetes and
 * Grafana calls); with `containerConcurrency` operations in flight the pool runs dry and the next statement
 * (an audit write, another tenant's lock) waits for a connection until pg-pool gives up. A lease uses a
 * connection only for single short statements: acquire, renew, release.
 *
 * - Acquire: one INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at < now(), autocommitted. Concurrent
 *   attempts on the same name serialise on the primary key's row lock, and the WHERE is evaluated on the
 *   latest committed row: exactly one attempt gets a row back (a fresh insert, or the takeover of an
 *   expired lease); the others get none and wait.
 * - Wait: the loser polls with jittered exponential backoff (no connection held between attempts) until the
 *   lock is free or the wait bound passes; then it fails with a retryable 409, never a 5xx.
 * - Hold: a random owner token identifies the holder; the lease is renewed every third of its length while
 *   the work runs. A holder that dies stops renewing, and the lock is free again within one lease length.
 * - Release: DELETE ... WHERE owner = token, so a holder whose lease expired and was taken over cannot free
 *   the new holder's lock. If the release fails, the lease simply expires.
 * - Lost lease: if a renewal finds the row gone or owned by someone else, or none succeeded for a whole
 *   lease length (database unreachable), the holder's `lost` signal is aborted; the work may check it at its
 *   next safe point.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { postgresError } from '../adapters/postgres/errors.ts';
import { PlatformError } from '../platform/errors.ts';

export interface LeaseSettings {
  /** How long a lease lasts without renewal: the longest a dead holder keeps the lock. */
  readonly leaseMs: number;
  /** How long a caller waits for a held lock when it names no deadline of its own. */
  readonly waitMs: number;
}

/** What `fn` gets while it holds the lock. */
export interface HeldLock {
  readonly name: string;
  /** Aborted when the lease was lost (expired and possibly taken over): stop at the next safe point. */
  readonly lost: AbortSignal;
}

/** How long one call may wait for the lock. */
export interface LockWait {
  /** Epoch milliseconds after which the caller stops waiting (e.g. its request's deadline). */
  readonly until?: number;
  /** Stops waiting when aborted (the request was cancelled, the instance shuts down). */
  readonly signal?: AbortSignal;
}

/** Seconds a caller turned away by a held lock is told to wait before retrying. */
export const LOCK_BUSY_RETRY_AFTER_SECONDS = 5;

const FIRST_POLL_MS = 20;
const LONGEST_POLL_MS = 250;

async function tryAcquire(
  pool: pg.Pool,
  table: string,
  name: string,
  owner: string,
  leaseMs: number,
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `INSERT INTO ${table} (name, owner, expires_at)
     VALUES ($1, $2, now() + make_interval(secs => $3))
     ON CONFLICT (name) DO UPDATE
        SET owner = EXCLUDED.owner, acquired_at = now(), expires_at = EXCLUDED.expires_at
      WHERE ${table}.expires_at < now()`,
    [name, owner, leaseMs / 1000],
  );
  return rowCount === 1;
}

/** Polls until the lock is ours; throws a retryable 409 when the wait bound passes first. */
async function acquire(
  pool: pg.Pool,
  table: string,
  name: string,
  owner: string,
  settings: LeaseSettings,
  wait: LockWait,
): Promise<void> {
  const until = wait.until ?? Date.now() + settings.waitMs;
  for (let attempt = 0; ; attempt++) {
    const acquired = await tryAcquire(pool, table, name, owner, settings.leaseMs).catch((error: unknown) => {
      throw postgresError(error, `lock ${name}`);
    });
    if (acquired) return;
    const remaining = until - Date.now();
    if (remaining <= 0)
      throw new PlatformError({
        reason: 'conflict',
        message: `${name} is busy: another operation on it is still running; retry later`,
        retryable: true,
        retryAfterSeconds: LOCK_BUSY_RETRY_AFTER_SECONDS,
      });
    const backoff = Math.min(LONGEST_POLL_MS, FIRST_POLL_MS * 2 ** attempt);
    const delay = Math.min(remaining, backoff / 2 + Math.random() * (backoff / 2));
    try {
      await sleep(delay, undefined, wait.signal === undefined ? {} : { signal: wait.signal });
    } catch {
      throw new PlatformError({
        reason: 'unavailable',
        message: `stopped waiting for ${name}: the request was cancelled`,
      });
    }
  }
}

/** Runs `fn` holding the lease `name`; see the module comment for the protocol. */
export async function withLease<T>(
  pool: pg.Pool,
  table: string,
  name: string,
  settings: LeaseSettings,
  wait: LockWait,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const owner = randomUUID();
  await acquire(pool, table, name, owner, settings, wait);

  const lost = new AbortController();
  let renewedAt = Date.now();
  let renewal: Promise<void> = Promise.resolve();
  const renew = async (): Promise<void> => {
    try {
      const { rowCount } = await pool.query(
        `UPDATE ${table} SET expires_at = now() + make_interval(secs => $3) WHERE name = $1 AND owner = $2`,
        [name, owner, settings.leaseMs / 1000],
      );
      if (rowCount === 1) renewedAt = Date.now();
      else lost.abort(new PlatformError({ reason: 'conflict', message: `lost the lock ${name}` }));
    } catch {
      // Unreachable database: try again at the next tick, unless the lease has run out meanwhile.
      if (Date.now() - renewedAt >= settings.leaseMs)
        lost.abort(new PlatformError({ reason: 'unavailable', message: `could not renew the lock ${name}` }));
    }
  };
  const timer = setInterval(
    () => {
      if (!lost.signal.aborted) renewal = renewal.then(renew);
    },
    Math.max(1, Math.floor(settings.leaseMs / 3)),
  );
  timer.unref();
  try {
    return await fn({ name, lost: lost.signal });
  } finally {
    clearInterval(timer);
    await renewal;
    await pool
      .query(`DELETE FROM ${table} WHERE name = $1 AND owner = $2`, [name, owner])
      .catch(() => undefined); // the lease expires on its own
  }
}
