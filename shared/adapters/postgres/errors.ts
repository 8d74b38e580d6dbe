/**
 * Converts pg errors into PlatformError by SQLSTATE class: serialization failures and deadlocks are
 * retryable conflicts, lost connections and an overloaded server are retryable "unavailable", a bad
 * password is "unavailable" but not retryable. Messages are fixed texts (plus the action): they never
 * include the server's message, the connection string or a password; the original error stays in `cause`.
 */
import { DatabaseError } from 'pg';
import { PlatformError, type ErrorReason } from '../../platform/errors.ts';
import { errorCode, networkFailure } from '../network-errors.ts';

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

/** Messages pg and pg-pool give to client-side connection failures, which carry no error code. */
const lostConnection = /Connection terminated|timeout exceeded when trying to connect|connection timeout/i;

export function postgresError(error: unknown, action: string): PlatformError {
  if (error instanceof PlatformError) return error;
  const fail = (reason: ErrorReason, message: string, retryable?: boolean) =>
    new PlatformError({
      reason,
      message: `postgres: ${action}: ${message}`,
      upstream: 'postgres',
      cause: error,
      ...(retryable === undefined ? {} : { retryable }),
    });

  const code = sqlState(error);
  if (code !== undefined) {
    if (code === '40001' || code === '40P01')
      return fail('conflict', 'concurrent transaction conflict, retry', true);
    if (code === '23505') return fail('conflict', 'the row already exists (unique constraint)', false);
    if (code === '57014') return fail('timeout', 'statement timed out or was cancelled');
    if (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code))
      return fail('unavailable', 'database connection lost or refused');
    if (code.startsWith('28'))
      return fail(
        'unavailable',
        'the database refused the credentials; check the configured user and password',
        false,
      );
    if (code.startsWith('53')) return fail('unavailable', 'database out of resources');
    if (code === '3D000') return fail('unavailable', 'the configured database does not exist', false);
    return fail('internal', `query failed with SQLSTATE ${code}`);
  }
  // Transport failures: the database is unreachable for now, whether refused, reset or timed out.
  if (networkFailure(error) !== undefined) return fail('unavailable', 'database unreachable');
  if (error instanceof Error && error.message === 'Query read timeout')
    return fail('timeout', 'database did not answer in time');
  if (error instanceof Error && lostConnection.test(error.message))
    return fail('unavailable', 'database connection lost');
  return fail('internal', 'query failed');
}

/** `postgresError` for callers without a more specific action to name. */
export function toPlatformError(error: unknown, action = 'query'): PlatformError {
  return postgresError(error, action);
}
