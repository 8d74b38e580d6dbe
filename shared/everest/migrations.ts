/**
 * The Everest module's tables in the store's schema, applied with the store's migration runner by the
 * module that uses them (UsageCounterStore). Versions are shared with the store's own migrations
 * (shared/store/migrations.ts).
 */
import type { Migration } from '../store/migrations.ts';

export const everestMigrations: readonly Migration[] = [
  {
    version: 3,
    name: 'everest usage counters',
    // The /usage/register-* counters, per namespace (docs/compatibility.md). Enforcement reads the live
    // DatabaseClusters instead; these stay for callers that still register usage.
    sql: `
      CREATE TABLE {schema}.usage_counters (
        namespace       text PRIMARY KEY,
        clusters_count  integer NOT NULL DEFAULT 0,
        cpu_used        double precision NOT NULL DEFAULT 0,
        memory_used     bigint NOT NULL DEFAULT 0,
        db_users_count  integer NOT NULL DEFAULT 0,
        updated_at      timestamptz NOT NULL DEFAULT now(),
        -- An update that would go below zero fails as a whole (answered as 400 "underflow").
        CONSTRAINT usage_counters_clusters_underflow CHECK (clusters_count >= 0 AND cpu_used >= -1e-9 AND memory_used >= 0),
        CONSTRAINT usage_counters_db_users_underflow CHECK (db_users_count >= 0)
      );
    `,
  },
];
