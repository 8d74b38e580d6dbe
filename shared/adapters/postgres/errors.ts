/**
 * Converts pg errors into PlatformError by SQLSTATE class: serialization failures and deadlocks are
 * retryable conflicts, lost connections and an overloaded server are retryable "unavailable", a bad
 * password is "unavailable" but not retryable. Messages never include the connection string.
 */
import { DatabaseError } from 'pg';
import { PlatformError } from '../../platform/errors.ts';
import { networkFailure } from '../network-errors.ts';

export function postgresError(error: unknown, action: string): PlatformError {
  if (error instanceof PlatformError) return error;
  const upstream = 'postgres';
  const fail = (
    reason: ConstructorParameters<typeof PlatformError>[0]['reason'],
    message: string,
    retryable?: boolean,
  ) =>
    new PlatformError({
      reason,
      message: `postgres: ${action}: ${message}`,
      upstream,
      cause: error,
      ...(retryable === undefined ? {} : { retryable }),
    });

  const code = error instanceof DatabaseError ? error.code : undefined;
  if (code !== undefined) {
    if (code === '40001' || code === '40P01')
      return fail('conflict', 'concurrent transaction conflict, retry', true);
    if (code === '23505')
      return fail('conflict', error instanceof DatabaseError ? error.message : 'duplicate key', false);
    if (code === '57014') return fail('timeout', 'statement timed out');
    if (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300', '53400'].includes(code)) {
      return fail('unavailable', 'database connection lost or refused');
    }
    if (code.startsWith('28')) return fail('unavailable', 'the database refused the credentials', false);
    if (code.startsWith('53')) return fail('unavailable', 'database out of resources');
    return fail('internal', `SQLSTATE ${code}`);
  }
  const failure = networkFailure(error);
  if (failure !== undefined)
    return fail(failure, failure === 'timeout' ? 'database did not answer in time' : 'database unreachable');
  if (error instanceof Error && /Connection terminated|connection timeout/i.test(error.message)) {
    return fail('unavailable', 'database connection lost');
  }
  return fail('internal', 'query failed');
}
