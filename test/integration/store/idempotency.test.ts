import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool } from '../../../shared/adapters/postgres/pool.ts';
import { fingerprintRequest } from '../../../shared/platform/request-hash.ts';
import { PlatformStore } from '../../../shared/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { platformErrorOf } from '../../support/platform-error.ts';

const SECRET = 'idempotency-test-secret-0123456789abcdef';
let db: TestDatabase;
let store: PlatformStore;
let n = 0;
const key = (): string => `key-${++n}`;

beforeAll(async () => {
  db = await createTestDatabase(inject('testEnv').postgres.url, 'idem');
  store = new PlatformStore(
    createPool({ connectionString: db.url, max: 10, log: { warn: () => undefined } }),
    undefined,
    { idempotencySecret: SECRET },
  );
});
afterAll(async () => {
  await store.pool.end();
  await db.drop();
});

describe('idempotency keys', () => {
  const request = { username: 'alice', plan: 'basic' };
  const requestHash = fingerprintRequest(request, SECRET);

  it('runs the first request and replays its stored answer without running again', async () => {
    const k = key();
    let runs = 0;
    const fn = () => Promise.resolve({ status: 201, body: { created: 'alice', run: ++runs } });
    const first = await store.runIdempotent({ scope: 'test', key: k, request }, fn);
    const replay = await store.runIdempotent({ scope: 'test', key: k, request }, fn);
    expect(first).toEqual({ status: 201, body: { created: 'alice', run: 1 }, replayed: false });
    expect(replay).toEqual({ status: 201, body: { created: 'alice', run: 1 }, replayed: true });
    expect(runs).toBe(1);
  });

  it('treats the same key in another scope as another key', async () => {
    const k = key();
    const a = await store.runIdempotent({ scope: 'a', key: k, request }, () =>
      Promise.resolve({ status: 200, body: 'a' }),
    );
    const b = await store.runIdempotent({ scope: 'b', key: k, request }, () =>
      Promise.resolve({ status: 200, body: 'b' }),
    );
    expect([a.body, b.body, a.replayed, b.replayed]).toEqual(['a', 'b', false, false]);
  });

  it('refuses the key reused with a different request (422)', async () => {
    const k = key();
    await store.runIdempotent({ scope: 'test', key: k, request }, () =>
      Promise.resolve({ status: 200, body: {} }),
    );
    const error = await platformErrorOf(
      store.runIdempotent({ scope: 'test', key: k, request: { username: 'bob' } }, () =>
        Promise.resolve({ status: 200, body: {} }),
      ),
    );
    expect(error).toMatchObject({ reason: 'conflict', status: 422, retryable: false });
  });

  it('runs two concurrent requests with the same key exactly once; the other gets 409', async () => {
    const k = key();
    let runs = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered: () => void = () => undefined;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const slow = async () => {
      runs++;
      entered();
      await gate;
      return { status: 200, body: { ok: true } };
    };
    const first = store.runIdempotent({ scope: 'test', key: k, request }, slow);
    await inside;
    const second = await platformErrorOf(store.runIdempotent({ scope: 'test', key: k, request }, slow));
    expect(second).toMatchObject({ reason: 'conflict', status: 409, retryable: true });
    release();
    expect(await first).toMatchObject({ replayed: false, body: { ok: true } });
    expect(runs).toBe(1);
  });

  it('lets ten simultaneous claims through exactly once', async () => {
    const k = key();
    let runs = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        store.runIdempotent({ scope: 'race', key: k, request }, async () => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 100));
          return { status: 200, body: 'done' };
        }),
      ),
    );
    expect(runs).toBe(1);
    // One claim runs; the others either meet it in progress (409) or, on a slow machine, arrive after it
    // finished and get its stored answer (replayed).
    const fulfilled = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(fulfilled.filter((v) => !v.replayed)).toHaveLength(1);
    for (const v of fulfilled) expect(v).toMatchObject({ body: 'done' });
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 409 });
  });

  it('releases the key when the work fails, so a retry runs', async () => {
    const k = key();
    const failure = new Error('keycloak down');
    await expect(
      store.runIdempotent({ scope: 'test', key: k, request }, () => Promise.reject(failure)),
    ).rejects.toBe(failure);
    const retry = await store.runIdempotent({ scope: 'test', key: k, request }, () =>
      Promise.resolve({ status: 200, body: 'second try' }),
    );
    expect(retry).toEqual({ status: 200, body: 'second try', replayed: false });
  });

  it('forgets expired keys and takes over stale running claims', async () => {
    const expired = key();
    await store.runIdempotent({ scope: 'test', key: expired, request, ttlSeconds: 1 }, () =>
      Promise.resolve({ status: 200, body: 1 }),
    );
    await store.pool.query(
      `UPDATE tenant_lifecycle.idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`,
      [expired],
    );
    const again = await store.runIdempotent({ scope: 'test', key: expired, request }, () =>
      Promise.resolve({ status: 200, body: 2 }),
    );
    expect(again).toEqual({ status: 200, body: 2, replayed: false });

    const stale = key();
    await store.pool.query(
      `INSERT INTO tenant_lifecycle.idempotency_keys (scope, key, request_hash, state, updated_at, expires_at)
       VALUES ('test', $1, $2, 'running', now() - interval '1 hour', now() + interval '1 day')`,
      [stale, requestHash],
    );
    const takeover = await store.runIdempotent({ scope: 'test', key: stale, request }, () =>
      Promise.resolve({ status: 200, body: 'taken' }),
    );
    expect(takeover).toEqual({ status: 200, body: 'taken', replayed: false });
    const replay = await store.runIdempotent({ scope: 'test', key: stale, request }, () =>
      Promise.reject(new Error('must not run')),
    );
    expect(replay).toEqual({ status: 200, body: 'taken', replayed: true });
  });

  it('stores a keyed fingerprint: not the plain SHA-256 of the request; another secret does not match it', async () => {
    const k = key();
    const secretRequest = { username: 'alice', password: 'short1' };
    await store.runIdempotent({ scope: 'keyed', key: k, request: secretRequest }, () =>
      Promise.resolve({ status: 200, body: 'done' }),
    );
    const { rows } = await store.pool.query<{ request_hash: string }>(
      `SELECT request_hash FROM tenant_lifecycle.idempotency_keys WHERE scope = 'keyed' AND key = $1`,
      [k],
    );
    const stored = rows[0]?.request_hash;
    expect(stored).toBe(fingerprintRequest(secretRequest, SECRET));
    // What an attacker holding the row would try: the plain hash of a guessed request. It does not match.
    const plain = createHash('sha256').update('{"password":"short1","username":"alice"}').digest('hex');
    expect(stored).not.toBe(plain);
    // The same request under another server secret is another fingerprint: a 422, not a replay.
    const other = new PlatformStore(store.pool, undefined, { idempotencySecret: `${SECRET}-other` });
    const refused = await platformErrorOf(
      other.runIdempotent({ scope: 'keyed', key: k, request: secretRequest }, () =>
        Promise.reject(new Error('must not run')),
      ),
    );
    expect(refused.status).toBe(422);
    // Positive control: the right secret replays.
    const replay = await store.runIdempotent({ scope: 'keyed', key: k, request: secretRequest }, () =>
      Promise.reject(new Error('must not run')),
    );
    expect(replay).toEqual({ status: 200, body: 'done', replayed: true });
  });

  it('refuses an idempotent run without a secret: nothing stored, nothing run', async () => {
    const k = key();
    const unkeyed = new PlatformStore(store.pool);
    let runs = 0;
    const refused = await platformErrorOf(
      unkeyed.runIdempotent({ scope: 'unkeyed', key: k, request }, () => {
        runs++;
        return Promise.resolve({ status: 200, body: null });
      }),
    );
    expect(refused.message).toBe('idempotent operations need IDEMPOTENCY_KEY_SECRET; none is configured');
    expect(runs).toBe(0);
    const { rows } = await store.pool.query(
      `SELECT 1 FROM tenant_lifecycle.idempotency_keys WHERE scope = 'unkeyed'`,
    );
    expect(rows).toEqual([]);
  });

  it('stores the answer with its TTL and the request hash', async () => {
    const k = key();
    await store.runIdempotent({ scope: 'ttl', key: k, request, ttlSeconds: 3600 }, () =>
      Promise.resolve({ status: 202, body: { accepted: true } }),
    );
    const { rows } = await store.pool.query<{
      state: string;
      status_code: number;
      response: unknown;
      request_hash: string;
      ttl: number;
    }>(
      `SELECT state, status_code, response, request_hash,
              round(extract(epoch FROM expires_at - created_at))::int AS ttl
         FROM tenant_lifecycle.idempotency_keys WHERE scope = 'ttl' AND key = $1`,
      [k],
    );
    expect(rows).toEqual([
      {
        state: 'completed',
        status_code: 202,
        response: { accepted: true },
        request_hash: requestHash,
        ttl: 3600,
      },
    ]);
    const other = key();
    await store.runIdempotent({ scope: 'ttl', key: other, request }, () =>
      Promise.resolve({ status: 200, body: null }),
    );
    const defaults = await store.pool.query<{ ttl: number }>(
      `SELECT round(extract(epoch FROM expires_at - created_at))::int AS ttl
         FROM tenant_lifecycle.idempotency_keys WHERE scope = 'ttl' AND key = $1`,
      [other],
    );
    expect(defaults.rows[0]?.ttl).toBe(86_400);
  });

  it('does not let a run that outlived the stale timeout complete or release the claim that took over', async () => {
    const k = key();
    const other = { username: 'bob' };
    const otherHash = fingerprintRequest(other, SECRET);
    let release: (fail: boolean) => void = () => undefined;
    const gate = new Promise<boolean>((resolve) => (release = resolve));
    let entered: () => void = () => undefined;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const slowRun = store.runIdempotent(
      { scope: 'stale', key: k, request, staleAfterSeconds: 60 },
      async () => {
        entered();
        if (await gate) throw new Error('late failure');
        return { status: 200, body: 'late' };
      },
    );
    await inside;
    // The first instance looks dead: its claim is older than the stale timeout.
    await store.pool.query(
      `UPDATE tenant_lifecycle.idempotency_keys SET updated_at = now() - interval '2 minutes' WHERE key = $1`,
      [k],
    );
    let takeoverGate: () => void = () => undefined;
    const takeoverWaits = new Promise<void>((resolve) => (takeoverGate = resolve));
    let takeoverEntered: () => void = () => undefined;
    const takeoverInside = new Promise<void>((resolve) => (takeoverEntered = resolve));
    const takeover = store.runIdempotent(
      { scope: 'stale', key: k, request: other, staleAfterSeconds: 60 },
      async () => {
        takeoverEntered();
        await takeoverWaits;
        return { status: 201, body: 'taken over' };
      },
    );
    await takeoverInside;
    // The late run fails now: its release must not delete the claim of the request that took over.
    release(true);
    await expect(slowRun).rejects.toThrow('late failure');
    const during = await store.pool.query<{ state: string; request_hash: string }>(
      `SELECT state, request_hash FROM tenant_lifecycle.idempotency_keys WHERE key = $1`,
      [k],
    );
    expect(during.rows).toEqual([{ state: 'running', request_hash: otherHash }]);
    takeoverGate();
    expect(await takeover).toEqual({ status: 201, body: 'taken over', replayed: false });
    // The original request now gets 422: the key belongs to the other request.
    await expect(
      store.runIdempotent({ scope: 'stale', key: k, request }, () =>
        Promise.resolve({ status: 200, body: 'x' }),
      ),
    ).rejects.toMatchObject({ status: 422 });
  });

  it('does not let a late success overwrite the answer of the claim that took over', async () => {
    const k = key();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered: () => void = () => undefined;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const slowRun = store.runIdempotent(
      { scope: 'stale', key: k, request, staleAfterSeconds: 60 },
      async () => {
        entered();
        await gate;
        return { status: 200, body: 'late' };
      },
    );
    await inside;
    await store.pool.query(
      `UPDATE tenant_lifecycle.idempotency_keys SET updated_at = now() - interval '2 minutes' WHERE key = $1`,
      [k],
    );
    const takeover = await store.runIdempotent(
      { scope: 'stale', key: k, request, staleAfterSeconds: 60 },
      () => Promise.resolve({ status: 201, body: 'taken over' }),
    );
    expect(takeover).toEqual({ status: 201, body: 'taken over', replayed: false });
    release();
    // The late run did its work and says so to its own caller, but the stored answer stays the takeover's.
    expect(await slowRun).toEqual({ status: 200, body: 'late', replayed: false });
    const replay = await store.runIdempotent({ scope: 'stale', key: k, request }, () =>
      Promise.reject(new Error('must not run')),
    );
    expect(replay).toEqual({ status: 201, body: 'taken over', replayed: true });
  });

  it('keeps the running claim of a live request: no takeover before the stale timeout', async () => {
    const k = key();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered: () => void = () => undefined;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    let runs = 0;
    const first = store.runIdempotent({ scope: 'live', key: k, request }, async () => {
      runs++;
      entered();
      await gate;
      return { status: 200, body: 'first' };
    });
    await inside;
    await store.pool.query(
      `UPDATE tenant_lifecycle.idempotency_keys SET updated_at = now() - interval '14 minutes' WHERE key = $1`,
      [k],
    );
    await expect(
      store.runIdempotent({ scope: 'live', key: k, request }, () => {
        runs++;
        return Promise.resolve({ status: 200, body: 'second' });
      }),
    ).rejects.toMatchObject({
      status: 409,
      retryable: true,
      message: 'a request with this Idempotency-Key is in progress',
    });
    release();
    expect(await first).toEqual({ status: 200, body: 'first', replayed: false });
    expect(runs).toBe(1);
  });
});
