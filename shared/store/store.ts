/**
 * The platform store: what needs transactions lives in one PostgreSQL database (audit log, idempotency
 * keys, lock leases, dead letters). The schema is migrated on first use, once per instance; a failed
 * migration is retried by the next call instead of being remembered.
 */
import type pg from 'pg';
import { escapeIdentifier } from 'pg';
import { postgresError } from '../adapters/postgres/errors.ts';
import { PlatformError } from '../platform/errors.ts';
import { fingerprintRequest } from '../platform/request-hash.ts';
import { withLease, type HeldLock, type LeaseSettings, type LockWait } from './lock-lease.ts';
import { listAudit, recordAudit, type AuditEntry, type AuditPage, type AuditQuery } from './audit.ts';
import type { IdempotencyStore, IdempotentResult, StoredAnswer } from '../platform/idempotency.ts';
import { runIdempotent, type IdempotentRequest } from './idempotency.ts';
import { DEFAULT_SCHEMA, migrate } from './migrations.ts';
import {
  claimReplay,
  listDeadLetters,
  readDeadLetter,
  recordDeadLetter,
  releaseReplay,
  type DeadLetter,
  type DeadLetterEntry,
  type DeadLetterPage,
  type DeadLetterQuery,
  type ReplayClaim,
} from './dead-letters.ts';

export { DEFAULT_SCHEMA };
export type { HeldLock, LockWait };

export class PlatformStore implements IdempotencyStore {
  readonly pool: pg.Pool;
  readonly schema: string;
  private readonly quoted: string;
  private ready: Promise<void> | undefined;

  private readonly idempotencySecret: string | undefined;
  private readonly lease: LeaseSettings;
  private readonly leaseTable: string;

  /**
   * `idempotencySecret` keys the request fingerprints of idempotent operations (IDEMPOTENCY_KEY_SECRET);
   * without it, runIdempotent refuses: a function with idempotent operations requires the setting.
   * `lockWaitMs` bounds how long withLock waits for a held lock (default 60 s; functions derive it from
   * REQUEST_TIMEOUT_SECONDS); `lockLeaseMs` is how long a dead holder keeps a lock (default 60 s).
   */
  constructor(
    pool: pg.Pool,
    schema: string = DEFAULT_SCHEMA,
    options: {
      readonly idempotencySecret?: string | undefined;
      readonly lockWaitMs?: number;
      readonly lockLeaseMs?: number;
    } = {},
  ) {
    this.pool = pool;
    this.schema = schema;
    this.quoted = escapeIdentifier(schema);
    this.idempotencySecret = options.idempotencySecret;
    this.lease = { leaseMs: options.lockLeaseMs ?? 60_000, waitMs: options.lockWaitMs ?? 60_000 };
    this.leaseTable = `${this.quoted}.lock_leases`;
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

  /** Records an event Knative could not deliver (dead-letters.ts). */
  async recordDeadLetter(entry: DeadLetterEntry): Promise<DeadLetter> {
    await this.ensureSchema();
    return recordDeadLetter(this.pool, `${this.quoted}.dead_letters`, entry).catch((error: unknown) => {
      throw postgresError(error, 'record a dead letter');
    });
  }

  async listDeadLetters(query: DeadLetterQuery = {}): Promise<DeadLetterPage> {
    await this.ensureSchema();
    return listDeadLetters(this.pool, `${this.quoted}.dead_letters`, query).catch((error: unknown) => {
      throw postgresError(error, 'list dead letters');
    });
  }

  async readDeadLetter(id: string): Promise<DeadLetter> {
    await this.ensureSchema();
    return readDeadLetter(this.pool, `${this.quoted}.dead_letters`, id).catch((error: unknown) => {
      throw postgresError(error, 'read a dead letter');
    });
  }

  /** Marks a dead letter replayed unless it already is (or always, with `force`); see dead-letters.ts. */
  async claimDeadLetterReplay(id: string, actor: string, force: boolean): Promise<ReplayClaim> {
    await this.ensureSchema();
    return claimReplay(this.pool, `${this.quoted}.dead_letters`, id, actor, force).catch((error: unknown) => {
      throw postgresError(error, 'claim a dead letter replay');
    });
  }

  async releaseDeadLetterReplay(id: string, previous: Date | undefined): Promise<void> {
    await this.ensureSchema();
    await releaseReplay(this.pool, `${this.quoted}.dead_letters`, id, previous).catch((error: unknown) => {
      throw postgresError(error, 'give back a dead letter replay');
    });
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
   * Runs `fn` while holding the lock `name` (e.g. "tenant:john-doe"), so that operations on the same thing
   * take turns across instances. The lock is a lease (lock-lease.ts): it holds no pool connection while
   * `fn` runs, so a pool sized to the instance's concurrency serves that many locked operations at once.
   * A caller finding the lock held waits, at most until `wait.until` (default: the store's lock wait), then
   * gets a retryable 409 with Retry-After. `fn` may ignore its argument, or watch `lock.lost`.
   */
  async withLock<T>(name: string, fn: (lock?: HeldLock) => Promise<T>, wait: LockWait = {}): Promise<T> {
    await this.ensureSchema();
    return withLease(this.pool, this.leaseTable, name, this.lease, wait, fn);
  }
}
