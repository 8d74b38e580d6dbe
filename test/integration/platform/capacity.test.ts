/**
 * Capacity of one function instance on the real servers: the provision function in-process with its real
 * configuration (MAX_CONCURRENT_OPERATIONS at its default, the manifests' containerConcurrency of 50)
 * serves that many concurrent provisions without a 5xx, and concurrent provisions of one tenant take turns
 * on the tenant's lock and get the answer the tenant's state calls for.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/provision/config.ts';
import { provisionSetup } from '../../../functions/provision/index.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import {
  ensureTenantClusterRole,
  FUNCTION_TOKEN,
  tenantFunctionEnv,
} from '../../support/tenant-functions.ts';

const env = inject('testEnv');
/** The containerConcurrency of every Service in knative/base/services.yaml. */
const CONTAINER_CONCURRENCY = 50;
const run = randomBytes(3)
  .toString('hex')
  .replace(/[0-9]/g, (d) => 'ghijklmnop'[Number(d)] ?? 'g');
let db: TestDatabase;
let fn: RunningFunction;
let maxConcurrentOperations: number;

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'capacity');
  await ensureTenantClusterRole(env);
  const functionEnv = await tenantFunctionEnv(env, db.url);
  maxConcurrentOperations = loadConfig(functionEnv).maxConcurrentOperations;
  fn = await startFunction({
    name: 'provision',
    loadConfig,
    env: functionEnv,
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(provisionSetup(config, log)),
  });
});
afterAll(async () => {
  await fn.stop();
  await db.drop();
});

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function provision(body: unknown): Promise<Answer> {
  const response = await fetch(`${fn.url}/provisioner`, {
    method: 'POST',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function auditRows(targets: readonly string[]): Promise<{ target: string; outcome: string }[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ target: string; outcome: string }>(
      `SELECT target, outcome FROM tenant_lifecycle.audit_log
        WHERE operation = 'provision' AND target = ANY($1::text[]) ORDER BY id`,
      [targets],
    );
    return rows;
  } finally {
    await client.end();
  }
}

const statusCounts = (answers: readonly Answer[]) =>
  answers.reduce<Record<number, number>>(
    (counts, a) => ({ ...counts, [a.status]: (counts[a.status] ?? 0) + 1 }),
    {},
  );

describe('one provision instance', () => {
  it('is configured for the manifests containerConcurrency', () => {
    expect(maxConcurrentOperations).toBe(CONTAINER_CONCURRENCY);
  });

  it(`serves ${CONTAINER_CONCURRENCY} concurrent provisions of different tenants: all 2xx, each audited`, async () => {
    const answers = await Promise.all(
      Array.from({ length: CONTAINER_CONCURRENCY }, (_, i) =>
        provision({
          full_name: `Cap ${run} ${'abcdefghijklmnopqrstuvwxyz'[i % 26]}${'xy'[Math.floor(i / 26)]}`,
        }),
      ),
    );
    const failed = answers.filter((a) => a.status >= 300).map((a) => a.body.detail);
    expect({ counts: statusCounts(answers), failed }).toEqual({
      counts: { 200: CONTAINER_CONCURRENCY },
      failed: [],
    });
    const usernames = answers.map((a) => String(a.body.username));
    expect(new Set(usernames).size).toBe(CONTAINER_CONCURRENCY);
    const rows = await auditRows(usernames);
    expect(rows).toHaveLength(CONTAINER_CONCURRENCY);
    expect(rows.every((r) => r.outcome === 'success')).toBe(true);
    expect(new Set(rows.map((r) => r.target))).toEqual(new Set(usernames));
  }, 600_000);

  it('answers 20 concurrent provisions of one tenant with one 2xx and 19 × 409, never a 5xx', async () => {
    const request = { full_name: `Cap ${run} Same` };
    const answers = await Promise.all(Array.from({ length: 20 }, () => provision(request)));
    expect(statusCounts(answers)).toEqual({ 200: 1, 409: 19 });
    const created = answers.find((a) => a.status === 200);
    const username = String(created?.body.username);
    expect(created?.body).toMatchObject({ message: 'User has been successfully created', username });
    for (const refused of answers.filter((a) => a.status === 409)) {
      expect(refused.body).toMatchObject({
        type: 'urn:tenant-lifecycle:problem:conflict',
        detail: expect.stringContaining(`tenant "${username}" already exists`) as unknown,
      });
    }
    // Every one of the 20 ran its turn under the lock and was audited: one success, 19 refusals.
    const rows = await auditRows([username]);
    expect(rows.filter((r) => r.outcome === 'success')).toHaveLength(1);
    expect(rows.filter((r) => r.outcome === 'failure')).toHaveLength(19);
  }, 600_000);
});
