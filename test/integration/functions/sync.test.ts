/**
 * The sync function over HTTP on the real servers: a tenant whose namespace was deleted gets it back with
 * its baseline, one whose Grafana user and group memberships were removed gets them back, a dry run changes
 * nothing, an orphan (its Keycloak user deleted) is reported and pruned only when asked, and a Grafana user
 * someone made by hand is never an orphan.
 */
import type KcAdminClient from '@keycloak/keycloak-admin-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/sync/config.ts';
import { syncSetup } from '../../../functions/sync/index.ts';
import { GrafanaAdmin } from '../../../shared/adapters/grafana/client.ts';
import type { SyncReport } from '../../../shared/tenancy/sync.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import {
  FUNCTION_TOKEN,
  ensureTenantClusterRole,
  masterAdmin,
  startTenantFunctions,
  tenantFunctionEnv,
  type RunningTenantFunctions,
} from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const token = env.kubernetes.adminToken;
const realm = env.oidc.realm;
const grafana = new GrafanaAdmin({
  url: env.grafana.url,
  adminUser: env.grafana.adminUser,
  adminPassword: env.grafana.adminPassword,
});
let db: TestDatabase;
let tenants: RunningTenantFunctions;
let fn: RunningFunction;
let kc: KcAdminClient;

async function userId(username: string): Promise<string | undefined> {
  const [user] = await kc.users.find({ realm, username, exact: true });
  return user?.id;
}

async function groupsOf(username: string): Promise<string[]> {
  const id = await userId(username);
  if (id === undefined) return [];
  return (await kc.users.listGroups({ realm, id })).map((g) => g.name ?? '');
}

/**
 * Waits for the namespace controller to finish a deletion: seconds alone, longer when the whole suite
 * deletes namespaces at once on a busy machine.
 */
async function namespaceGone(name: string): Promise<void> {
  const until = Date.now() + 90_000;
  while (Date.now() < until) {
    if ((await api.status('GET', `/api/v1/namespaces/${name}`, token)) === 404) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`namespace ${name} was not deleted within 90 s`);
}

const run = async (body: unknown) => {
  const response = await fetch(`${fn.url}/sync`, {
    method: 'POST',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as SyncReport };
};

const fixed = (body: SyncReport, username: string) =>
  body.results.fixed_users.find((u) => u.username === username);

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'sync');
  kc = await masterAdmin(env);
  await ensureTenantClusterRole(env);
  tenants = await startTenantFunctions(env, db.url);
  for (const full_name of ['Sync Sam', 'Sync Sue', 'Sync Olga']) {
    const response = await fetch(`${tenants.provision.url}/provisioner`, {
      method: 'POST',
      headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ full_name }),
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  }
  fn = await startFunction({
    name: 'sync',
    loadConfig,
    env: await tenantFunctionEnv(env, db.url, { SYNC_PAGE_SIZE: '50' }),
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(syncSetup(config, log)),
  });
  // Drift: Sam loses his namespace; Sue her Grafana user and both group memberships; Olga her Keycloak user.
  expect(await api.status('DELETE', '/api/v1/namespaces/sync-sam', token)).toBe(200);
  const sue = await grafana.lookupUser('sync-sue');
  expect(sue).toBeDefined();
  await grafana.deleteUser(sue?.id ?? 0);
  const sueId = (await userId('sync-sue')) ?? '';
  for (const group of await kc.users.listGroups({ realm, id: sueId }))
    await kc.users.delFromGroup({ realm, id: sueId, groupId: group.id ?? '' });
  await kc.users.del({ realm, id: (await userId('sync-olga')) ?? '' });
  await grafana.createUser({
    login: 'sync-person',
    email: 'person@example.test',
    password: 'hand-made-1234',
  });
  await namespaceGone('sync-sam');
}, 120_000);

afterAll(async () => {
  await fn.stop();
  await tenants.stop();
  await grafana.close();
  await db.drop();
});

// A test waits for namespace deletions (namespaceGone), up to 90 s.
describe('sync', { timeout: 180_000 }, () => {
  it('shows the repairs in a dry run and changes nothing', async () => {
    const { status, body } = await run({ dryRun: true });
    expect(status).toBe(200);
    const wouldFix = body.results.would_fix ?? [];
    expect(wouldFix).toContainEqual({
      username: 'sync-sam',
      fixed_grafana: false,
      fixed_namespace: true,
      fixed_membership: false,
    });
    expect(wouldFix).toContainEqual({
      username: 'sync-sue',
      fixed_grafana: true,
      fixed_namespace: false,
      fixed_membership: true,
    });
    expect(await api.status('GET', '/api/v1/namespaces/sync-sam', token)).toBe(404);
    expect(await grafana.lookupUser('sync-sue')).toBeUndefined();
  });

  it('recreates the namespace with its baseline, the Grafana user, and the memberships', async () => {
    const { status, body } = await run({});
    expect(status).toBe(200);
    expect(body.message).toBe('Sync completed for all users');
    expect(fixed(body, 'sync-sam')).toMatchObject({ fixed_namespace: true, fixed_grafana: false });
    expect(fixed(body, 'sync-sue')).toMatchObject({ fixed_grafana: true, fixed_membership: true });
    expect(body.results.failed_fixes.map((f) => f.username)).not.toContain('sync-sam');
    expect(await api.status('GET', '/api/v1/namespaces/sync-sam/resourcequotas/tenant-quota', token)).toBe(
      200,
    );
    expect(await api.status('GET', '/api/v1/namespaces/sync-sam/limitranges/tenant-defaults', token)).toBe(
      200,
    );
    expect(
      await api.names('/apis/rbac.authorization.k8s.io/v1/namespaces/sync-sam/rolebindings', token),
    ).toEqual(expect.arrayContaining(['tenant-user', 'tenant-group']));
    expect((await grafana.lookupUser('sync-sue'))?.login).toBe('sync-sue');
    expect(await groupsOf('sync-sue')).toEqual(expect.arrayContaining(['tenants', 'tenant-sync-sue']));
  });

  it('counts the repairs and the last clean run in its metrics', async () => {
    const text = await (await fetch(`${fn.url}/metrics`)).text();
    expect(text).toMatch(/tenant_lifecycle_items_total\{[^}]*outcome="repaired"[^}]*\} [1-9]/);
    expect(text).toMatch(/tenant_lifecycle_orphans\{[^}]*kind="namespace"[^}]*\} \d+/);
  });

  it('finds nothing more to repair for its tenants on the next run', async () => {
    const { body } = await run({});
    expect(fixed(body, 'sync-sam')).toBeUndefined();
    expect(fixed(body, 'sync-sue')).toBeUndefined();
  });

  it('reports an orphan without deleting it, and never a hand-made Grafana user', async () => {
    const { body } = await run({});
    expect(body.results.orphans.namespaces).toContain('sync-olga');
    expect(body.results.orphans.grafana_users).toContain('sync-olga');
    expect(body.results.orphans.grafana_users).not.toContain('sync-person');
    expect(await api.status('GET', '/api/v1/namespaces/sync-olga', token)).toBe(200);
  });

  it('prunes an orphan when asked', async () => {
    const { status, body } = await run({ username: 'sync-olga', prune: true });
    expect(status).toBe(200);
    expect(body.results.pruned).toEqual({ namespaces: ['sync-olga'], grafana_users: ['sync-olga'] });
    expect(await grafana.lookupUser('sync-olga')).toBeUndefined();
    await namespaceGone('sync-olga');
    expect(await grafana.lookupUser('sync-person')).toBeDefined();
  });

  it('repairs one tenant by name, and answers 404 for a name that is no tenant', async () => {
    expect(await api.status('DELETE', '/api/v1/namespaces/sync-sue', token)).toBe(200);
    await namespaceGone('sync-sue');
    const { status, body } = await run({ username: 'sync-sue' });
    expect(status).toBe(200);
    expect(body.message).toBe('Sync completed for user sync-sue');
    expect(body.results.fixed_users).toEqual([
      { username: 'sync-sue', fixed_grafana: false, fixed_namespace: true, fixed_membership: false },
    ]);
    const missing = await run({ username: 'sync-nobody' });
    expect(missing.status).toBe(404);
  });
});
