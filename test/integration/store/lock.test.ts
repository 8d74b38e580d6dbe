/**
 * PlatformStore.withLock on the real PostgreSQL: a lease per name, which holds no pool connection while its
 * work runs, takes turns per name, lets a caller stop waiting with a retryable 409, and takes over a lease
 * whose holder died.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool } from '../../../shared/adapters/postgres/pool.ts';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { PlatformStore } from '../../../shared/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';

let db: TestDatabase;
let store: PlatformStore;

beforeAll(async () => {
  db = await createTestDatabase(inject('testEnv').postgres.url, 'lock');
  // A small pool on purpose: locks must not use it up.
  store = new PlatformStore(createPool({ connectionString: db.url, max: 5, log: { warn: () => undefined } }));
  await store.ensureSchema();
});
afterAll(async () => {
  await store.pool.end();
  await db.drop();
});

function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('withLock', () => {
  it('holds 50 locks at once with a pool of 5 connections, and audits beside them', async () => {
    const release = gate();
    let holding = 0;
    const allHeld = gate();
    const runs = Array.from({ length: 50 }, (_, i) =>
      store.withLock(`tenant:many-${i}`, async () => {
        holding++;
        if (holding === 50) allHeld.open();
        await release.opened;
        return i;
      }),
    );
    await allHeld.opened;
    // While all 50 are held, the pool still serves other statements.
    const id = await store.recordAudit({ actor: 't', operation: 'probe', target: 'x', outcome: 'success' });
    expect(id).toMatch(/^\d+$/);
    release.open();
    expect(await Promise.all(runs)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const { rows } = await store.pool.query(`SELECT count(*)::int AS n FROM tenant_lifecycle.lock_leases`);
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('makes a second holder of the same name wait its turn; another name runs meanwhile', async () => {
    const events: string[] = [];
    const release = gate();
    const entered = gate();
    const first = store.withLock('tenant:turns', async () => {
      events.push('first in');
      entered.open();
      await release.opened;
      events.push('first out');
    });
    await entered.opened;
    const second = store.withLock('tenant:turns', () => {
      events.push('second in');
      return Promise.resolve();
    });
    // Another name is not blocked by the held one.
    await store.withLock('tenant:other', () => {
      events.push('other');
      return Promise.resolve();
    });
    await sleep(300); // give a broken lock the chance to let the second in early
    release.open();
    await Promise.all([first, second]);
    expect(events).toEqual(['first in', 'other', 'first out', 'second in']);
  });

  it('turns a caller away with a retryable 409 and Retry-After when its wait bound passes', async () => {
    const release = gate();
    const entered = gate();
    const holder = store.withLock('tenant:bounded', async () => {
      entered.open();
      await release.opened;
    });
    await entered.opened;
    let ran = false;
    const refused = await store
      .withLock(
        'tenant:bounded',
        () => {
          ran = true;
          return Promise.resolve();
        },
        { until: Date.now() },
      )
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PlatformError);
    expect(refused).toMatchObject({ status: 409, reason: 'conflict', retryable: true, retryAfterSeconds: 5 });
    expect(ran).toBe(false);
    release.open();
    await holder;
    // The same call once the lock is free: it runs.
    expect(await store.withLock('tenant:bounded', () => Promise.resolve('ran'), { until: Date.now() })).toBe(
      'ran',
    );
  });

  it('takes over a lease whose holder died (expired), never a live one, and frees only its own', async () => {
    await store.pool.query(
      `INSERT INTO tenant_lifecycle.lock_leases (name, owner, expires_at)
       VALUES ('tenant:dead', $1, now() - interval '1 second'), ('tenant:alive', $2, now() + interval '1 hour')`,
      [randomUUID(), randomUUID()],
    );
    expect(await store.withLock('tenant:dead', () => Promise.resolve('taken over'))).toBe('taken over');
    const refused = await store
      .withLock('tenant:alive', () => Promise.resolve('ran'), { until: Date.now() })
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 409, retryable: true });
    const { rows } = await store.pool.query<{ name: string }>(
      `SELECT name FROM tenant_lifecycle.lock_leases ORDER BY name`,
    );
    expect(rows.map((r) => r.name)).toEqual(['tenant:alive']);
  });

  it('gives fn the held lock, whose lost signal fires when the lease is taken away', async () => {
    const short = new PlatformStore(store.pool, undefined, { lockLeaseMs: 300 });
    const aborted = await short.withLock('tenant:lost', async (lock) => {
      expect(lock?.name).toBe('tenant:lost');
      expect(lock?.lost.aborted).toBe(false);
      await store.pool.query(`DELETE FROM tenant_lifecycle.lock_leases WHERE name = 'tenant:lost'`);
      await new Promise<void>((resolve) => {
        if (lock?.lost.aborted === true) resolve();
        lock?.lost.addEventListener('abort', () => {
          resolve();
        });
      });
      return lock?.lost.aborted;
    });
    expect(aborted).toBe(true);
  });
});
