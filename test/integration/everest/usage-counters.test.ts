/**
 * The predecessor's usage counters at the edges of their columns, through POST /usage/register-cluster of
 * the enforce function on the real PostgreSQL: a number past the schema's bounds is a 400 before any
 * query (fuzzing found memory_bytes 1.5e308 answered 500), and a sum past the bigint column is a 400 with
 * nothing changed; the largest accepted values still register.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/enforce/config.ts';
import { enforceSetup } from '../../../functions/enforce/index.ts';
import { MAX_CPU_CORES, MAX_MEMORY_BYTES } from '../../../shared/everest/input-bounds.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { FUNCTION_TOKEN } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
let db: TestDatabase;
let fn: RunningFunction | undefined;

async function register(body: Record<string, unknown>) {
  const response = await fetch(`${fn?.url ?? ''}/usage/register-cluster`, {
    method: 'POST',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function memoryUsed(namespace: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ memory_used: string }>(
      'SELECT memory_used FROM tenant_lifecycle.usage_counters WHERE namespace = $1',
      [namespace],
    );
    return rows[0]?.memory_used;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'counters');
  fn = await startFunction({
    name: 'enforce',
    loadConfig,
    env: {
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_URL: db.url,
      KUBECONFIG: env.kubernetes.kubeconfigPath,
    },
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(enforceSetup(config, log)),
  });
});

afterAll(async () => {
  await fn?.stop();
  await db.drop();
});

describe('usage counters at the edges', () => {
  it('refuses numbers past the bounds with 400 and registers the largest accepted ones', async () => {
    const ns = 'bounds-a';
    // The first request on a fresh database (no /readyz before it) migrates the store first: was a 500.
    const first = await register({ namespace: ns, op: 'create', cpu_cores: 1, memory_bytes: 1 });
    expect(first).toMatchObject({ status: 200, body: { usage: { clusters_count: 1, memory_used: 1 } } });
    for (const past of [
      { cpu_cores: 1, memory_bytes: 1.5e308 },
      { cpu_cores: 1, memory_bytes: MAX_MEMORY_BYTES + 1 },
      { cpu_cores: 1, memory_bytes: 1024.5 },
      { cpu_cores: MAX_CPU_CORES + 1, memory_bytes: 1 },
    ]) {
      const refused = await register({ namespace: ns, op: 'create', ...past });
      expect(refused.status).toBe(400);
      expect(refused.body.type).toBe('urn:tenant-lifecycle:problem:validation');
    }
    expect(await memoryUsed(ns)).toBe('1');

    const accepted = await register({
      namespace: ns,
      op: 'create',
      cpu_cores: MAX_CPU_CORES,
      memory_bytes: MAX_MEMORY_BYTES,
    });
    expect(accepted).toMatchObject({
      status: 200,
      body: { usage: { clusters_count: 2, cpu_used: MAX_CPU_CORES + 1, memory_used: MAX_MEMORY_BYTES + 1 } },
    });
  });

  it('refuses a registration whose sum would overflow the bigint column, changing nothing', async () => {
    const ns = 'bounds-b';
    expect((await register({ namespace: ns, op: 'create', cpu_cores: 1, memory_bytes: 1 })).status).toBe(200);
    // A namespace 1 PiB short of the column's end (2^63 - 1), as 8191 registrations of 1 PiB would leave it.
    const nearEnd = (2n ** 63n - 2n ** 50n).toString();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('UPDATE tenant_lifecycle.usage_counters SET memory_used = $2 WHERE namespace = $1', [
      ns,
      nearEnd,
    ]);
    await client.end();

    const overflow = await register({
      namespace: ns,
      op: 'create',
      cpu_cores: 1,
      memory_bytes: MAX_MEMORY_BYTES,
    });
    expect(overflow.status).toBe(400);
    expect(overflow.body.detail).toBe('usage counters overflow');
    expect(await memoryUsed(ns)).toBe(nearEnd);

    // The last byte that fits still registers.
    const fits = await register({
      namespace: ns,
      op: 'create',
      cpu_cores: 1,
      memory_bytes: MAX_MEMORY_BYTES - 1,
    });
    expect(fits.status).toBe(200);
    expect(await memoryUsed(ns)).toBe((2n ** 63n - 1n).toString());
  });
});
