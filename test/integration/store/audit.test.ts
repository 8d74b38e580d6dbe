import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool } from '../../../shared/adapters/postgres/pool.ts';
import { PlatformStore } from '../../../shared/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';

let db: TestDatabase;
let store: PlatformStore;

beforeAll(async () => {
  db = await createTestDatabase(inject('testEnv').postgres.url, 'audit');
  store = new PlatformStore(createPool({ connectionString: db.url, log: { warn: () => undefined } }));
});
afterAll(async () => {
  await store.pool.end();
  await db.drop();
});

describe('audit log', () => {
  it('records entries and pages through them newest first with a cursor', async () => {
    for (let i = 0; i < 7; i++) {
      await store.recordAudit({
        actor: 'token#0',
        operation: i % 2 === 0 ? 'provision' : 'deprovision',
        target: `tenant-${i % 3}`,
        outcome: 'success',
        requestId: `req-${i}`,
        details: { step: i },
      });
    }
    const first = await store.listAudit({ limit: 3 });
    expect(first.items.map((e) => e.requestId)).toEqual(['req-6', 'req-5', 'req-4']);
    expect(first.nextCursor).toBeDefined();
    const second = await store.listAudit({
      limit: 3,
      ...(first.nextCursor ? { before: first.nextCursor } : {}),
    });
    expect(second.items.map((e) => e.requestId)).toEqual(['req-3', 'req-2', 'req-1']);
    const third = await store.listAudit({
      limit: 3,
      ...(second.nextCursor ? { before: second.nextCursor } : {}),
    });
    expect(third.items.map((e) => e.requestId)).toEqual(['req-0']);
    expect(third.nextCursor).toBeUndefined();
    expect(first.items[0]).toMatchObject({
      actor: 'token#0',
      operation: 'provision',
      target: 'tenant-0',
      details: { step: 6 },
    });
    expect(first.items[0]?.at).toBeInstanceOf(Date);
  });

  it('filters by target and operation', async () => {
    const page = await store.listAudit({ target: 'tenant-1', operation: 'deprovision' });
    expect(page.items.map((e) => e.requestId)).toEqual(['req-1']);
    expect(page.nextCursor).toBeUndefined();
    const provisions = await store.listAudit({ operation: 'provision' });
    expect(provisions.items.map((e) => e.requestId)).toEqual(['req-6', 'req-4', 'req-2', 'req-0']);
  });

  it('pages through a filtered list with cursors', async () => {
    // tenant-0 has req-6, req-3, req-0.
    const first = await store.listAudit({ target: 'tenant-0', limit: 2 });
    expect(first.items.map((e) => e.requestId)).toEqual(['req-6', 'req-3']);
    expect(first.nextCursor).toBe(first.items[1]?.id);
    const second = await store.listAudit({ target: 'tenant-0', limit: 2, before: first.nextCursor ?? '' });
    expect(second.items.map((e) => e.requestId)).toEqual(['req-0']);
    expect(second.nextCursor).toBeUndefined();
  });

  it('ends without a cursor when the last page is exactly full', async () => {
    const page = await store.listAudit({ target: 'tenant-0', limit: 3 });
    expect(page.items).toHaveLength(3);
    expect(page.nextCursor).toBeUndefined();
  });

  it('keeps its place while newer entries are added', async () => {
    const first = await store.listAudit({ limit: 2 });
    await store.recordAudit({ actor: 'token#9', operation: 'provision', target: 'late', outcome: 'dry_run' });
    const second = await store.listAudit({ limit: 2, before: first.nextCursor ?? '' });
    expect(second.items.map((e) => e.requestId)).toEqual(['req-4', 'req-3']);
    const [late] = (await store.listAudit({ target: 'late' })).items;
    expect(late).toMatchObject({ outcome: 'dry_run', details: {} });
    expect(late?.requestId).toBeUndefined();
  });

  it('refuses a malformed cursor or limit as a validation error, not a database error', async () => {
    for (const query of [
      { before: 'abc' },
      { before: '-1' },
      { before: '1; DROP' },
      { limit: 0 },
      { limit: 501 },
      { limit: 2.5 },
    ]) {
      await expect(store.listAudit(query)).rejects.toMatchObject({ reason: 'validation', status: 400 });
    }
  });

  it('refuses a cursor past bigint and a NUL in a filter (found by fuzzing; were 500s)', async () => {
    const newest = (await store.listAudit({ limit: 1 })).items[0];
    // The largest bigint is a valid cursor: older than it is everything.
    const all = await store.listAudit({ before: '9223372036854775807', limit: 1 });
    expect(all.items[0]?.id).toBe(newest?.id);
    await expect(store.listAudit({ before: '9223372036854775808' })).rejects.toMatchObject({
      reason: 'validation',
      issues: [{ path: 'before', message: 'must be a cursor returned as nextCursor' }],
    });
    expect((await store.listAudit({ target: 'tenant-1' })).items.length).toBeGreaterThan(0);
    for (const query of [{ target: 'tenant-1\u0000' }, { operation: '\u0000' }])
      await expect(store.listAudit(query)).rejects.toMatchObject({ reason: 'validation', status: 400 });
  });

  it('refuses an outcome the table does not know', async () => {
    await expect(
      store.recordAudit({
        actor: 'a',
        operation: 'o',
        target: 't',
        outcome: 'maybe' as unknown as 'success',
      }),
    ).rejects.toMatchObject({ reason: 'internal', upstream: 'postgres' });
  });

  it('redacts secret-looking detail keys at any depth', async () => {
    await store.recordAudit({
      actor: 'token#1',
      operation: 'rotate-password',
      target: 'tenant-x',
      outcome: 'success',
      details: {
        username: 'alice',
        password: 'p4ss',
        nested: { apiToken: 't0k', keep: 1 },
        keycloakUser: 'alice',
        accessKey: 'AKIA',
      },
    });
    const [entry] = (await store.listAudit({ target: 'tenant-x' })).items;
    expect(entry?.details).toEqual({
      username: 'alice',
      password: '[redacted]',
      nested: { apiToken: '[redacted]', keep: 1 },
      keycloakUser: 'alice',
      accessKey: '[redacted]',
    });
    // Nothing secret reached the table at all.
    const raw = await store.pool.query<{ details: string }>(
      `SELECT details::text FROM tenant_lifecycle.audit_log WHERE target = 'tenant-x'`,
    );
    expect(raw.rows[0]?.details).not.toMatch(/p4ss|t0k|AKIA/);
  });
});
