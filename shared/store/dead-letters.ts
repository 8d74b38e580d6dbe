/**
 * Dead letters: the events Knative could not deliver, as the dead-letter sink received them (one row per
 * event and destination, migration 5), listed newest first with a keyset cursor, and replayed at most once
 * unless forced: a replay first claims the row (sets `replayed_at` where it is unset, in one statement),
 * so two concurrent replays of the same record send it once.
 */
import type pg from 'pg';
import { PlatformError } from '../platform/errors.ts';

/** What the dead-letter sink keeps of an undelivered event. */
export interface DeadLetterEntry {
  readonly eventId: string;
  readonly eventSource: string;
  readonly eventType: string;
  readonly eventSubject?: string;
  /** Where delivery failed (the event's `knativeerrordest`); '' when Knative did not say. */
  readonly destination: string;
  /** The last answer's HTTP status (`knativeerrorcode`), when Knative sent it. */
  readonly errorCode?: number;
  /** The last answer's body (`knativeerrordata`, decoded), at most 1024 base64 characters of it. */
  readonly errorData?: string;
  /** The event to replay: attributes, extensions (without Knative's error ones) and data. */
  readonly event: StoredEvent;
  /** Whether secret-looking values of the data were replaced before storing. */
  readonly redacted: boolean;
}

export interface StoredEvent {
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly data?: unknown;
}

export interface DeadLetter extends DeadLetterEntry {
  readonly id: string;
  readonly attempts: number;
  readonly receivedAt: Date;
  readonly lastReceivedAt: Date;
  readonly replayedAt?: Date;
  readonly replayedBy?: string;
  readonly replays: number;
}

export type DeadLetterState = 'pending' | 'replayed' | 'all';

export interface DeadLetterQuery {
  readonly state?: DeadLetterState;
  readonly type?: string;
  readonly limit?: number;
  /** The last id of the previous page. */
  readonly before?: string;
}

export interface DeadLetterPage {
  readonly items: readonly DeadLetter[];
  readonly nextCursor?: string;
}

interface Row {
  id: string;
  event_id: string;
  event_source: string;
  event_type: string;
  event_subject: string | null;
  destination: string;
  error_code: number | null;
  error_data: string | null;
  event: StoredEvent;
  redacted: boolean;
  attempts: number;
  received_at: Date;
  last_received_at: Date;
  replayed_at: Date | null;
  replayed_by: string | null;
  replays: number;
}

function fromRow(row: Row): DeadLetter {
  return {
    id: row.id,
    eventId: row.event_id,
    eventSource: row.event_source,
    eventType: row.event_type,
    ...(row.event_subject === null ? {} : { eventSubject: row.event_subject }),
    destination: row.destination,
    ...(row.error_code === null ? {} : { errorCode: row.error_code }),
    ...(row.error_data === null ? {} : { errorData: row.error_data }),
    event: row.event,
    redacted: row.redacted,
    attempts: row.attempts,
    receivedAt: row.received_at,
    lastReceivedAt: row.last_received_at,
    ...(row.replayed_at === null ? {} : { replayedAt: row.replayed_at }),
    ...(row.replayed_by === null ? {} : { replayedBy: row.replayed_by }),
    replays: row.replays,
  };
}

const COLUMNS = `id::text, event_id, event_source, event_type, event_subject, destination, error_code, error_data,
  event, redacted, attempts, received_at, last_received_at, replayed_at, replayed_by, replays`;

/**
 * Records an undelivered event. The same event dead-lettered again for the same destination (Knative
 * redelivered it, or a replay failed again) adds an attempt, keeps the latest error and is pending again.
 */
export async function recordDeadLetter(
  pool: pg.Pool,
  table: string,
  entry: DeadLetterEntry,
): Promise<DeadLetter> {
  const { rows } = await pool.query<Row>(
    `INSERT INTO ${table} AS d (event_id, event_source, event_type, event_subject, destination, error_code,
                              error_data, event, redacted)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
     ON CONFLICT (event_source, event_id, destination) DO UPDATE
       SET attempts = d.attempts + 1, last_received_at = now(), error_code = EXCLUDED.error_code,
           error_data = EXCLUDED.error_data, event = EXCLUDED.event, redacted = EXCLUDED.redacted,
           replayed_at = NULL
     RETURNING ${COLUMNS}`,
    [
      entry.eventId,
      entry.eventSource,
      entry.eventType,
      entry.eventSubject ?? null,
      entry.destination,
      entry.errorCode ?? null,
      entry.errorData ?? null,
      JSON.stringify(entry.event),
      entry.redacted,
    ],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('dead letter insert returned no row');
  return fromRow(row);
}

export async function listDeadLetters(
  pool: pg.Pool,
  table: string,
  query: DeadLetterQuery,
): Promise<DeadLetterPage> {
  const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
  const where: string[] = [];
  const values: unknown[] = [];
  if (query.state === 'pending') where.push('replayed_at IS NULL');
  if (query.state === 'replayed') where.push('replayed_at IS NOT NULL');
  if (query.type !== undefined) {
    values.push(query.type);
    where.push(`event_type = $${values.length}`);
  }
  if (query.before !== undefined) {
    values.push(query.before);
    where.push(`id < $${values.length}::bigint`);
  }
  values.push(limit + 1);
  const { rows } = await pool.query<Row>(
    `SELECT ${COLUMNS} FROM ${table} ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
      ORDER BY id DESC LIMIT $${values.length}`,
    values,
  );
  const items = rows.slice(0, limit).map(fromRow);
  const last = items.at(-1);
  return rows.length > limit && last !== undefined ? { items, nextCursor: last.id } : { items };
}

export async function readDeadLetter(pool: pg.Pool, table: string, id: string): Promise<DeadLetter> {
  const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} FROM ${table} WHERE id = $1::bigint`, [id]);
  const row = rows[0];
  if (row === undefined)
    throw new PlatformError({ reason: 'not_found', message: `no dead letter with id ${id}` });
  return fromRow(row);
}

export type ReplayClaim =
  | { readonly claimed: true; readonly letter: DeadLetter; readonly previous?: Date }
  | { readonly claimed: false; readonly letter: DeadLetter };

/**
 * Marks the record replayed by `actor` when it is pending (or always, with `force`), in one statement:
 * of two concurrent replays only one claims it. Answers whether this call claimed it.
 */
export async function claimReplay(
  pool: pg.Pool,
  table: string,
  id: string,
  actor: string,
  force: boolean,
): Promise<ReplayClaim> {
  // `before` locks the row and reads its previous replay time (to give the claim back if sending fails);
  // a concurrent claim waits for the lock, and its UPDATE then re-checks `replayed_at IS NULL` on the
  // committed row and claims nothing.
  const { rows } = await pool.query<Row & { previous: Date | null }>(
    `WITH before AS (
       SELECT id, replayed_at AS previous FROM ${table} WHERE id = $1::bigint FOR UPDATE
     ), claimed AS (
       UPDATE ${table} SET replayed_at = now(), replayed_by = $2, replays = replays + 1
        WHERE id = (SELECT id FROM before) AND (replayed_at IS NULL OR $3::boolean)
       RETURNING ${COLUMNS}
     )
     SELECT claimed.*, before.previous FROM claimed CROSS JOIN before`,
    [id, actor, force],
  );
  const row = rows[0];
  if (row === undefined) return { claimed: false, letter: await readDeadLetter(pool, table, id) };
  return {
    claimed: true,
    letter: fromRow(row),
    ...(row.previous === null ? {} : { previous: row.previous }),
  };
}

/** Gives a claim back after the replay could not be sent, so that the next replay sends it. */
export async function releaseReplay(
  pool: pg.Pool,
  table: string,
  id: string,
  previous: Date | undefined,
): Promise<void> {
  await pool.query(
    `UPDATE ${table} SET replayed_at = $2, replays = replays - 1,
            replayed_by = CASE WHEN $2::timestamptz IS NULL THEN NULL ELSE replayed_by END
      WHERE id = $1::bigint`,
    [id, previous ?? null],
  );
}
