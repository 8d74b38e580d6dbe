/**
 * The cleanup function over HTTP on the real servers, with "now" given in the request: an old tenant goes,
 * a young one and an old exempt one stay; the safety bound refuses a mass deletion unless forced.
 */
import type KcAdminClient from '@keycloak/keycloak-admin-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/cleanup/config.ts';
import { cleanupSetup } from '../../../functions/cleanup/index.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import {
  FUNCTION_TOKEN,
  masterAdmin,
  startTenantFunctions,
  tenantFunctionEnv,
  ensureTenantClusterRole,
  type RunningTenantFunctions,
} from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const DAY = 86_400_000;
let db: TestDatabase;
let tenants: RunningTenantFunctions;
let fn: RunningFunction;
let kcAdmin: KcAdminClient;
let youngCreated = 0;

async function created(username: string): Promise<number> {
  const [user] = await kcAdmin.users.find({ realm: env.oidc.realm, username, exact: true });
  return user?.createdTimestamp ?? 0;
}

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'cleanup');
  kcAdmin = await masterAdmin(env);
  await ensureTenantClusterRole(env);
  tenants = await startTenantFunctions(env, db.url);
  const provision = async (full_name: string) => {
    const response = await fetch(`${tenants.provision.url}/provisioner`, {
      method: 'POST',
      headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ full_name }),
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  };
  await provision('Old Olive');
  await provision('Exempt Emil');
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // so that "young" is measurably younger
  await provision('Young Yara');
  youngCreated = await created('young-yara');
  expect(
    await api.status('PATCH', '/api/v1/namespaces/exempt-emil', env.kubernetes.adminToken, {
      metadata: { labels: { 'tenant-lifecycle.dev/exempt': 'true' } },
    }),
  ).toBe(200);
  fn = await startFunction({
    name: 'cleanup',
    loadConfig,
    env: await tenantFunctionEnv(env, db.url, { RETENTION_DAYS: '365', CLEANUP_MAX_SHARE: '0.5' }),
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(cleanupSetup(config, log)),
  });
});
afterAll(async () => {
  await fn.stop();
  await tenants.stop();
  await db.drop();
});

const run = async (body: unknown) => {
  const response = await fetch(`${fn.url}/cleanup`, {
    method: 'POST',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe('cleanup', () => {
  // One year after the young tenant's creation, minus a moment: it is 364.99 days old, the others older.
  const now = () => new Date(youngCreated + 365 * DAY - 500).toISOString();

  it('refuses to delete every tenant at once unless forced', async () => {
    const { status, body } = await run({ now: new Date(Date.now() + 10 * 365 * DAY).toISOString() });
    expect(status).toBe(409);
    expect(body.detail).toMatch(/refusing to delete \d+ of \d+ tenants/);
    expect(await created('old-olive')).toBeGreaterThan(0);
  });

  it('reports in a dry run who would go, sparing the young and the exempt', async () => {
    const { status, body } = await run({ now: now(), dryRun: true });
    expect(status).toBe(200);
    expect(body.would_delete).toContain('old-olive');
    expect(body.would_delete).not.toContain('young-yara');
    expect(body.would_delete).not.toContain('exempt-emil');
    expect(body.exempt).toContain('exempt-emil');
  });

  it('deletes the old tenant everywhere and keeps the young and the exempt one', async () => {
    const { status, body } = await run({ now: now(), force: true });
    expect(status).toBe(200);
    expect(body).toMatchObject({ message: 'Cleanup completed', failed: 0 });
    expect((body.deleted_users as { username: string }[]).map((u) => u.username)).toContain('old-olive');
    expect(await created('old-olive')).toBe(0);
    expect(await created('young-yara')).toBeGreaterThan(0);
    expect(await created('exempt-emil')).toBeGreaterThan(0);
    expect(await api.status('GET', '/api/v1/namespaces/young-yara', env.kubernetes.adminToken)).toBe(200);
  });
});
