/**
 * A pool whose every connection is in use: pg-pool's own wait timeout must reach the caller as "busy",
 * 503 `unavailable` with a Retry-After header, never as "connection lost". No database is contacted: the
 * pool's clients are stand-ins that connect at once, so holding one keeps the pool's only slot in use.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { postgresError } from '../../../../shared/adapters/postgres/errors.ts';
import { defineConfig } from '../../../../shared/platform/config.ts';
import { PlatformError } from '../../../../shared/platform/errors.ts';
import { operation } from '../../../../shared/platform/operation.ts';
import { startFunction, type RunningFunction } from '../../../../shared/platform/server.ts';
import { PlatformStore } from '../../../../shared/store/store.ts';

const TOKEN = 'unit-test-token-0123456789';

/** What pg-pool needs of a client: it connects at once and ends when asked. */
class ConnectedClient extends EventEmitter {
  connect(callback: (error?: Error) => void): void {
    setImmediate(() => {
      callback();
    });
  }
  end(callback?: () => void): void {
    setImmediate(() => callback?.());
  }
}

const pool = new pg.Pool({
  Client: ConnectedClient as unknown as typeof pg.Client,
  max: 1,
  connectionTimeoutMillis: 50,
});
let fn: RunningFunction;

beforeAll(async () => {
  fn = await startFunction({
    spec: {
      name: 'busytest',
      operations: [
        operation({
          name: 'write',
          input: z.object({}),
          http: [{ method: 'POST', path: '/write' }],
          run: async () => {
            const client = await pool.connect().catch((error: unknown) => {
              throw postgresError(error, 'record audit entry');
            });
            client.release();
            return { written: true };
          },
        }),
      ],
    },
    loadConfig: defineConfig({}, () => ({})),
    env: { API_TOKEN: TOKEN, LOG_LEVEL: 'silent' },
    port: 0,
    host: '127.0.0.1',
  });
});
afterAll(async () => {
  await fn.stop();
  await pool.end();
});

const write = () =>
  fetch(`${fn.url}/write`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: '{}',
  });

describe('a pool wait timeout', () => {
  it('answers 503 unavailable with Retry-After while the pool is full, and 200 once a slot is free', async () => {
    const holder = await pool.connect();
    const busy = await write();
    const problem = (await busy.json()) as Record<string, unknown>;
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('2');
    expect(problem).toMatchObject({
      type: 'urn:tenant-lifecycle:problem:unavailable',
      retryable: true,
      upstream: 'postgres',
      detail:
        'postgres: record audit entry: busy: every database connection of this instance stayed in use; retry shortly',
    });
    expect(String(problem.detail)).not.toMatch(/connection lost/);

    holder.release();
    const free = await write();
    expect(free.status).toBe(200);
    expect(free.headers.get('retry-after')).toBeNull();
    expect(await free.json()).toEqual({ written: true });
  });

  it("is what the store's lock reports when the pool stays full", async () => {
    const store = new PlatformStore(pool);
    const holder = await pool.connect();
    try {
      const refused = await store
        .withLock('tenant:busy', () => Promise.resolve('ran'))
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(PlatformError);
      expect(refused).toMatchObject({
        status: 503,
        reason: 'unavailable',
        retryable: true,
        retryAfterSeconds: 2,
      });
      expect((refused as PlatformError).message).toMatch(/busy/);
    } finally {
      holder.release();
    }
    // The same pool with its slot free serves a client again.
    const again = await pool.connect();
    expect(typeof again.release).toBe('function');
    again.release();
  });
});
