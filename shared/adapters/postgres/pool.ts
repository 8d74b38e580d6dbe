/**
 * The PostgreSQL connection pool of a function instance. Every pool gets an 'error' listener: without one,
 * an idle connection dropped by the server (restart, failover, idle timeout) crashes the process.
 */
import pg from 'pg';
import { postgresError } from './errors.ts';

export interface PoolLogger {
  warn(fields: object, message: string): void;
}

export interface PoolOptions {
  readonly connectionString: string;
  /** Connections per instance; Knative runs many instances, so keep it small. Default 5. */
  readonly max?: number;
  readonly applicationName?: string;
  /** Server-side limit for one statement; default 30 s. */
  readonly statementTimeoutMs?: number;
  readonly connectionTimeoutMs?: number;
  readonly log: PoolLogger;
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 5,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    application_name: options.applicationName ?? 'tenant-lifecycle',
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    idle_in_transaction_session_timeout: 60_000,
  });
  pool.on('error', (error) => {
    options.log.warn(
      { err: postgresError(error, 'idle connection') },
      'postgres: an idle connection failed; the pool replaces it',
    );
  });
  return pool;
}

/** Runs `fn` in a transaction on one connection: COMMIT on success, ROLLBACK on failure, always released. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect().catch((error: unknown) => {
    throw postgresError(error, 'connect');
  });
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true; // the connection is gone: do not return it to the pool
    }
    throw error;
  } finally {
    client.release(broken);
  }
}
