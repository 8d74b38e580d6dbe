/**
 * Schema migrations of the platform store, applied on first use. All of it runs in one transaction under a
 * transaction-scoped advisory lock, so concurrent instances starting together are safe: the first applies,
 * the others wait for the lock and then find nothing left to do.
 */
import type pg from 'pg';
import { escapeIdentifier } from 'pg';
import { withTransaction } from '../../adapters/postgres/pool.ts';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** SQL with `{schema}` standing for the quoted schema name. */
  readonly sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'audit log and idempotency keys',
    sql: `
      CREATE TABLE {schema}.audit_log (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at          timestamptz NOT NULL DEFAULT now(),
        actor       text NOT NULL,
        operation   text NOT NULL,
        target      text NOT NULL,
        outcome     text NOT NULL CHECK (outcome IN ('success', 'failure', 'dry_run', 'partial')),
        request_id  text,
        details     jsonb NOT NULL DEFAULT '{}'::jsonb
      );
      CREATE INDEX audit_log_target_idx ON {schema}.audit_log (target, id DESC);
      CREATE INDEX audit_log_operation_idx ON {schema}.audit_log (operation, id DESC);

      CREATE TABLE {schema}.idempotency_keys (
        scope         text NOT NULL,
        key           text NOT NULL,
        request_hash  text NOT NULL,
        state         text NOT NULL CHECK (state IN ('running', 'completed')),
        status_code   integer,
        response      jsonb,
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        expires_at    timestamptz NOT NULL,
        PRIMARY KEY (scope, key)
      );
      CREATE INDEX idempotency_keys_expires_idx ON {schema}.idempotency_keys (expires_at);
    `,
  },
];

/** The lock key: a fixed 64-bit number derived from a name, the same in every instance. */
const LOCK_SQL = `SELECT pg_advisory_xact_lock(hashtextextended('tenant-lifecycle:migrations', 0))`;

/** Applies the missing migrations; answers the versions applied by this call. */
export async function migrate(pool: pg.Pool, schema: string): Promise<number[]> {
  const quoted = escapeIdentifier(schema);
  return withTransaction(pool, async (client) => {
    await client.query(LOCK_SQL);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted}.schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>(
      `SELECT version FROM ${quoted}.schema_migrations`,
    );
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql.replaceAll('{schema}', quoted));
      await client.query(`INSERT INTO ${quoted}.schema_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    return applied;
  });
}
