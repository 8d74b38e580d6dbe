/**
 * The PostgreSQL connection pool of a function instance. Every pool gets an 'error' listener: without one,
 * an idle connection dropped by the server (restart, failover, idle timeout) crashes the process.
 * Server-side limits (statement_timeout, lock_timeout, idle_in_transaction_session_timeout) are sent as
 * startup options, so a stuck query, a lock held elsewhere or a transaction left open by a bug cannot hold
 * anything for long. They do not help against a server that does not answer at all (frozen, or a network
 * that drops packets): for that the client bounds each query itself (pg's query_timeout, a little above
 * statement_timeout so that a live server's own cancellation is what normally answers), bounds connecting
 * and waiting for a pooled connection (connectionTimeoutMillis), and turns TCP keepalive on.
 */
import pg from 'pg';
import { DATABASE_CLIENT_MARGIN_MS, type CallTimeouts } from '../../platform/config.ts';
import { postgresError, QUERY_READ_TIMEOUT } from './errors.ts';

/** What the pool logs through; a pino logger fits. */
export interface PoolLogger {
  warn(fields: object, message: string): void;
}

export interface PoolOptions {
  readonly connectionString: string;
  /**
   * Connections per instance; default 5. Functions pass poolSizeFor(MAX_CONCURRENT_OPERATIONS): see there.
   */
  readonly max?: number;
  readonly applicationName?: string;
  /** Server-side limit for one statement; default 30 s. The client waits 2 s more (query_timeout). */
  readonly statementTimeoutMs?: number;
  /** Server-side limit for waiting on a lock another session holds; default 10 s. */
  readonly lockTimeoutMs?: number;
  /** Server-side limit for a transaction left idle (open, no query running); default 60 s. */
  readonly idleInTransactionTimeoutMs?: number;
  /** How long to wait for a connection (new or from the pool); default 10 s. */
  readonly connectionTimeoutMs?: number;
  /** How long an unused connection stays open; default 30 s (instances scale to zero). */
  readonly idleTimeoutMs?: number;
  readonly log: PoolLogger;
}

/**
 * The pool size for an instance running `maxConcurrentOperations` operations at once: one connection each.
 * An operation holds at most one pool connection at a time, and only for one statement or one short
 * transaction (an idempotency claim, a lock lease's acquire/renew/release, an audit write): no lock pins a
 * connection while the operation calls Keycloak, Kubernetes or Grafana. So with this size no operation
 * waits for a connection because of its neighbours; a pool wait timeout then means the database itself is
 * slow, and is reported as busy (503 with Retry-After). pg-pool opens connections only when all open ones
 * are in use and closes idle ones after idleTimeoutMs, so the database sees the connections actually used
 * at once; the worst case it must allow is instances x MAX_CONCURRENT_OPERATIONS (docs/configuration.md).
 */
export function poolSizeFor(maxConcurrentOperations: number): number {
  return Math.max(1, maxConcurrentOperations);
}

/** The pool options of the configured database timeouts (DATABASE_*_TIMEOUT_SECONDS). */
export function poolTimeouts(
  timeouts: Pick<CallTimeouts, 'databaseConnectMs' | 'databaseStatementMs' | 'databaseLockMs'>,
): Pick<PoolOptions, 'connectionTimeoutMs' | 'statementTimeoutMs' | 'lockTimeoutMs'> {
  return {
    connectionTimeoutMs: timeouts.databaseConnectMs,
    statementTimeoutMs: timeouts.databaseStatementMs,
    lockTimeoutMs: timeouts.databaseLockMs,
  };
}

export function createPool(options: PoolOptions): pg.Pool {
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 5,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    application_name: options.applicationName ?? 'tenant-lifecycle',
    statement_timeout: statementTimeoutMs,
    lock_timeout: options.lockTimeoutMs ?? 10_000,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 60_000,
    query_timeout: statementTimeoutMs + DATABASE_CLIENT_MARGIN_MS,
    keepAlive: true,
  });
  // The error carries no connection string; `postgresError` keeps pg's error as `cause` for the log.
  pool.on('error', (error) => {
    options.log.warn(
      { err: postgresError(error, 'idle connection') },
      'postgres: an idle connection failed; the pool replaces it',
    );
  });
  return pool;
}

/**
 * Runs `fn` in a transaction on one connection: COMMIT on success, ROLLBACK on failure, always released.
 * A connection that broke on the way (killed by the server, network gone) is destroyed, not reused.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect().catch((error: unknown) => {
    throw postgresError(error, 'connect');
  });
  // An object, not a `let`: the listener below sets it, which control-flow analysis cannot see.
  const connection = { broken: false };
  // pg-pool removes its own 'error' listener while a client is checked out, and a connection that ends
  // then emits 'error' on the client: without this listener that is an uncaught exception, which ends the
  // process. The running query (or the next one) fails with the same error, so `fn` still sees it.
  const onError = (): void => {
    connection.broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // A query the server did not answer in time is still in flight on this connection: a ROLLBACK would
    // queue behind it and wait as long again. The connection is dropped instead, which ends the server's
    // transaction too.
    if (error instanceof Error && error.message === QUERY_READ_TIMEOUT) connection.broken = true;
    if (!connection.broken) {
      try {
        await client.query('ROLLBACK');
      } catch {
        connection.broken = true; // the connection is gone: do not return it to the pool
      }
    }
    throw error;
  } finally {
    client.removeListener('error', onError);
    client.release(connection.broken);
  }
}
