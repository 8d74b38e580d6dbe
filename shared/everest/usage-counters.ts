/**
 * The usage counters (POST /usage/register-cluster, /usage/register-db-user; docs/compatibility.md), kept
 * for callers that still register usage, in the platform store. Each change is one transaction; the table's CHECK
 * constraints turn a change below zero into a 400 "underflow", with nothing changed (the
 * row is created at zero first: an INSERT of the delta would be checked before any conflict handling). A new
 * database user is checked against maxDbUsers under a row lock, so two concurrent registrations cannot both
 * take the last place.
 */
import type pg from 'pg';
import { escapeIdentifier } from 'pg';
import { postgresError, sqlState } from '../adapters/postgres/errors.ts';
import { withTransaction } from '../adapters/postgres/pool.ts';
import { PlatformError } from '../platform/errors.ts';
import { migrate } from '../store/migrations.ts';
import type { PlatformStore } from '../store/store.ts';
import { everestMigrations } from './migrations.ts';

export interface UsageCounters {
  readonly clusters_count: number;
  readonly cpu_used: number;
  readonly memory_used: number;
  readonly db_users_count: number;
}

interface Row {
  clusters_count: number;
  cpu_used: number;
  memory_used: string;
  db_users_count: number;
}

const toCounters = (row: Row | undefined): UsageCounters => ({
  clusters_count: row?.clusters_count ?? 0,
  cpu_used: row?.cpu_used ?? 0,
  memory_used: Number(row?.memory_used ?? 0),
  db_users_count: row?.db_users_count ?? 0,
});

const COLUMNS = 'clusters_count, cpu_used, memory_used, db_users_count';

export class UsageCounterStore {
  private readonly pool: pg.Pool;
  private readonly table: string;
  private readonly schema: string;
  private readonly store: Pick<PlatformStore, 'pool' | 'schema' | 'ensureSchema'>;
  private ready: Promise<void> | undefined;

  /**
   * The counters live in the platform store's schema; the store's migrations and then Everest's own
   * (shared/everest/migrations.ts) are applied once per instance before the first query, and a failed
   * attempt is retried by the next call.
   */
  constructor(store: Pick<PlatformStore, 'pool' | 'schema' | 'ensureSchema'>) {
    this.store = store;
    this.pool = store.pool;
    this.schema = store.schema;
    this.table = `${escapeIdentifier(store.schema)}.usage_counters`;
  }

  private async ensureSchema(): Promise<void> {
    this.ready ??= this.store
      .ensureSchema()
      .then(() => migrate(this.pool, this.schema, everestMigrations))
      .then(
        () => undefined,
        (error: unknown) => {
          this.ready = undefined;
          throw error instanceof PlatformError ? error : postgresError(error, 'migrate the usage counters');
        },
      );
    return this.ready;
  }

  async get(namespace: string): Promise<UsageCounters> {
    await this.ensureSchema();
    const { rows } = await this.pool
      .query<Row>(`SELECT ${COLUMNS} FROM ${this.table} WHERE namespace = $1`, [namespace])
      .catch((error: unknown) => {
        throw postgresError(error, `read usage counters of ${namespace}`);
      });
    return toCounters(rows[0]);
  }

  /** Every namespace's counters. */
  async all(): Promise<Map<string, UsageCounters>> {
    await this.ensureSchema();
    const { rows } = await this.pool
      .query<Row & { namespace: string }>(`SELECT namespace, ${COLUMNS} FROM ${this.table}`)
      .catch((error: unknown) => {
        throw postgresError(error, 'read usage counters');
      });
    return new Map(rows.map((r) => [r.namespace, toCounters(r)]));
  }

  /** +1 cluster and its resources for create, the reverse for delete. */
  async registerCluster(
    namespace: string,
    op: 'create' | 'delete',
    cpuCores: number,
    memoryBytes: number,
  ): Promise<UsageCounters> {
    const sign = op === 'create' ? 1 : -1;
    await this.ensureSchema();
    try {
      return await withTransaction(this.pool, async (client) => {
        // A new namespace starts at zero; the update then goes through the CHECK constraints.
        await client.query(`INSERT INTO ${this.table} (namespace) VALUES ($1) ON CONFLICT DO NOTHING`, [
          namespace,
        ]);
        const { rows } = await client.query<Row>(
          `UPDATE ${this.table} SET
             clusters_count = clusters_count + $2,
             cpu_used = cpu_used + $3,
             memory_used = memory_used + $4,
             updated_at = now()
           WHERE namespace = $1
           RETURNING ${COLUMNS}`,
          [namespace, sign, sign * cpuCores, sign * Math.round(memoryBytes)],
        );
        return toCounters(rows[0]);
      });
    } catch (error) {
      if (sqlState(error) === '23514' || (error instanceof Error && sqlState(error.cause) === '23514'))
        throw new PlatformError({ reason: 'validation', message: 'usage counters underflow', cause: error });
      // numeric_value_out_of_range: the sum no longer fits its column (memory_used is a bigint).
      if (sqlState(error) === '22003' || (error instanceof Error && sqlState(error.cause) === '22003'))
        throw new PlatformError({ reason: 'validation', message: 'usage counters overflow', cause: error });
      throw error instanceof PlatformError
        ? error
        : postgresError(error, `register cluster usage of ${namespace}`);
    }
  }

  /**
   * ±1 database user. For create, `refusal(current count)` runs under the row's lock and its answer (the
   * reason callers know) refuses with 403 and changes nothing.
   */
  async registerDbUser(
    namespace: string,
    op: 'create' | 'delete',
    refusal: (dbUsers: number) => string | undefined,
  ): Promise<UsageCounters> {
    await this.ensureSchema();
    try {
      return await withTransaction(this.pool, async (client) => {
        await client.query(`INSERT INTO ${this.table} (namespace) VALUES ($1) ON CONFLICT DO NOTHING`, [
          namespace,
        ]);
        const locked = await client.query<Row>(
          `SELECT ${COLUMNS} FROM ${this.table} WHERE namespace = $1 FOR UPDATE`,
          [namespace],
        );
        if (op === 'create') {
          const reason = refusal(locked.rows[0]?.db_users_count ?? 0);
          if (reason !== undefined) throw new PlatformError({ reason: 'forbidden', message: reason });
        }
        const { rows } = await client.query<Row>(
          `UPDATE ${this.table} SET db_users_count = db_users_count + $2, updated_at = now()
           WHERE namespace = $1 RETURNING ${COLUMNS}`,
          [namespace, op === 'create' ? 1 : -1],
        );
        return toCounters(rows[0]);
      });
    } catch (error) {
      if (error instanceof PlatformError && error.reason === 'forbidden') throw error;
      if (sqlState(error) === '23514' || (error instanceof Error && sqlState(error.cause) === '23514'))
        throw new PlatformError({ reason: 'validation', message: 'db_users_count underflow', cause: error });
      throw error instanceof PlatformError ? error : postgresError(error, `register db user of ${namespace}`);
    }
  }
}
