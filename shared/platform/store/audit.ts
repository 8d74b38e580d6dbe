/**
 * The audit log: one row per mutating call (who, operation, target, outcome, request id, details), read
 * back newest first in pages with a keyset cursor (the last id seen), which stays fast and stable while
 * rows are being added.
 */
import type pg from 'pg';

export type AuditOutcome = 'success' | 'failure' | 'dry_run' | 'partial';

export interface AuditEntry {
  readonly actor: string;
  readonly operation: string;
  readonly target: string;
  readonly outcome: AuditOutcome;
  readonly requestId?: string;
  /** Facts about the call. Callers must not pass secrets; keys that look secret are redacted anyway. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface AuditRecord extends AuditEntry {
  readonly id: string;
  readonly at: Date;
}

export interface AuditPage {
  readonly items: readonly AuditRecord[];
  /** Pass as `before` to read the next (older) page; absent on the last page. */
  readonly nextCursor?: string;
}

const SECRET_KEY = /password|passwd|token|secret|credential|api[-_]?key|private[-_]?key/i;

/** Replaces the value of every key that looks secret, at any depth. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redactSecrets(v)]),
  );
}

export async function recordAudit(
  db: pg.Pool | pg.PoolClient,
  schema: string,
  entry: AuditEntry,
): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO ${schema}.audit_log (actor, operation, target, outcome, request_id, details)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [
      entry.actor,
      entry.operation,
      entry.target,
      entry.outcome,
      entry.requestId ?? null,
      JSON.stringify(redactSecrets(entry.details ?? {})),
    ],
  );
  return rows[0]?.id ?? '';
}

export interface AuditQuery {
  /** Page size, 1..500; default 50. */
  readonly limit?: number;
  readonly before?: string;
  readonly target?: string;
  readonly operation?: string;
}

interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  operation: string;
  target: string;
  outcome: AuditOutcome;
  request_id: string | null;
  details: Record<string, unknown>;
}

export async function listAudit(db: pg.Pool, schema: string, query: AuditQuery = {}): Promise<AuditPage> {
  const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
  const conditions: string[] = [];
  const params: unknown[] = [];
  const where = (sql: string, value: unknown): void => {
    params.push(value);
    conditions.push(sql.replace('?', `$${params.length}`));
  };
  if (query.before !== undefined) where('id < ?', query.before);
  if (query.target !== undefined) where('target = ?', query.target);
  if (query.operation !== undefined) where('operation = ?', query.operation);
  params.push(limit + 1); // one more than asked tells whether another page exists
  const { rows } = await db.query<AuditRow>(
    `SELECT id, at, actor, operation, target, outcome, request_id, details FROM ${schema}.audit_log
     ${conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''}
     ORDER BY id DESC LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, limit);
  const items = page.map((r) => ({
    id: r.id,
    at: r.at,
    actor: r.actor,
    operation: r.operation,
    target: r.target,
    outcome: r.outcome,
    ...(r.request_id === null ? {} : { requestId: r.request_id }),
    details: r.details,
  }));
  const last = page.at(-1);
  return rows.length > limit && last !== undefined ? { items, nextCursor: last.id } : { items };
}
