import { DatabaseError } from 'pg';
import { describe, expect, it } from 'vitest';
import { postgresError } from '../../../../shared/adapters/postgres/errors.ts';

function dbError(code: string, message = 'boom'): DatabaseError {
  const error = new DatabaseError(message, message.length, 'error');
  error.code = code;
  return error;
}

describe('postgresError', () => {
  it.each([
    ['40001', 'conflict', 409, true],
    ['40P01', 'conflict', 409, true],
    ['23505', 'conflict', 409, false],
    ['57014', 'timeout', 504, true],
    ['08006', 'unavailable', 503, true],
    ['57P01', 'unavailable', 503, true],
    ['53300', 'unavailable', 503, true],
    ['28P01', 'unavailable', 503, false],
    ['42P01', 'internal', 500, false],
  ])('SQLSTATE %s -> %s %i retryable=%s', (code, reason, status, retryable) => {
    expect(postgresError(dbError(code), 'do x')).toMatchObject({
      reason,
      status,
      retryable,
      upstream: 'postgres',
    });
  });

  it('maps refused and dropped connections to unavailable without the connection string', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const error = postgresError(refused, 'connect');
    expect(error).toMatchObject({ reason: 'unavailable', retryable: true });
    expect(error.message).toBe('postgres: connect: database unreachable');
    expect(postgresError(new Error('Connection terminated unexpectedly'), 'query')).toMatchObject({
      reason: 'unavailable',
    });
  });

  it('does not echo the server message of an auth failure', () => {
    const error = postgresError(dbError('28P01', 'password authentication failed for user "app"'), 'connect');
    expect(error.message).toBe('postgres: connect: the database refused the credentials');
    expect(error.cause).toBeInstanceOf(DatabaseError);
  });
});
