import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool } from '../../../../shared/adapters/postgres/pool.ts';
import { PlatformStore } from '../../../../shared/platform/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../../env/databases.ts';
import '../../../env/provided.ts';

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
  });

  it('redacts secret-looking detail keys at any depth', async () => {
    await store.recordAudit({
      actor: 'token#1',
      operation: 'rotate-password',
      target: 'tenant-x',
      outcome: 'success',
      details: { username: 'alice', password: 'p4ss', nested: { apiToken: 't0k', keep: 1 } },
    });
    const [entry] = (await store.listAudit({ target: 'tenant-x' })).items;
    expect(entry?.details).toEqual({
      username: 'alice',
      password: '[redacted]',
      nested: { apiToken: '[redacted]', keep: 1 },
    });
  });
});
