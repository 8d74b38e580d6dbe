import { DatabaseError } from 'pg';
import { describe, expect, it } from 'vitest';
import { postgresError, sqlState, toPlatformError } from '../../../../shared/adapters/postgres/errors.ts';
import { PlatformError } from '../../../../shared/platform/errors.ts';

function dbError(code: string, message = 'boom'): DatabaseError {
  const error = new DatabaseError(message, message.length, 'error');
  error.code = code;
  return error;
}

const url = 'postgresql://app:s3cr3t-pw@db.internal:5432/platform';

describe('postgresError', () => {
  it.each([
    ['40001', 'conflict', 409, true],
    ['40P01', 'conflict', 409, true],
    ['23505', 'conflict', 409, false],
    ['57014', 'timeout', 504, true],
    ['08006', 'unavailable', 503, true],
    ['08001', 'unavailable', 503, true],
    ['57P01', 'unavailable', 503, true],
    ['57P02', 'unavailable', 503, true],
    ['57P03', 'unavailable', 503, true],
    ['53300', 'unavailable', 503, true],
    ['28P01', 'unavailable', 503, false],
    ['28000', 'unavailable', 503, false],
    ['3D000', 'unavailable', 503, false],
    ['42P01', 'internal', 500, false],
    ['42601', 'internal', 500, false],
    ['XX000', 'internal', 500, false],
  ])('SQLSTATE %s -> %s %i retryable=%s', (code, reason, status, retryable) => {
    for (const error of [dbError(code), { code, message: 'boom' }]) {
      const mapped = postgresError(error, 'do x');
      expect(mapped).toBeInstanceOf(PlatformError);
      expect(mapped).toMatchObject({ reason, status, retryable, upstream: 'postgres' });
      expect(mapped.cause).toBe(error);
    }
  });

  it('finds the SQLSTATE on the cause chain, and does not take Node error codes for one', () => {
    expect(sqlState(new Error('wrapped', { cause: dbError('40001') }))).toBe('40001');
    expect(sqlState({ code: 'P0001' })).toBe('P0001');
    expect(sqlState({ code: 'EPIPE' })).toBeUndefined();
    expect(sqlState({ code: 'ECONNRESET' })).toBeUndefined();
    expect(postgresError(new Error('wrapped', { cause: dbError('40P01') }), 'x')).toMatchObject({
      reason: 'conflict',
      retryable: true,
    });
  });

  it.each([
    ['ECONNRESET', 'read ECONNRESET'],
    ['ENOTFOUND', 'getaddrinfo ENOTFOUND db.internal'],
    ['EPIPE', 'write EPIPE'],
  ])('maps the network error %s to unavailable, retryable, with a fixed message', (code, message) => {
    const error = postgresError(Object.assign(new Error(message), { code }), 'connect');
    expect(error).toMatchObject({
      reason: 'unavailable',
      status: 503,
      retryable: true,
      upstream: 'postgres',
    });
    expect(error.message).toBe('postgres: connect: database unreachable');
  });

  it('maps a connect or query the server did not answer in time to a retryable 504 timeout', () => {
    const cases: [unknown, string][] = [
      [
        Object.assign(new Error('connect ETIMEDOUT 10.0.0.1:5432'), { code: 'ETIMEDOUT' }),
        'the database did not answer in time',
      ],
      [
        new Error('Connection terminated due to connection timeout'),
        'the database did not accept a connection in time',
      ],
      [new Error('Query read timeout'), 'the database did not answer the query in time'],
    ];
    for (const [error, message] of cases) {
      expect(postgresError(error, 'query')).toMatchObject({
        reason: 'timeout',
        status: 504,
        retryable: true,
        upstream: 'postgres',
        message: `postgres: query: ${message}`,
      });
    }
    // The positive control beside it: a refused connection is no timeout.
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(postgresError(refused, 'query')).toMatchObject({ reason: 'unavailable', status: 503 });
  });

  it('names each failure by its own cause: refused, lost, pool busy', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const cases: [unknown, string, number | undefined][] = [
      [refused, 'the database refused the connection (nothing listening)', undefined],
      [new Error('Connection terminated unexpectedly'), 'database connection lost', undefined],
      [new Error('Connection terminated'), 'database connection lost', undefined],
      [
        new Error('timeout exceeded when trying to connect'),
        'busy: every database connection of this instance stayed in use; retry shortly',
        2,
      ],
    ];
    for (const [error, message, retryAfterSeconds] of cases) {
      expect(postgresError(error, 'query')).toMatchObject({
        reason: 'unavailable',
        status: 503,
        retryable: true,
        upstream: 'postgres',
        message: `postgres: query: ${message}`,
        retryAfterSeconds,
      });
    }
    // Three causes, three texts (pg's two "Connection terminated" texts are the same cause): a caller and an
    // operator reading the log can tell them apart.
    expect(new Set(cases.map(([error]) => postgresError(error, 'q').message)).size).toBe(3);
  });

  it.each([
    ['57014', 'timeout', 504, true, 'statement timed out (statement_timeout) or was cancelled', undefined],
    [
      '55P03',
      'conflict',
      409,
      true,
      'a lock held by a concurrent transaction was not released within lock_timeout; retry',
      2,
    ],
    ['40001', 'conflict', 409, true, 'serialization failure with a concurrent transaction; retry', undefined],
    ['40P01', 'conflict', 409, true, 'deadlock with a concurrent transaction; retry', undefined],
    ['53300', 'unavailable', 503, true, 'the database has no free connection slot (too many connections)', 2],
    ['57P01', 'unavailable', 503, true, 'the database server is shutting down or restarting', undefined],
    [
      '57P03',
      'unavailable',
      503,
      true,
      'the database server is starting up and not accepting connections yet',
      undefined,
    ],
    ['08006', 'unavailable', 503, true, 'database connection lost', undefined],
    ['08001', 'unavailable', 503, true, 'the database refused the connection', undefined],
  ])(
    'SQLSTATE %s -> %s %i retryable=%s with its own message',
    (code, reason, status, retryable, message, retryAfterSeconds) => {
      expect(postgresError(dbError(code), 'run')).toMatchObject({
        reason,
        status,
        retryable,
        message: `postgres: run: ${message}`,
        retryAfterSeconds,
      });
    },
  );

  it('maps a client-side query timeout to timeout, and anything else to internal', () => {
    expect(postgresError(new Error('Query read timeout'), 'q')).toMatchObject({
      reason: 'timeout',
      status: 504,
    });
    expect(postgresError(new TypeError('x is not a function'), 'q')).toMatchObject({
      reason: 'internal',
      status: 500,
      retryable: false,
      message: 'postgres: q: query failed',
    });
  });

  it('never echoes server or driver messages, so no password or connection string leaks', () => {
    const auth = postgresError(
      dbError('28P01', `password authentication failed for user "app" (${url})`),
      'c',
    );
    expect(auth.message).toBe(
      'postgres: c: the database refused the credentials; check the configured user and password',
    );
    const duplicate = dbError('23505', 'duplicate key value violates unique constraint "users_pkey"');
    duplicate.detail = 'Key (password)=(s3cr3t-pw) already exists.';
    const network = Object.assign(new Error(`connect ECONNREFUSED ${url}`), { code: 'ECONNREFUSED' });
    for (const error of [
      auth,
      postgresError(duplicate, 'insert'),
      postgresError(network, 'connect'),
      postgresError(new Error(`Connection terminated ${url}`), 'q'),
      postgresError(dbError('42P01', `relation in ${url} does not exist`), 'q'),
      postgresError(new Error(url), 'q'),
    ]) {
      expect(error.message).not.toContain('s3cr3t-pw');
      expect(error.message).not.toContain('db.internal');
    }
    expect(auth.cause).toBeInstanceOf(DatabaseError);
  });

  it('passes a PlatformError through, and toPlatformError names a default action', () => {
    const original = new PlatformError({ reason: 'not_found', message: 'no such tenant' });
    expect(postgresError(original, 'x')).toBe(original);
    expect(toPlatformError(dbError('40001')).message).toBe(
      'postgres: query: serialization failure with a concurrent transaction; retry',
    );
    expect(toPlatformError(dbError('57014'), 'list audit')).toMatchObject({
      reason: 'timeout',
      message: 'postgres: list audit: statement timed out (statement_timeout) or was cancelled',
    });
  });
});
