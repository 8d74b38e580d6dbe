/**
 * The platform store: what needs transactions lives in one PostgreSQL database (audit log, idempotency
 * keys, and later usage counters). The schema is migrated on first use, once per instance; a failed
 * migration is retried by the next call instead of being remembered.
 */
import type pg from 'pg';
import { escapeIdentifier } from 'pg';
import { postgresError } from '../../adapters/postgres/errors.ts';
import { PlatformError } from '../errors.ts';
import { fingerprintRequest } from '../request-hash.ts';
import { listAudit, recordAudit, type AuditEntry, type AuditPage, type AuditQuery } from './audit.ts';
import {
  runIdempotent,
  type IdempotentRequest,
  type IdempotentResult,
  type StoredAnswer,
} from './idempotency.ts';
import { DEFAULT_SCHEMA, migrate } from './migrations.ts';

export { DEFAULT_SCHEMA };

export class PlatformStore {
  readonly pool: pg.Pool;
  readonly schema: string;
  private readonly quoted: string;
  private ready: Promise<void> | undefined;

  private readonly idempotencySecret: string | undefined;

  /**
   * `idempotencySecret` keys the request fingerprints of idempotent operations (IDEMPOTENCY_KEY_SECRET);
   * without it, runIdempotent refuses: a function with idempotent operations requires the setting.
   */
  constructor(
    pool: pg.Pool,
    schema: string = DEFAULT_SCHEMA,
    options: { readonly idempotencySecret?: string | undefined } = {},
  ) {
    this.pool = pool;
    this.schema = schema;
    this.quoted = escapeIdentifier(schema);
    this.idempotencySecret = options.idempotencySecret;
  }

  /** Migrates once per instance; concurrent callers share the same attempt. */
  async ensureSchema(): Promise<void> {
    this.ready ??= migrate(this.pool, this.schema).then(
      () => undefined,
      (error: unknown) => {
        this.ready = undefined;
        throw postgresError(error, 'migrate the platform store');
      },
    );
    return this.ready;
  }

  async recordAudit(entry: AuditEntry): Promise<string> {
    await this.ensureSchema();
    return recordAudit(this.pool, this.quoted, entry).catch((error: unknown) => {
      throw postgresError(error, 'record audit entry');
    });
  }

  async listAudit(query: AuditQuery = {}): Promise<AuditPage> {
    await this.ensureSchema();
    return listAudit(this.pool, this.quoted, query).catch((error: unknown) => {
      throw postgresError(error, 'list audit entries');
    });
  }

  /**
   * Which of `targets` an operation ever succeeded on, in one query: how sync tells a Grafana user this
   * product created (and may prune) from one a person created by hand.
   */
  async succeededOn(operation: string, targets: readonly string[]): Promise<Set<string>> {
    if (targets.length === 0) return new Set();
    await this.ensureSchema();
    const { rows } = await this.pool
      .query<{ target: string }>(
        `SELECT DISTINCT target FROM ${this.quoted}.audit_log
          WHERE operation = $1 AND outcome = 'success' AND target = ANY($2::text[])`,
        [operation, targets],
      )
      .catch((error: unknown) => {
        throw postgresError(error, `read the audit of ${operation}`);
      });
    return new Set(rows.map((r) => r.target));
  }

  /** `request.request` is fingerprinted with the secret; only the fingerprint is stored. */
  async runIdempotent(
    request: Omit<IdempotentRequest, 'requestHash'> & { readonly request: unknown },
    fn: () => Promise<StoredAnswer>,
  ): Promise<IdempotentResult> {
    if (this.idempotencySecret === undefined)
      throw new PlatformError({
        reason: 'internal',
        message: 'idempotent operations need IDEMPOTENCY_KEY_SECRET; none is configured',
      });
    const { request: value, ...key } = request;
    const requestHash = fingerprintRequest(value, this.idempotencySecret);
    await this.ensureSchema();
    // Converts its own database errors; the errors of `fn` pass through unchanged.
    return runIdempotent(this.pool, this.quoted, { ...key, requestHash }, fn);
  }

  /**
   * Runs `fn` while holding a session advisory lock named `name` (e.g. "provision:john-doe"), so that
   * instances working on the same thing take turns. The lock is released when `fn` settles, and with the
   * connection if the instance dies.
   */
  async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw postgresError(error, `lock ${name}`);
    });
    let broken = false;
    try {
      await client
        .query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [name])
        .catch((error: unknown) => {
          throw postgresError(error, `lock ${name}`);
        });
      try {
        return await fn();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name]).catch(() => {
          broken = true; // a lock we cannot release dies with its connection
        });
      }
    } finally {
      client.release(broken);
    }
  }
}
