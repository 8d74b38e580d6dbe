import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool } from '../../../../shared/adapters/postgres/pool.ts';
import { migrate, migrations } from '../../../../shared/platform/store/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../../../env/databases.ts';
import '../../../env/provided.ts';

const log = { warn: () => undefined };
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase(inject('testEnv').postgres.url, 'migrations');
});
afterAll(async () => {
  await db.drop();
});

describe('migrate', () => {
  it('applies every migration once, even when five instances start together', async () => {
    const pools = Array.from({ length: 5 }, () => createPool({ connectionString: db.url, log }));
    try {
      const applied = await Promise.all(pools.map((pool) => migrate(pool, 'concurrent')));
      const all = applied.flat().sort();
      expect(all).toEqual(migrations.map((m) => m.version));
      expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>(
        'SELECT version FROM concurrent.schema_migrations',
      );
      expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
      const tables = await client.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'concurrent' ORDER BY 1`,
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual([
        'audit_log',
        'idempotency_keys',
        'schema_migrations',
      ]);
    } finally {
      await client.end();
    }
  });

  it('is a no-op the second time', async () => {
    const pool = createPool({ connectionString: db.url, log });
    try {
      expect(await migrate(pool, 'twice')).toEqual([1]);
      expect(await migrate(pool, 'twice')).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});
