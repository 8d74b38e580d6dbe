/**
 * Ownership on the real servers: every tenancy function that deletes, resets, binds or repairs refuses
 * (409 not_owned, nothing changed) what the product did not make, and in the same test does its work on a
 * real tenant beside it. The foreign objects are what a careless operator or another team leaves around: a
 * namespace `acme-web` without labels, a Keycloak user `acme-web` outside the marker group, a Grafana user
 * `acme-web` with its own email; a namespace labelled as a tenant's by hand (no owner annotation).
 *
 * The functions run with their own marker group, so cleanup here sees only this file's tenants.
 */
import type KcAdminClient from '@keycloak/keycloak-admin-client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig as loadCleanupConfig } from '../../../functions/cleanup/config.ts';
import { cleanupSetup } from '../../../functions/cleanup/index.ts';
import { loadConfig as loadDeprovisionConfig } from '../../../functions/deprovision/config.ts';
import { deprovisionSetup } from '../../../functions/deprovision/index.ts';
import { loadConfig as loadProvisionConfig } from '../../../functions/provision/config.ts';
import { provisionSetup } from '../../../functions/provision/index.ts';
import { loadConfig as loadResetConfig } from '../../../functions/reset/config.ts';
import { resetSetup } from '../../../functions/reset/index.ts';
import { loadConfig as loadSyncConfig } from '../../../functions/sync/config.ts';
import { syncSetup } from '../../../functions/sync/index.ts';
import { GrafanaAdmin } from '../../../shared/adapters/grafana/client.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { labels, MANAGER } from '../../../shared/tenancy/labels.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import {
  FUNCTION_TOKEN,
  ensureTenantClusterRole,
  masterAdmin,
  tenantFunctionEnv,
} from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;
const realm = env.oidc.realm;
const MARKER = 'tenants-ownership-test';
const NOT_OWNED = 'urn:tenant-lifecycle:problem:not-owned';
const grafana = new GrafanaAdmin({
  url: env.grafana.url,
  adminUser: env.grafana.adminUser,
  adminPassword: env.grafana.adminPassword,
});
let db: TestDatabase;
let kc: KcAdminClient;
const fns: Record<'provision' | 'deprovision' | 'sync' | 'reset' | 'cleanup', RunningFunction> = {} as never;

type Answer = { status: number; body: Record<string, unknown> };
type NotOwnedEntry = { kind: string; name: string; reason: string };

async function call(fn: RunningFunction, method: string, path: string, body: unknown): Promise<Answer> {
  const response = await fetch(`${fn.url}${path}`, {
    method,
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
const provision = (body: unknown) => call(fns.provision, 'POST', '/provisioner', body);
const deprovision = (body: unknown) => call(fns.deprovision, 'DELETE', '/provisioner', body);
const sync = (body: unknown) => call(fns.sync, 'POST', '/sync', body);
const reset = (body: unknown) => call(fns.reset, 'POST', '/reset', body);
const cleanup = (body: unknown) => call(fns.cleanup, 'POST', '/cleanup', body);

async function keycloakUser(username: string) {
  const [user] = await kc.users.find({ realm, username, exact: true });
  return user;
}

/** A namespace that exists and is not being deleted. */
async function namespaceAlive(name: string): Promise<boolean> {
  const answer = await api.send('GET', `/api/v1/namespaces/${name}`, admin);
  const metadata = (answer.json as { metadata?: { deletionTimestamp?: string } } | undefined)?.metadata;
  return answer.status === 200 && metadata?.deletionTimestamp === undefined;
}

/**
 * Waits for the namespace controller to finish a deletion: seconds alone, longer when the whole suite
 * deletes namespaces at once on a busy machine.
 */
async function namespaceGone(name: string): Promise<void> {
  const until = Date.now() + 90_000;
  while (Date.now() < until) {
    if ((await api.status('GET', `/api/v1/namespaces/${name}`, admin)) === 404) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`namespace ${name} was not deleted within 90 s`);
}

async function createNamespace(name: string, namespaceLabels: Record<string, string> = {}) {
  expect(
    await api.create(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: namespaceLabels } },
      admin,
    ),
  ).toBe(201);
  expect(
    await api.create(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'their-data', namespace: name } },
      admin,
    ),
  ).toBe(201);
}

/** What a tenant baseline would have put into a namespace. */
async function tenantObjectsIn(name: string): Promise<string[]> {
  return [
    ...(await api.names(`/apis/rbac.authorization.k8s.io/v1/namespaces/${name}/rolebindings`, admin)),
    ...(await api.names(`/api/v1/namespaces/${name}/resourcequotas`, admin)),
    ...(await api.names(`/apis/networking.k8s.io/v1/namespaces/${name}/networkpolicies`, admin)),
  ];
}

function expectNotOwned(answer: Answer, kind: string, name: string): void {
  expect(answer.status).toBe(409);
  expect(answer.body.type).toBe(NOT_OWNED);
  expect(answer.body.detail).toContain(`${kind} "${name}"`);
  expect(answer.body.notOwned).toEqual(expect.arrayContaining([expect.objectContaining({ kind, name })]));
}

async function provisioned(full_name: string, email?: string): Promise<string> {
  const answer = await provision({ full_name, ...(email === undefined ? {} : { email }) });
  expect(answer.status).toBe(200);
  return answer.body.username as string;
}

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'ownership');
  kc = await masterAdmin(env);
  await ensureTenantClusterRole(env);
  const settings = { KEYCLOAK_TENANT_GROUP: MARKER, RETENTION_DAYS: '1', CLEANUP_MAX_SHARE: '1' };
  const functionEnv = () => tenantFunctionEnv(env, db.url, settings);
  const on = { port: 0, host: '127.0.0.1' };
  fns.provision = await startFunction({
    name: 'provision',
    loadConfig: loadProvisionConfig,
    env: await functionEnv(),
    ...on,
    setup: (config, log) => Promise.resolve(provisionSetup(config, log)),
  });
  fns.deprovision = await startFunction({
    name: 'deprovision',
    loadConfig: loadDeprovisionConfig,
    env: await functionEnv(),
    ...on,
    setup: (config, log) => Promise.resolve(deprovisionSetup(config, log)),
  });
  fns.sync = await startFunction({
    name: 'sync',
    loadConfig: loadSyncConfig,
    env: await functionEnv(),
    ...on,
    setup: (config, log) => Promise.resolve(syncSetup(config, log)),
  });
  fns.cleanup = await startFunction({
    name: 'cleanup',
    loadConfig: loadCleanupConfig,
    env: await functionEnv(),
    ...on,
    setup: (config, log) => Promise.resolve(cleanupSetup(config, log)),
  });
  fns.reset = await startFunction({
    name: 'reset',
    loadConfig: loadResetConfig,
    env: {
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_URL: db.url,
      KUBECONFIG: env.kubernetes.kubeconfigPath,
    },
    ...on,
    setup: (config, log) => Promise.resolve(resetSetup(config, log)),
  });

  // The foreign acme-web: a namespace, a Keycloak user outside the marker group, a Grafana user.
  await createNamespace('acme-web');
  await kc.users.create({ realm, username: 'acme-web', email: 'it@acme.example', enabled: true });
  await grafana.createUser({ login: 'acme-web', email: 'it@acme.example', password: 'acme-web-own-1234' });
}, 120_000);

afterAll(async () => {
  for (const fn of Object.values(fns)) await fn.stop();
  await grafana.close();
  await db.drop();
});

async function acmeWebIntact(): Promise<void> {
  expect(await namespaceAlive('acme-web')).toBe(true);
  expect(await api.names('/api/v1/namespaces/acme-web/configmaps', admin)).toContain('their-data');
  expect(await tenantObjectsIn('acme-web')).toEqual([]);
  expect((await keycloakUser('acme-web'))?.username).toBe('acme-web');
  const account = await grafana.lookupUser('acme-web');
  expect(account?.email).toBe('it@acme.example');
}

// A test waits for namespace deletions (namespaceGone), up to 90 s.
describe('ownership', { timeout: 180_000 }, () => {
  it('deprovision refuses a name that was never a tenant, touching none of its parts, and removes a real tenant', async () => {
    const refused = await deprovision({ full_name: 'Acme Web' });
    expectNotOwned(refused, 'Namespace', 'acme-web');
    expect((refused.body.notOwned as NotOwnedEntry[]).map((o) => o.kind).sort()).toEqual([
      'GrafanaUser',
      'KeycloakUser',
      'Namespace',
    ]);
    await acmeWebIntact();

    const tenant = await provisioned('Dora Owned', 'dora.owned@example.org');
    const removed = await deprovision({ email: 'dora.owned@example.org' });
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({
      username: tenant,
      systems: { keycloak: 'deleted', grafana: 'deleted' },
    });
    // `terminating` when the namespace controller (busy with the suite's other namespaces) takes longer
    // than deprovision waits; the namespace is awaited below either way.
    expect(['deleted', 'terminating']).toContain(
      (removed.body as { systems: { kubernetes: string } }).systems.kubernetes,
    );
    expect(await keycloakUser(tenant)).toBeUndefined();
    expect(await grafana.lookupUser(tenant)).toBeUndefined();
    await namespaceGone(tenant);
  });

  it('provision tells a foreign namespace (not_owned) from an existing tenant (conflict), and provisions beside them', async () => {
    await createNamespace('foreign-fay');
    const refused = await provision({ full_name: 'Foreign Fay' });
    expectNotOwned(refused, 'Namespace', 'foreign-fay');
    expect(await keycloakUser('foreign-fay')).toBeUndefined();
    expect(await grafana.lookupUser('foreign-fay')).toBeUndefined();
    expect(await tenantObjectsIn('foreign-fay')).toEqual([]);
    expectNotOwned(await provision({ full_name: 'Acme Web' }), 'Namespace', 'acme-web');
    await acmeWebIntact();

    const tenant = await provisioned('Fresh Fiona');
    const again = await provision({ full_name: 'Fresh Fiona' });
    expect(again.status).toBe(409);
    expect(again.body.type).toBe('urn:tenant-lifecycle:problem:conflict');
    expect(again.body.detail).toMatch(/already exists/);
    expect(await namespaceAlive(tenant)).toBe(true);
  });

  it('sync with username and prune refuses the foreign name, and prunes a real orphan', async () => {
    expectNotOwned(await sync({ username: 'acme-web', prune: true, force: true }), 'Namespace', 'acme-web');
    await acmeWebIntact();

    const orphan = await provisioned('Orphan Otto');
    await kc.users.del({ realm, id: (await keycloakUser(orphan))?.id ?? '' });
    const pruned = await sync({ username: orphan, prune: true });
    expect(pruned.status).toBe(200);
    expect((pruned.body.results as Record<string, unknown>).pruned).toEqual({
      namespaces: [orphan],
      grafana_users: [orphan],
    });
    expect(await grafana.lookupUser(orphan)).toBeUndefined();
    await namespaceGone(orphan);
  });

  it('sync never binds a tenant into a foreign namespace of its name; adopt over HTTP takes it over, audited', async () => {
    const rita = await provisioned('Rita Recreate');
    const rob = await provisioned('Rob Recreate');
    for (const name of [rita, rob]) {
      expect(await api.status('DELETE', `/api/v1/namespaces/${name}`, admin)).toBe(200);
      await namespaceGone(name);
    }
    await createNamespace(rita); // someone else's, under the tenant's name

    expectNotOwned(await sync({ username: rita }), 'Namespace', rita);
    expect(await tenantObjectsIn(rita)).toEqual([]);
    const repaired = await sync({ username: rob });
    expect(repaired.status).toBe(200);
    expect((repaired.body.results as { fixed_users: unknown[] }).fixed_users).toEqual([
      { username: rob, fixed_grafana: false, fixed_namespace: true, fixed_membership: false },
    ]);
    expect(await tenantObjectsIn(rob)).toEqual(
      expect.arrayContaining(['tenant-group', 'tenant-user', 'tenant-quota', 'tenant-isolation']),
    );
    expect(await tenantObjectsIn(rita)).toEqual([]);

    const adopted = await sync({ username: rita, adopt: true });
    expect(adopted.status).toBe(200);
    expect(adopted.body.results).toMatchObject({ adopted: [rita], not_owned: [] });
    expect(await tenantObjectsIn(rita)).toEqual(
      expect.arrayContaining(['tenant-group', 'tenant-user', 'tenant-quota', 'tenant-isolation']),
    );
    expect(await api.names(`/api/v1/namespaces/${rita}/configmaps`, admin)).toContain('their-data');
    const ns = await api.send('GET', `/api/v1/namespaces/${rita}`, admin);
    expect((ns.json as { metadata: { labels: Record<string, string> } }).metadata.labels).toMatchObject({
      [labels.managedBy]: MANAGER,
      [labels.tenant]: rita,
    });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ details: Record<string, unknown> }>(
        `SELECT details FROM tenant_lifecycle.audit_log WHERE operation = 'sync' AND target = $1 AND outcome = 'success'`,
        [rita],
      );
      expect(rows.map((r) => r.details)).toEqual([expect.objectContaining({ adopt: true, adopted: [rita] })]);
    } finally {
      await client.end();
    }
    // adopt is an exception for one named tenant; never for a name that is no tenant.
    expectNotOwned(await sync({ username: 'acme-web', adopt: true }), 'Namespace', 'acme-web');
    await acmeWebIntact();
  });

  it('reset refuses a namespace labelled by hand, the sweep skips it, and a real tenant is reset', async () => {
    await createNamespace('labelled-lou', { [labels.managedBy]: MANAGER, [labels.tenant]: 'labelled-lou' });
    const tenant = await provisioned('Reset Rhea');
    expect(
      await api.create(
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'notes', namespace: tenant } },
        admin,
      ),
    ).toBe(201);

    expectNotOwned(await reset({ username: 'labelled-lou' }), 'Namespace', 'labelled-lou');
    expect(await api.names('/api/v1/namespaces/labelled-lou/configmaps', admin)).toContain('their-data');
    const one = await reset({ username: tenant });
    expect(one.status).toBe(200);
    expect(await api.names(`/api/v1/namespaces/${tenant}/configmaps`, admin)).toEqual(['kube-root-ca.crt']);

    const sweep = await reset({});
    expect(sweep.status).toBe(200);
    expect(sweep.body.skipped).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'Namespace', name: 'labelled-lou' })]),
    );
    expect(sweep.body.details).toHaveProperty(tenant);
    expect(sweep.body.details).not.toHaveProperty('labelled-lou');
    expect(await api.names('/api/v1/namespaces/labelled-lou/configmaps', admin)).toContain('their-data');
  });

  it('cleanup reports a tenant whose namespace is foreign, leaves it whole, and removes the one beside it', async () => {
    const carl = await provisioned('Clean Carl');
    const cleo = await provisioned('Clean Cleo');
    expect(await api.status('DELETE', `/api/v1/namespaces/${carl}`, admin)).toBe(200);
    await namespaceGone(carl);
    await createNamespace(carl);

    const now = new Date(Date.now() + 10 * 365 * 86_400_000).toISOString();
    const dry = await cleanup({ now, dryRun: true });
    expect(dry.body.would_delete).toContain(cleo);
    expect(dry.body.would_delete).not.toContain(carl);

    const run = await cleanup({ now, force: true });
    expect(run.status).toBe(200);
    expect(run.body.not_owned).toEqual([
      { username: carl, objects: [expect.objectContaining({ kind: 'Namespace', name: carl })] },
    ]);
    expect((run.body.deleted_users as { username: string }[]).map((u) => u.username)).toContain(cleo);
    expect(await keycloakUser(cleo)).toBeUndefined();
    expect((await keycloakUser(carl))?.username).toBe(carl);
    expect(await grafana.lookupUser(carl)).toBeDefined();
    expect(await namespaceAlive(carl)).toBe(true);
    expect(await api.names(`/api/v1/namespaces/${carl}/configmaps`, admin)).toContain('their-data');
    await acmeWebIntact();
  });
});
