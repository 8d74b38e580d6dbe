import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool } from '../../../../shared/adapters/postgres/pool.ts';
import { PlatformError } from '../../../../shared/platform/errors.ts';
import { hashRequest } from '../../../../shared/platform/request-hash.ts';
import { PlatformStore } from '../../../../shared/platform/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../../env/databases.ts';
import '../../../env/provided.ts';

let db: TestDatabase;
let store: PlatformStore;
let n = 0;
const key = (): string => `key-${++n}`;

beforeAll(async () => {
  db = await createTestDatabase(inject('testEnv').postgres.url, 'idem');
  store = new PlatformStore(
    createPool({ connectionString: db.url, max: 10, log: { warn: () => undefined } }),
  );
});
afterAll(async () => {
  await store.pool.end();
  await db.drop();
});

async function rejection(promise: Promise<unknown>): Promise<PlatformError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PlatformError) return error;
    throw error;
  }
  throw new Error('expected a PlatformError');
}

describe('idempotency keys', () => {
  const requestHash = hashRequest({ username: 'alice', plan: 'basic' });

  it('runs the first request and replays its stored answer without running again', async () => {
    const k = key();
    let runs = 0;
    const fn = () => Promise.resolve({ status: 201, body: { created: 'alice', run: ++runs } });
    const first = await store.runIdempotent({ scope: 'test', key: k, requestHash }, fn);
    const replay = await store.runIdempotent({ scope: 'test', key: k, requestHash }, fn);
    expect(first).toEqual({ status: 201, body: { created: 'alice', run: 1 }, replayed: false });
    expect(replay).toEqual({ status: 201, body: { created: 'alice', run: 1 }, replayed: true });
    expect(runs).toBe(1);
  });

  it('treats the same key in another scope as another key', async () => {
    const k = key();
    const a = await store.runIdempotent({ scope: 'a', key: k, requestHash }, () =>
      Promise.resolve({ status: 200, body: 'a' }),
    );
    const b = await store.runIdempotent({ scope: 'b', key: k, requestHash }, () =>
      Promise.resolve({ status: 200, body: 'b' }),
    );
    expect([a.body, b.body, a.replayed, b.replayed]).toEqual(['a', 'b', false, false]);
  });

  it('refuses the key reused with a different request (422)', async () => {
    const k = key();
    await store.runIdempotent({ scope: 'test', key: k, requestHash }, () =>
      Promise.resolve({ status: 200, body: {} }),
    );
    const error = await rejection(
      store.runIdempotent({ scope: 'test', key: k, requestHash: hashRequest({ username: 'bob' }) }, () =>
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
    const first = store.runIdempotent({ scope: 'test', key: k, requestHash }, slow);
    await inside;
    const second = await rejection(store.runIdempotent({ scope: 'test', key: k, requestHash }, slow));
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
        store.runIdempotent({ scope: 'race', key: k, requestHash }, async () => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 100));
          return { status: 200, body: 'done' };
        }),
      ),
    );
    expect(runs).toBe(1);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 409 });
  });

  it('releases the key when the work fails, so a retry runs', async () => {
    const k = key();
    const failure = new Error('keycloak down');
    await expect(
      store.runIdempotent({ scope: 'test', key: k, requestHash }, () => Promise.reject(failure)),
    ).rejects.toBe(failure);
    const retry = await store.runIdempotent({ scope: 'test', key: k, requestHash }, () =>
      Promise.resolve({ status: 200, body: 'second try' }),
    );
    expect(retry).toEqual({ status: 200, body: 'second try', replayed: false });
  });

  it('forgets expired keys and takes over stale running claims', async () => {
    const expired = key();
    await store.runIdempotent({ scope: 'test', key: expired, requestHash, ttlSeconds: 1 }, () =>
      Promise.resolve({ status: 200, body: 1 }),
    );
    await store.pool.query(
      `UPDATE tenant_lifecycle.idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`,
      [expired],
    );
    const again = await store.runIdempotent({ scope: 'test', key: expired, requestHash }, () =>
      Promise.resolve({ status: 200, body: 2 }),
    );
    expect(again).toEqual({ status: 200, body: 2, replayed: false });

    const stale = key();
    await store.pool.query(
      `INSERT INTO tenant_lifecycle.idempotency_keys (scope, key, request_hash, state, updated_at, expires_at)
       VALUES ('test', $1, $2, 'running', now() - interval '1 hour', now() + interval '1 day')`,
      [stale, requestHash],
    );
    const takeover = await store.runIdempotent({ scope: 'test', key: stale, requestHash }, () =>
      Promise.resolve({ status: 200, body: 'taken' }),
    );
    expect(takeover).toEqual({ status: 200, body: 'taken', replayed: false });
  });
});
