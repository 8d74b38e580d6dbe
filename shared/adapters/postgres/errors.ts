/**
 * Converts pg errors into PlatformError, each cause with its own message: serialization failures, deadlocks
 * and lock timeouts are retryable conflicts; a statement timeout is a timeout; a lost or refused connection
 * and a restarting server are retryable "unavailable"; a connection or query the server did not answer in
 * time is a retryable "timeout"; a busy pool or a server out of connection slots is "unavailable" with a
 * Retry-After; a bad password is "unavailable" but not retryable. Messages are fixed texts (plus the
 * action): they never include the server's message, the connection string or a password; the original
 * error stays in `cause`.
 */
import { DatabaseError } from 'pg';
import { PlatformError, type ErrorReason } from '../../platform/errors.ts';
import { errorCode, networkFailure } from '../../platform/network-errors.ts';

/**
 * A SQLSTATE: two-character class and three-character subclass. Classes start with a digit, except the
 * vendor classes F0, HV, P0 and XX; so Node's error codes (EPIPE, ECONNRESET) never look like one.
 */
const SQLSTATE = /^(?:[0-9][0-9A-Z]|F0|HV|P0|XX)[0-9A-Z]{3}$/;

/** The SQLSTATE of a pg DatabaseError, or of any object carrying one in `code` (pg-native, wrappers). */
export function sqlState(error: unknown): string | undefined {
  if (error instanceof DatabaseError) return error.code;
  const code = errorCode(error);
  return code !== undefined && SQLSTATE.test(code) ? code : undefined;
}

/**
 * pg-pool's error when every connection of the pool stayed in use for the whole connection timeout: the
 * instance is busy, the database may be fine. (A new connection that the server did not accept in time
 * fails differently: "Connection terminated due to connection timeout".)
 */
export const POOL_WAIT_TIMEOUT = 'timeout exceeded when trying to connect';

/** pg's error when a query got no answer within query_timeout (the server is frozen or unreachable). */
export const QUERY_READ_TIMEOUT = 'Query read timeout';

/** Seconds a caller should wait before retrying when this instance or the database is merely busy. */
export const BUSY_RETRY_AFTER_SECONDS = 2;

/** What a SQLSTATE says, for the ones a caller can act on; undefined: an unexpected query failure. */
function bySqlState(
  code: string,
): { reason: ErrorReason; message: string; retryable?: boolean; retryAfterSeconds?: number } | undefined {
  switch (code) {
    case '40001':
      return {
        reason: 'conflict',
        message: 'serialization failure with a concurrent transaction; retry',
        retryable: true,
      };
    case '40P01':
      return {
        reason: 'conflict',
        message: 'deadlock with a concurrent transaction; retry',
        retryable: true,
      };
    case '55P03':
      return {
        reason: 'conflict',
        message: 'a lock held by a concurrent transaction was not released within lock_timeout; retry',
        retryable: true,
        retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
      };
    case '23505':
      return { reason: 'conflict', message: 'the row already exists (unique constraint)', retryable: false };
    case '57014':
      return { reason: 'timeout', message: 'statement timed out (statement_timeout) or was cancelled' };
    case '53300':
      return {
        reason: 'unavailable',
        message: 'the database has no free connection slot (too many connections)',
        retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
      };
    case '57P01':
    case '57P02':
      return { reason: 'unavailable', message: 'the database server is shutting down or restarting' };
    case '57P03':
      return {
        reason: 'unavailable',
        message: 'the database server is starting up and not accepting connections yet',
      };
    case '08001':
    case '08004':
      return { reason: 'unavailable', message: 'the database refused the connection' };
    case '3D000':
      return { reason: 'unavailable', message: 'the configured database does not exist', retryable: false };
  }
  if (code.startsWith('08')) return { reason: 'unavailable', message: 'database connection lost' };
  if (code.startsWith('28'))
    return {
      reason: 'unavailable',
      message: 'the database refused the credentials; check the configured user and password',
      retryable: false,
    };
  if (code.startsWith('53')) return { reason: 'unavailable', message: 'database out of resources' };
  return undefined;
}

/** What pg's and pg-pool's client-side failures (no SQLSTATE) say, by their fixed messages. */
function byClientMessage(
  message: string,
): { reason: ErrorReason; message: string; retryAfterSeconds?: number } | undefined {
  if (message === POOL_WAIT_TIMEOUT)
    return {
      reason: 'unavailable',
      message: 'busy: every database connection of this instance stayed in use; retry shortly',
      retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
    };
  if (message === 'Connection terminated due to connection timeout')
    return { reason: 'timeout', message: 'the database did not accept a connection in time' };
  if (message === QUERY_READ_TIMEOUT)
    return { reason: 'timeout', message: 'the database did not answer the query in time' };
  if (/^Connection terminated/.test(message))
    return { reason: 'unavailable', message: 'database connection lost' };
  return undefined;
}

export function postgresError(error: unknown, action: string): PlatformError {
  if (error instanceof PlatformError) return error;
  const fail = (found: {
    reason: ErrorReason;
    message: string;
    retryable?: boolean;
    retryAfterSeconds?: number;
  }) =>
    new PlatformError({
      reason: found.reason,
      message: `postgres: ${action}: ${found.message}`,
      upstream: 'postgres',
      cause: error,
      ...(found.retryable === undefined ? {} : { retryable: found.retryable }),
      ...(found.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: found.retryAfterSeconds }),
    });

  const code = sqlState(error);
  if (code !== undefined)
    return fail(bySqlState(code) ?? { reason: 'internal', message: `query failed with SQLSTATE ${code}` });
  const client = error instanceof Error ? byClientMessage(error.message) : undefined;
  if (client !== undefined) return fail(client);
  // Transport failures: the database is unreachable for now (refused, reset, DNS, timed out).
  const network = networkFailure(error);
  if (network === 'timeout')
    return fail({ reason: 'timeout', message: 'the database did not answer in time' });
  if (network !== undefined) {
    const refused = errorCode(error) === 'ECONNREFUSED';
    return fail({
      reason: 'unavailable',
      message: refused ? 'the database refused the connection (nothing listening)' : 'database unreachable',
    });
  }
  return fail({ reason: 'internal', message: 'query failed' });
}

/** `postgresError` for callers without a more specific action to name. */
export function toPlatformError(error: unknown, action = 'query'): PlatformError {
  return postgresError(error, action);
}
