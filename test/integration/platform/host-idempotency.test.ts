/**
 * The Idempotency-Key header end to end: a function served over HTTP with the platform store on the real
 * PostgreSQL. Two concurrent requests with one key run the operation once; a replay gets the stored answer.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { createPool } from '../../../shared/adapters/postgres/pool.ts';
import { defineConfig } from '../../../shared/platform/config.ts';
import { operation } from '../../../shared/platform/operation.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { PlatformStore } from '../../../shared/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';

const TOKEN = 'idempotency-test-token-0123456789';
let db: TestDatabase;
let store: PlatformStore;
let fn: RunningFunction;
let runs = 0;
let gate: Promise<void> = Promise.resolve();

beforeAll(async () => {
  db = await createTestDatabase(inject('testEnv').postgres.url, 'hostidem');
  store = new PlatformStore(
    createPool({ connectionString: db.url, log: { warn: () => undefined } }),
    undefined,
    { idempotencySecret: 'host-idempotency-test-secret-0123456789' },
  );
  fn = await startFunction({
    spec: {
      name: 'idemtest',
      operations: [
        operation({
          name: 'create',
          input: z.object({ username: z.string() }),
          http: [{ method: 'POST', path: '/tenants' }],
          idempotent: true,
          successStatus: 201,
          run: async ({ username }) => {
            const run = ++runs;
            await gate;
            return { username, run };
          },
        }),
      ],
    },
    loadConfig: defineConfig({}, () => ({})),
    env: { API_TOKEN: TOKEN, LOG_LEVEL: 'silent' },
    port: 0,
    host: '127.0.0.1',
    setup: () => Promise.resolve({ idempotency: store, close: () => store.pool.end() }),
  });
});
afterAll(async () => {
  await fn.stop();
  await db.drop();
});

const create = (key: string, username: string) =>
  fetch(`${fn.url}/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ username }),
  });

describe('Idempotency-Key', () => {
  it('runs once for two concurrent requests, 409 for the duplicate, then replays the stored answer', async () => {
    let open: () => void = () => undefined;
    gate = new Promise((resolve) => (open = resolve));
    runs = 0;
    const first = create('k-1', 'alice');
    await expect.poll(() => runs).toBe(1);
    const duplicate = await create('k-1', 'alice');
    expect(duplicate.status).toBe(409);
    expect(await duplicate.json()).toMatchObject({
      type: 'urn:tenant-lifecycle:problem:conflict',
      retryable: true,
    });
    open();
    const answer = await first;
    expect(answer.status).toBe(201);
    expect(await answer.json()).toEqual({ username: 'alice', run: 1 });
    expect(answer.headers.get('idempotent-replayed')).toBeNull();

    const replay = await create('k-1', 'alice');
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.json()).toEqual({ username: 'alice', run: 1 });
    expect(runs).toBe(1);
  });

  it('refuses the same key with another body (422), and runs without a key every time', async () => {
    gate = Promise.resolve();
    await (await create('k-2', 'bob')).arrayBuffer();
    const reused = await create('k-2', 'carol');
    expect(reused.status).toBe(422);
    await reused.arrayBuffer();
    runs = 0;
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${fn.url}/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'dave' }),
      });
      expect(response.status).toBe(201);
      await response.arrayBuffer();
    }
    expect(runs).toBe(2);
  });
});
