/**
 * Schema migrations of the store's schema, applied on first use. All of it runs in one transaction under a
 * transaction-scoped advisory lock, so concurrent instances starting together are safe: the first applies,
 * the others wait for the lock and then find nothing left to do.
 *
 * Each module owns the migrations of its tables: the store its own (`storeMigrations`), a domain module
 * its own (Everest's usage counters: `shared/everest/migrations.ts`), each applied by the module that
 * uses the tables. They share one `schema_migrations` table, so a version is unique across modules: a new
 * migration takes the next number of all of them (test/unit/store/migrations.test.ts checks).
 */
import type pg from 'pg';
import { escapeIdentifier } from 'pg';
import { withTransaction } from '../adapters/postgres/pool.ts';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** SQL with `{schema}` standing for the quoted schema name. */
  readonly sql: string;
}

/** The store's own tables: audit log, idempotency keys, lock leases, dead letters. */
export const storeMigrations: readonly Migration[] = [
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
  {
    version: 2,
    name: 'idempotency claim token',
    // Which claim owns a row: a run that outlived the stale timeout must not complete or release the
    // claim of the request that took it over.
    sql: `ALTER TABLE {schema}.idempotency_keys ADD COLUMN claim uuid;`,
  },
  {
    version: 4,
    name: 'lock leases',
    // PlatformStore.withLock: one row per held lock; `owner` is the holder's random token, and a row whose
    // `expires_at` passed (its holder died or lost the database) may be taken over.
    sql: `
      CREATE TABLE {schema}.lock_leases (
        name         text PRIMARY KEY,
        owner        uuid NOT NULL,
        acquired_at  timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: 'dead letters',
    // The dead-letter sink's record of each event Knative could not deliver: one row per event (source,
    // id) and destination; `attempts` counts how often it was dead-lettered, `replayed_at` is set by a
    // replay and cleared when the event is dead-lettered again. `event` holds the attributes, extensions
    // and data to replay (secret-looking values redacted, `redacted` then true).
    sql: `
      CREATE TABLE {schema}.dead_letters (
        id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id          text NOT NULL,
        event_source      text NOT NULL,
        event_type        text NOT NULL,
        event_subject     text,
        destination       text NOT NULL,
        error_code        integer,
        error_data        text,
        event             jsonb NOT NULL,
        redacted          boolean NOT NULL DEFAULT false,
        attempts          integer NOT NULL DEFAULT 1,
        received_at       timestamptz NOT NULL DEFAULT now(),
        last_received_at  timestamptz NOT NULL DEFAULT now(),
        replayed_at       timestamptz,
        replayed_by       text,
        replays           integer NOT NULL DEFAULT 0,
        UNIQUE (event_source, event_id, destination)
      );
      CREATE INDEX dead_letters_pending_idx ON {schema}.dead_letters (id DESC) WHERE replayed_at IS NULL;
    `,
  },
];

/** The schema the platform store lives in unless configured otherwise. */
export const DEFAULT_SCHEMA = 'tenant_lifecycle';

/**
 * The advisory lock key of migrations: a fixed 64-bit number, the same in every instance and release
 * (the first 8 bytes of sha256("tenant-lifecycle:migrations"), as a signed bigint). It is one key for all
 * schemas: migrations are rare, and serialising them all is simpler than deriving a key per schema.
 */
export const MIGRATION_LOCK_KEY = '8070254039441670736';

/**
 * Applies the missing migrations; answers the versions applied by this call (empty: nothing to do).
 *
 * Concurrency: everything runs in one transaction that first takes pg_advisory_xact_lock. A second instance
 * blocks on the lock until the first commits (or rolls back: the lock is released either way, also when
 * the connection dies), then reads schema_migrations afresh (READ COMMITTED: each statement sees what was
 * committed before it started) and finds nothing to do. A failing migration rolls back all of it,
 * including its schema_migrations row, so the next attempt starts from the same state.
 */
export async function migrate(
  pool: pg.Pool,
  schema: string = DEFAULT_SCHEMA,
  migrations: readonly Migration[] = storeMigrations,
): Promise<number[]> {
  const quoted = escapeIdentifier(schema);
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
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
