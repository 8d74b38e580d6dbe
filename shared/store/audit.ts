/**
 * The audit log: one row per mutating call (who, operation, target, outcome, request id, details), read
 * back newest first in pages with a keyset cursor (the last id seen), which stays fast and stable while
 * rows are being added.
 */
import type pg from 'pg';
import { PlatformError } from '../platform/errors.ts';

export type AuditOutcome = 'success' | 'failure' | 'dry_run' | 'partial';

export interface AuditEntry {
  readonly actor: string;
  readonly operation: string;
  readonly target: string;
  readonly outcome: AuditOutcome;
  readonly requestId?: string;
  /**
   * Facts about the call (names, counts, plan, dry-run diff). Callers must NOT put secrets here:
   * passwords, tokens, keys or Secret data. As a second line of defence, values under keys that look secret
   * (see `isSecretKey`) are replaced by "[redacted]" before they are stored, but a secret under an innocent
   * key name (or inside a string) would be stored as it is.
   */
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

/** Any key containing one of these is secret, wherever it appears: `adminPassword`, `client_secret`. */
const SECRET_PART = /password|passwd|passphrase|token|secret|credential|private[-_]?key|api[-_]?key/i;

/**
 * Whether a details key looks like it holds a secret: it contains one of SECRET_PART, or "key" is one of
 * its words or its ending (`key`, `accessKey`, `ssh_key`, `SSHKey`, `signingkeys`). A bare substring test
 * for "key" would also hide `keycloakUser` and `keycloakGroup`, which this project logs everywhere.
 */
export function isSecretKey(name: string): boolean {
  if (SECRET_PART.test(name)) return true;
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  const last = words.at(-1) ?? '';
  return words.includes('key') || words.includes('keys') || /keys?$/.test(last);
}

/**
 * The JSON of `value` with the value of every secret-looking key (see `isSecretKey`), at any depth,
 * replaced by "[redacted]". Runs through JSON.stringify, so a Date becomes its ISO string (as it would be
 * stored anyway) and `toJSON` methods are honoured before redaction.
 */
export function redactedJson(value: unknown): string {
  // Typed as string, but undefined for a function or a toJSON() answering undefined.
  const json = JSON.stringify(value ?? {}, (name, member: unknown) =>
    name !== '' && isSecretKey(name) ? '[redacted]' : member,
  ) as string | undefined;
  return json ?? '{}';
}

/** `value` with every secret-looking key redacted, at any depth, as plain JSON values. */
export function redactSecrets(value: unknown): unknown {
  return JSON.parse(redactedJson(value));
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
      redactedJson(entry.details ?? {}),
    ],
  );
  return rows[0]?.id ?? '';
}

export interface AuditQuery {
  /** Page size, 1..500; default 50. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page: only entries older than it. */
  readonly before?: string;
  readonly target?: string;
  readonly operation?: string;
}

/** A cursor is an audit_log id: a positive bigint, as a string. */
const CURSOR = /^[1-9][0-9]{0,18}$/;
/** PostgreSQL's bigint: a larger cursor would fail the query (numeric out of range) instead of matching. */
const MAX_BIGINT = 2n ** 63n - 1n;

function invalid(path: string, message: string): PlatformError {
  return new PlatformError({
    reason: 'validation',
    message: `invalid audit query: ${path} ${message}`,
    issues: [{ path, message }],
  });
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
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 500)
    throw invalid('limit', 'must be an integer from 1 to 500');
  if (query.before !== undefined && !(CURSOR.test(query.before) && BigInt(query.before) <= MAX_BIGINT))
    throw invalid('before', 'must be a cursor returned as nextCursor');
  // PostgreSQL text cannot hold NUL: such a filter matches nothing, and the query would fail (22021).
  for (const [path, value] of [
    ['target', query.target],
    ['operation', query.operation],
  ] as const)
    if (value?.includes('\u0000') === true) throw invalid(path, 'must not contain a NUL character');
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
