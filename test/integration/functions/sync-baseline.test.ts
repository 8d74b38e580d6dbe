/**
 * sync's baseline repair over HTTP on the real servers: a tenant whose `tenant-isolation` policy and
 * `tenant-defaults` LimitRange hold what the old model serializer stored (`ingress: [{}]`, no `default`)
 * is reported by a dry run (nothing changes), repaired by a run (its objects then equal a freshly provisioned
 * tenant's), and left alone by the next run; a namespace the product does not own, holding the same broken
 * policy under the same name and labels, is never touched while the owned one beside it is repaired.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/sync/config.ts';
import { syncSetup } from '../../../functions/sync/index.ts';
import { labels, MANAGER } from '../../../shared/tenancy/labels.ts';
import type { SyncReport } from '../../../shared/tenancy/sync.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import {
  FUNCTION_TOKEN,
  ensureTenantClusterRole,
  startTenantFunctions,
  tenantFunctionEnv,
  type RunningTenantFunctions,
} from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const token = env.kubernetes.adminToken;
const suffix = Math.random().toString(36).slice(2, 7);
const BROKEN = `syncbase-${suffix}-old`;
const FRESH = `syncbase-${suffix}-new`;
/** Labelled as a tenant namespace but without the owner annotation: not the product's. */
const FOREIGN = `syncbase-${suffix}-foreign`;
let db: TestDatabase;
let tenants: RunningTenantFunctions;
let fn: RunningFunction;

const paths = (ns: string) => ({
  isolation: `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/tenant-isolation`,
  limits: `/api/v1/namespaces/${ns}/limitranges/tenant-defaults`,
});

/** What the product writes of an object, with the tenant's name replaced, to compare two tenants. */
async function content(path: string, tenant: string): Promise<unknown> {
  const answer = await api.send('GET', path, token);
  expect(answer.status).toBe(200);
  const object = answer.json as Record<string, unknown> & { metadata: { labels?: Record<string, string> } };
  const { spec, roleRef, subjects } = object;
  return JSON.parse(
    JSON.stringify({ labels: object.metadata.labels, spec, roleRef, subjects }).replaceAll(
      tenant,
      '<tenant>',
    ),
  ) as unknown;
}

const baselinePaths = (ns: string) => [
  `/api/v1/namespaces/${ns}/resourcequotas/tenant-quota`,
  `/api/v1/namespaces/${ns}/limitranges/tenant-defaults`,
  `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/tenant-isolation`,
  `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/tenant-egress`,
  `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/tenant-user`,
  `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/tenant-group`,
];

const resourceVersion = async (path: string): Promise<string> =>
  ((await api.send('GET', path, token)).json as { metadata: { resourceVersion: string } }).metadata
    .resourceVersion;

const run = async (body: unknown) => {
  const response = await fetch(`${fn.url}/sync`, {
    method: 'POST',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as SyncReport };
};

async function provision(username: string): Promise<void> {
  const [first = '', ...rest] = username.split('-');
  const response = await fetch(`${tenants.provision.url}/provisioner`, {
    method: 'POST',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify({ full_name: `${first} ${rest.join(' ')}` }),
  });
  expect(response.status).toBe(200);
  expect(((await response.json()) as { username: string }).username).toBe(username);
}

/** The two objects as the old serializer stored them (a JSON merge patch replaces whole lists). */
async function breakAsTheOldBug(ns: string): Promise<void> {
  const isolation = await api.send('PATCH', paths(ns).isolation, token, { spec: { ingress: [{}] } });
  expect(isolation.status).toBe(200);
  const limits = await api.send('PATCH', paths(ns).limits, token, {
    spec: { limits: [{ type: 'Container', defaultRequest: { cpu: '10m', memory: '64Mi' } }] },
  });
  expect(limits.status).toBe(200);
}

const mine = (body: SyncReport, key: 'baseline_repaired' | 'would_repair_baseline') =>
  (body.results[key] ?? []).filter((r) => r.tenant.startsWith(`syncbase-${suffix}-`));

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'syncbase');
  await ensureTenantClusterRole(env);
  tenants = await startTenantFunctions(env, db.url);
  await provision(BROKEN);
  await breakAsTheOldBug(BROKEN);
  // The foreign namespace: tenant labels, no owner annotation, the same broken policy with baseline labels.
  expect(
    await api.create(
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: FOREIGN, labels: { [labels.managedBy]: MANAGER, [labels.tenant]: FOREIGN } },
      },
      token,
    ),
  ).toBe(201);
  expect(
    await api.create(
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: {
          name: 'tenant-isolation',
          namespace: FOREIGN,
          labels: { [labels.managedBy]: MANAGER, [labels.tenant]: FOREIGN, [labels.baseline]: 'true' },
        },
        spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] },
      },
      token,
    ),
  ).toBe(201);
  fn = await startFunction({
    name: 'sync',
    loadConfig,
    env: await tenantFunctionEnv(env, db.url, { SYNC_PAGE_SIZE: '10' }),
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(syncSetup(config, log)),
  });
}, 120_000);

afterAll(async () => {
  for (const ns of [BROKEN, FRESH, FOREIGN]) await api.send('DELETE', `/api/v1/namespaces/${ns}`, token);
  await fn.stop();
  await tenants.stop();
  await db.drop();
});

const expectedDrift = [
  { tenant: BROKEN, kind: 'LimitRange', name: 'tenant-defaults', action: 'update', fields: ['spec.limits'] },
  {
    tenant: BROKEN,
    kind: 'NetworkPolicy',
    name: 'tenant-isolation',
    action: 'update',
    fields: ['spec.ingress'],
  },
];

describe('sync repairs drifted baseline objects', { timeout: 120_000 }, () => {
  it('reports them in a dry run and changes nothing', async () => {
    const before = await Promise.all([
      resourceVersion(paths(BROKEN).isolation),
      resourceVersion(paths(BROKEN).limits),
    ]);
    const { status, body } = await run({ dryRun: true });
    expect(status).toBe(200);
    expect(mine(body, 'would_repair_baseline')).toEqual(expectedDrift);
    expect(body.results.baseline_repaired).toEqual([]);
    expect(
      await Promise.all([resourceVersion(paths(BROKEN).isolation), resourceVersion(paths(BROKEN).limits)]),
    ).toEqual(before);
    expect((await api.send('GET', paths(BROKEN).isolation, token)).json).toMatchObject({
      spec: { ingress: [{}] },
    });
  });

  it('repairs the owned tenant to what provision makes, and never touches the foreign namespace', async () => {
    const foreignBefore = await resourceVersion(paths(FOREIGN).isolation);
    const { status, body } = await run({});
    expect(status).toBe(200);
    expect(mine(body, 'baseline_repaired')).toEqual(expectedDrift);
    expect(body.results.failed_fixes.filter((f) => f.username.startsWith(`syncbase-${suffix}-`))).toEqual([]);
    expect(body.results.not_owned).toContainEqual(
      expect.objectContaining({ kind: 'Namespace', name: FOREIGN }),
    );
    // The negative beside it: the foreign namespace's same-named, same-labelled policy is as it was.
    expect(await resourceVersion(paths(FOREIGN).isolation)).toBe(foreignBefore);
    expect((await api.send('GET', paths(FOREIGN).isolation, token)).json).toMatchObject({
      spec: { ingress: [{}] },
    });
    // The repaired tenant's whole baseline equals that of a tenant provisioned now.
    await provision(FRESH);
    for (const [repaired, fresh] of baselinePaths(BROKEN).map((p, i) => [p, baselinePaths(FRESH)[i] ?? ''])) {
      expect(await content(repaired ?? '', BROKEN)).toEqual(await content(fresh ?? '', FRESH));
    }
    // The audit record says what was repaired.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ details: { baseline_repaired?: unknown[] } }>(
        `SELECT details FROM tenant_lifecycle.audit_log WHERE operation = 'sync' AND outcome <> 'dry_run' ORDER BY id DESC LIMIT 1`,
      );
      expect(rows[0]?.details.baseline_repaired).toEqual(expect.arrayContaining(expectedDrift));
    } finally {
      await admin.end();
    }
    const metrics = await (await fetch(`${fn.url}/metrics`)).text();
    expect(metrics).toMatch(/tenant_lifecycle_items_total\{[^}]*outcome="baseline_repaired"[^}]*\} [1-9]/);
  });

  it('repairs nothing on the next run: the stored objects, with their server defaults, are not drift', async () => {
    const before = await Promise.all(baselinePaths(BROKEN).map(resourceVersion));
    const { status, body } = await run({});
    expect(status).toBe(200);
    expect(mine(body, 'baseline_repaired')).toEqual([]);
    expect(await Promise.all(baselinePaths(BROKEN).map(resourceVersion))).toEqual(before);
    // The control: the freshly provisioned tenant is not drift either, and one username's dry run agrees.
    const one = await run({ username: BROKEN, dryRun: true });
    expect(one.status).toBe(200);
    expect(one.body.results.would_repair_baseline).toEqual([]);
    await breakAsTheOldBug(BROKEN);
    const again = await run({ username: BROKEN, dryRun: true });
    expect(again.body.results.would_repair_baseline).toEqual(expectedDrift);
    const repaired = await run({ username: BROKEN });
    expect(repaired.body.results.baseline_repaired).toEqual(expectedDrift);
  });
});
