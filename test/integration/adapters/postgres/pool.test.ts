import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postgresError } from '../../../../shared/adapters/postgres/errors.ts';
import { createPool, withTransaction } from '../../../../shared/adapters/postgres/pool.ts';
import { createTestDatabase, type TestDatabase } from '../../../env/databases.ts';
import '../../../env/provided.ts';

const warnings: string[] = [];
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase(inject('testEnv').postgres.url, 'pool');
  pool = createPool({
    connectionString: db.url,
    max: 3,
    applicationName: 'pool-test',
    statementTimeoutMs: 500,
    idleInTransactionTimeoutMs: 2_000,
    log: { warn: (_fields, message) => warnings.push(message) },
  });
  await pool.query('CREATE TABLE t (v int PRIMARY KEY)');
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** Every connection the pool has is back in it: nothing leaked. */
function expectAllReleased(): void {
  expect(pool.waitingCount).toBe(0);
  expect(pool.idleCount).toBe(pool.totalCount);
}

describe('createPool', () => {
  it('sets application_name and the server-side timeouts on every connection', async () => {
    const { rows } = await pool.query<Record<string, string>>(
      `SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS st,
              current_setting('idle_in_transaction_session_timeout') AS idle`,
    );
    expect(rows).toEqual([{ app: 'pool-test', st: '500ms', idle: '2s' }]);
  });

  it('cancels a statement over statement_timeout, which maps to a timeout', async () => {
    const error = await pool.query('SELECT pg_sleep(5)').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(postgresError(error, 'sleep')).toMatchObject({ reason: 'timeout', status: 504, retryable: true });
  });

  it('survives an idle connection killed by the server, and logs it', async () => {
    const client = await pool.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    client.release();
    const before = warnings.length;
    const killer = new pg.Client({ connectionString: db.url });
    await killer.connect();
    try {
      await killer.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
    } finally {
      await killer.end();
    }
    await expect.poll(() => warnings.length).toBe(before + 1);
    expect(warnings.at(-1)).toBe('postgres: an idle connection failed; the pool replaces it');
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});

describe('withTransaction', () => {
  it('commits what fn did and answers its result', async () => {
    const result = await withTransaction(pool, async (client) => {
      await client.query('INSERT INTO t VALUES (1)');
      return 'done';
    });
    expect(result).toBe('done');
    expect((await pool.query('SELECT v FROM t ORDER BY v')).rows).toEqual([{ v: 1 }]);
    expectAllReleased();
  });

  it('rolls back when fn throws, rethrows the same error, and releases the connection', async () => {
    const failure = new Error('step 2 failed');
    await expect(
      withTransaction(pool, async (client) => {
        await client.query('INSERT INTO t VALUES (2)');
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect((await pool.query('SELECT v FROM t ORDER BY v')).rows).toEqual([{ v: 1 }]);
    expectAllReleased();
  });

  it('rolls back when a statement fails', async () => {
    const error = await withTransaction(pool, async (client) => {
      await client.query('INSERT INTO t VALUES (3)');
      await client.query('INSERT INTO t VALUES (1)'); // duplicate
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(postgresError(error, 'insert')).toMatchObject({
      reason: 'conflict',
      status: 409,
      retryable: false,
    });
    expect((await pool.query('SELECT v FROM t ORDER BY v')).rows).toEqual([{ v: 1 }]);
    expectAllReleased();
  });

  it('survives a connection that dies inside the transaction, and discards it instead of reusing it', async () => {
    const error = await withTransaction(pool, async (client) => {
      await client.query('INSERT INTO t VALUES (4)');
      const ended = new Promise((resolve) => client.once('end', resolve));
      const failure = await client.query('SELECT pg_terminate_backend(pg_backend_pid())').then(
        () => undefined,
        (e: unknown) => e,
      );
      // pg emits 'error' on the client when the socket closes, after this query failed. Waiting for the
      // close makes that happen while the client is checked out, where pg-pool has no listener on it: an
      // unhandled 'error' there would be an uncaught exception (vitest reports it and fails the run).
      await ended;
      throw failure;
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: '57P01' });
    expect(postgresError(error, 'q')).toMatchObject({ reason: 'unavailable', retryable: true });
    expectAllReleased();
    // The next transactions get a working connection; the dead one's insert never committed.
    for (let i = 0; i < 4; i++)
      expect((await pool.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 1 }]);
  });

  it('releases connections under concurrent use beyond the pool size', async () => {
    const values = [10, 11, 12, 13, 14, 15, 16, 17];
    await Promise.all(
      values.map((v) =>
        withTransaction(pool, async (client) => {
          await client.query('INSERT INTO t VALUES ($1)', [v]);
          await client.query('SELECT pg_sleep(0.02)');
        }),
      ),
    );
    const { rows } = await pool.query<{ v: number }>('SELECT v FROM t WHERE v >= 10 ORDER BY v');
    expect(rows.map((r) => r.v)).toEqual(values);
    expect(pool.totalCount).toBeLessThanOrEqual(3);
    expectAllReleased();
  });
});
