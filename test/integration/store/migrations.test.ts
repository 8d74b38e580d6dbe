import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createPool } from '../../../shared/adapters/postgres/pool.ts';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { migrate, storeMigrations as migrations } from '../../../shared/store/migrations.ts';
import { PlatformStore } from '../../../shared/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';

const log = { warn: () => undefined };
const versions = migrations.map((m) => m.version);
let db: TestDatabase;

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function appliedVersions(schema: string): Promise<number[]> {
  return withClient(db.url, async (client) => {
    const { rows } = await client.query<{ version: number }>(
      `SELECT version FROM ${pg.escapeIdentifier(schema)}.schema_migrations ORDER BY version`,
    );
    return rows.map((r) => r.version);
  });
}

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
      // One instance applied every migration, in order; the four others waited and found nothing to do.
      expect(applied.filter((a) => a.length > 0)).toEqual([versions]);
      expect(applied.filter((a) => a.length === 0)).toHaveLength(4);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number; name: string; applied_at: Date }>(
        'SELECT version, name, applied_at FROM concurrent.schema_migrations ORDER BY version',
      );
      expect(rows.map((r) => [r.version, r.name])).toEqual(migrations.map((m) => [m.version, m.name]));
      expect(rows[0]?.applied_at).toBeInstanceOf(Date);
      const columns = await client.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns
          WHERE table_schema = 'concurrent' AND table_name = 'idempotency_keys' ORDER BY ordinal_position`,
      );
      expect(columns.rows.map((r) => r.column_name)).toEqual([
        'scope',
        'key',
        'request_hash',
        'state',
        'status_code',
        'response',
        'created_at',
        'updated_at',
        'expires_at',
        'claim',
      ]);
      const tables = await client.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'concurrent' ORDER BY 1`,
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual([
        'audit_log',
        'dead_letters',
        'idempotency_keys',
        'lock_leases',
        'schema_migrations',
      ]);
    } finally {
      await client.end();
    }
  });

  it('is a no-op the second time', async () => {
    const pool = createPool({ connectionString: db.url, log });
    try {
      expect(await migrate(pool, 'twice')).toEqual(versions);
      expect(await migrate(pool, 'twice')).toEqual([]);
    } finally {
      await pool.end();
    }
    expect(await appliedVersions('twice')).toEqual(versions);
  });

  it('uses the schema tenant_lifecycle by default, and takes a quoted name as it is', async () => {
    const pool = createPool({ connectionString: db.url, log });
    try {
      expect(await migrate(pool)).toEqual(versions);
      expect(await migrate(pool, 'Odd "Schema"')).toEqual(versions);
    } finally {
      await pool.end();
    }
    expect(await appliedVersions('tenant_lifecycle')).toEqual(versions);
    expect(await appliedVersions('Odd "Schema"')).toEqual(versions);
  });

  it('rolls back everything when a migration fails, so nothing is half applied', async () => {
    const pool = createPool({ connectionString: db.url, log });
    try {
      // A table in the way of migration 1: it fails, and the schema, its schema_migrations table and its
      // rows must all be rolled back with it... except the blocker, which was committed before.
      await pool.query('CREATE SCHEMA blocked; CREATE TABLE blocked.audit_log (x int)');
      await expect(migrate(pool, 'blocked')).rejects.toMatchObject({ code: '42P07' });
      const tables = await pool.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'blocked' ORDER BY 1`,
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual(['audit_log']);
      await pool.query('DROP TABLE blocked.audit_log');
      expect(await migrate(pool, 'blocked')).toEqual(versions);
    } finally {
      await pool.end();
    }
  });
});

describe('PlatformStore', () => {
  it('migrates once per instance, however many calls arrive together', async () => {
    const pool = createPool({ connectionString: db.url, log });
    const store = new PlatformStore(pool, 'memo');
    const connect = vi.spyOn(pool, 'connect');
    try {
      await Promise.all(Array.from({ length: 5 }, () => store.ensureSchema()));
      expect(connect).toHaveBeenCalledTimes(1); // one migrate() = one transaction = one connection
      await store.ensureSchema();
      expect(connect).toHaveBeenCalledTimes(1);
      expect(
        await store.recordAudit({ actor: 'a', operation: 'o', target: 't', outcome: 'success' }),
      ).toMatch(/^[1-9][0-9]*$/);
    } finally {
      connect.mockRestore();
      await pool.end();
    }
    expect(await appliedVersions('memo')).toEqual(versions);
  });

  it('retries a failed migration on the next call instead of remembering the failure', async () => {
    const superuser = inject('testEnv').postgres.url;
    const name = `${db.name}_late`;
    const url = new URL(db.url);
    url.pathname = `/${name}`;
    const pool = createPool({ connectionString: url.toString(), log });
    const store = new PlatformStore(pool);
    try {
      // The database does not exist yet: the first use fails, as a PlatformError.
      const first = await store.ensureSchema().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(first).toBeInstanceOf(PlatformError);
      expect(first).toMatchObject({ reason: 'unavailable', upstream: 'postgres', retryable: false });
      expect((first as PlatformError).message).not.toContain(superuser);

      await withClient(superuser, (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
      await store.recordAudit({ actor: 'a', operation: 'o', target: 't', outcome: 'success' });
      expect((await store.listAudit()).items.map((e) => e.target)).toEqual(['t']);
    } finally {
      await pool.end();
      await withClient(superuser, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
      );
    }
  });
});
