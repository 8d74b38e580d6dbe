import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createPool, type PoolLogger } from '../../../../shared/adapters/postgres/pool.ts';
import { PlatformError } from '../../../../shared/platform/errors.ts';

// No server is contacted: a pg.Pool connects lazily.
describe('createPool', () => {
  it('applies production defaults', async () => {
    const pool = createPool({
      connectionString: 'postgresql://app@127.0.0.1:1/db',
      log: { warn: () => undefined },
    });
    try {
      expect(pool.options).toMatchObject({
        max: 5,
        idleTimeoutMillis: 30_000,
        connectionTimeoutMillis: 10_000,
        application_name: 'tenant-lifecycle',
        statement_timeout: 30_000,
        idle_in_transaction_session_timeout: 60_000,
      });
    } finally {
      await pool.end();
    }
  });

  it('takes every limit from its options', async () => {
    const pool = createPool({
      connectionString: 'postgresql://app@127.0.0.1:1/db',
      max: 2,
      applicationName: 'fn-provision',
      statementTimeoutMs: 5_000,
      idleInTransactionTimeoutMs: 7_000,
      connectionTimeoutMs: 3_000,
      idleTimeoutMs: 1_000,
      log: { warn: () => undefined },
    });
    try {
      expect(pool.options).toMatchObject({
        max: 2,
        idleTimeoutMillis: 1_000,
        connectionTimeoutMillis: 3_000,
        application_name: 'fn-provision',
        statement_timeout: 5_000,
        idle_in_transaction_session_timeout: 7_000,
      });
    } finally {
      await pool.end();
    }
  });

  it("logs an idle client's error instead of crashing the process", async () => {
    const logged: { fields: object; message: string }[] = [];
    const pool = createPool({
      connectionString: 'postgresql://app@127.0.0.1:1/db',
      log: { warn: (fields, message) => logged.push({ fields, message }) },
    });
    try {
      expect(pool.listenerCount('error')).toBe(1);
      const dropped = Object.assign(new Error('terminating connection due to administrator command'), {
        code: '57P01',
      });
      // Without a listener, EventEmitter.emit('error') throws the error.
      expect(pool.emit('error', dropped, {})).toBe(true);
      expect(logged).toHaveLength(1);
      expect(logged[0]?.message).toBe('postgres: an idle connection failed; the pool replaces it');
      const err = (logged[0]?.fields as { err?: unknown }).err;
      expect(err).toBeInstanceOf(PlatformError);
      expect(err).toMatchObject({
        reason: 'unavailable',
        retryable: true,
        upstream: 'postgres',
        cause: dropped,
      });
    } finally {
      await pool.end();
    }
  });

  it('accepts a pino logger', async () => {
    const log: PoolLogger = pino({ enabled: false });
    const pool = createPool({ connectionString: 'postgresql://app@127.0.0.1:1/db', log });
    expect(pool.emit('error', new Error('Connection terminated unexpectedly'), {})).toBe(true);
    await pool.end();
  });
});
