/**
 * Idempotency keys (the Idempotency-Key header, draft-ietf-httpapi-idempotency-key-header):
 * - the first request with a key runs, and its answer is stored with a keyed fingerprint of the request
 *   (request-hash.ts: an HMAC, so the row does not give away a password the request held);
 * - a replay (same key, same request) gets the stored answer without running again;
 * - the same key with a different request is refused (422);
 * - a duplicate arriving while the first still runs is refused (409, retryable): never runs twice;
 * - a failed run releases the key, so the client can retry; keys expire after their TTL, and a 'running'
 *   claim older than the stale timeout (its instance died) may be taken over.
 *
 * Why claiming is race-free: the claim is one INSERT ... ON CONFLICT DO NOTHING on the primary key, in a
 * READ COMMITTED transaction that first deletes an expired or stale row for that key. Of two concurrent
 * claims, one inserts; the other's INSERT blocks on the primary key's unique index until the first commits,
 * then inserts nothing (DO NOTHING), and its following SELECT, a new statement with a new snapshot, reads
 * the committed row: 'running' gives 409. If the first rolls back instead, the second inserts. Deleting an
 * expired or stale row locks it, so of two takeovers the second waits, finds the row gone (its DELETE
 * re-checks the row after the wait) and then conflicts with the first's new row exactly as above.
 * So at most one request holds a live claim per (scope, key), and only the holder runs `fn`.
 *
 * Each claim carries a random token. Completing and releasing match on it, so a run that outlived the stale
 * timeout (and was taken over) cannot overwrite or delete the claim of the request that took over. Keep the
 * stale timeout above the longest run: Knative stops a request after 600 s at most, the default is 15 min.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { PlatformError } from '../platform/errors.ts';
import { postgresError } from '../adapters/postgres/errors.ts';
import { withTransaction } from '../adapters/postgres/pool.ts';
import type { IdempotentResult, StoredAnswer } from '../platform/idempotency.ts';

export interface IdempotentRequest {
  /** The operation, e.g. "bootstrap:tenant": the same key in two operations is two keys. */
  readonly scope: string;
  readonly key: string;
  /** The request's fingerprint (request-hash.ts: keyed, never a plain hash of the request). */
  readonly requestHash: string;
  /** How long a completed answer is replayed; default 24 h. */
  readonly ttlSeconds?: number;
  /** A 'running' claim older than this is considered abandoned; default 15 min. */
  readonly staleAfterSeconds?: number;
}

interface KeyRow {
  state: 'running' | 'completed';
  request_hash: string;
  status_code: number | null;
  response: unknown;
}

type Claim = { claimed: true; token: string } | { claimed: false; row: KeyRow | undefined };

async function claim(pool: pg.Pool, schema: string, request: IdempotentRequest): Promise<Claim> {
  const token = randomUUID();
  const ttl = request.ttlSeconds ?? 86_400;
  const stale = request.staleAfterSeconds ?? 900;
  return withTransaction(pool, async (client) => {
    await client.query(
      `DELETE FROM ${schema}.idempotency_keys
        WHERE scope = $1 AND key = $2
          AND (expires_at < now() OR (state = 'running' AND updated_at < now() - make_interval(secs => $3)))`,
      [request.scope, request.key, stale],
    );
    const inserted = await client.query(
      `INSERT INTO ${schema}.idempotency_keys (scope, key, request_hash, state, claim, expires_at)
       VALUES ($1, $2, $3, 'running', $4, now() + make_interval(secs => $5))
       ON CONFLICT (scope, key) DO NOTHING`,
      [request.scope, request.key, request.requestHash, token, ttl],
    );
    if (inserted.rowCount === 1) return { claimed: true, token };
    const { rows } = await client.query<KeyRow>(
      `SELECT state, request_hash, status_code, response FROM ${schema}.idempotency_keys WHERE scope = $1 AND key = $2`,
      [request.scope, request.key],
    );
    return { claimed: false, row: rows[0] };
  });
}

/** Runs `fn` at most once per (scope, key) while the key lives; see the module comment for the protocol. */
export async function runIdempotent(
  pool: pg.Pool,
  schema: string,
  request: IdempotentRequest,
  fn: () => Promise<StoredAnswer>,
): Promise<IdempotentResult> {
  const claimed = await claim(pool, schema, request).catch((error: unknown) => {
    throw postgresError(error, 'claim idempotency key');
  });
  if (!claimed.claimed) {
    const row = claimed.row;
    if (row === undefined) {
      // Released between our insert attempt and our read: the other request failed. Let the client retry.
      throw new PlatformError({
        reason: 'conflict',
        message: 'a request with this Idempotency-Key just failed; retry',
        retryable: true,
      });
    }
    if (row.request_hash !== request.requestHash) {
      throw new PlatformError({
        reason: 'conflict',
        status: 422,
        message: 'Idempotency-Key reused with a different request',
        retryable: false,
      });
    }
    if (row.state === 'running') {
      throw new PlatformError({
        reason: 'conflict',
        message: 'a request with this Idempotency-Key is in progress',
        retryable: true,
      });
    }
    return { status: row.status_code ?? 200, body: row.response, replayed: true };
  }

  let answer: StoredAnswer;
  try {
    answer = await fn();
  } catch (error) {
    await pool
      .query(
        `DELETE FROM ${schema}.idempotency_keys
          WHERE scope = $1 AND key = $2 AND claim = $3 AND state = 'running'`,
        [request.scope, request.key, claimed.token],
      )
      .catch(() => undefined); // the stale timeout releases it if this fails too
    throw error;
  }
  // If storing fails, the work is done but not recorded: the claim stays 'running' until it is stale, so a
  // retry gets 409 meanwhile rather than running the work twice. If the claim was taken over meanwhile
  // (this run outlived the stale timeout), nothing is updated: the row belongs to the other request.
  await pool
    .query(
      `UPDATE ${schema}.idempotency_keys
          SET state = 'completed', status_code = $4, response = $5, updated_at = now()
        WHERE scope = $1 AND key = $2 AND claim = $3 AND state = 'running'`,
      [
        request.scope,
        request.key,
        claimed.token,
        answer.status,
        JSON.stringify(answer.replayBody ?? answer.body ?? null),
      ],
    )
    .catch((error: unknown) => {
      throw postgresError(error, 'store idempotent response');
    });
  return { ...answer, replayed: false };
}

/** Deletes expired keys; answers how many. Cheap to call from a periodic job. */
export async function purgeExpiredKeys(pool: pg.Pool, schema: string): Promise<number> {
  const result = await pool.query(`DELETE FROM ${schema}.idempotency_keys WHERE expires_at < now()`);
  return result.rowCount ?? 0;
}
