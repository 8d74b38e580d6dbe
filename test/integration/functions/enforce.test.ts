/**
 * The enforce function and the in-apiserver enforcement on the real kube-apiserver, with seed 001's alice:
 * the apiserver itself refuses a DatabaseCluster beyond the namespace's TenantResourcePolicy (engine, cpu,
 * memory by the admission policy; the number of clusters by the quota) and accepts one within, also when
 * the function is stopped; the predecessor's checks and counters answer as before.
 * The DatabaseCluster CRD is Everest's own, from the everest-operator Go module.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/enforce/config.ts';
import { enforceSetup } from '../../../functions/enforce/index.ts';
import { ADMISSION_POLICY_NAME, CLUSTER_QUOTA_NAME } from '../../../shared/everest/admission.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { installEverestCrds } from '../../support/crds.ts';
import { FUNCTION_TOKEN } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;
// Its own namespaces: bootstrap.test.ts bootstraps seed 001's ns-alice in the same apiserver.
const NS = 'enforce-alice';
const PLAIN = 'enforce-nolimits';
const clusters = (ns: string) => `/apis/everest.percona.com/v1alpha1/namespaces/${ns}/databaseclusters`;
let db: TestDatabase;
let fn: RunningFunction | undefined;

const cluster = (name: string, type: string, replicas: number, cpu: string | number, memory: string) => ({
  apiVersion: 'everest.percona.com/v1alpha1',
  kind: 'DatabaseCluster',
  metadata: { name },
  spec: { engine: { type, replicas, resources: { cpu, memory }, storage: { size: '1Gi' } } },
});

async function createCluster(ns: string, body: ReturnType<typeof cluster>) {
  const answer = await api.send('POST', clusters(ns), admin, body);
  return { status: answer.status, message: (answer.json as { message?: string } | undefined)?.message ?? '' };
}

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${fn?.url ?? ''}${path}`, {
    method,
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'enforce');
  await installEverestCrds(env);
  for (const name of [NS, PLAIN])
    expect(
      await api.create(
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'everest' } },
        },
        admin,
      ),
    ).toBe(201);
  // What PUT /limits writes for seed 001's alice.
  expect(
    await api.status('POST', `/apis/everest.local/v1/namespaces/${NS}/tenantresourcepolicies`, admin, {
      apiVersion: 'everest.local/v1',
      kind: 'TenantResourcePolicy',
      metadata: { name: 'resource-policy' },
      spec: {
        limits: { cpuCores: 4, memoryBytes: 17179869184, maxClusters: 3, maxDbUsers: 20 },
        selectors: { engines: ['postgresql', 'mysql'] },
      },
    }),
  ).toBe(201);
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

describe('enforce', () => {
  it('applies the admission policy and the cluster-count quota', async () => {
    const { status, body } = await call('POST', '/enforce/apply', { namespace: NS });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      policy: 'applied',
      namespaces: [{ namespace: NS, quota: 'applied', maxClusters: 3 }],
    });
    expect(
      await api.status(
        'GET',
        `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${ADMISSION_POLICY_NAME}`,
        admin,
      ),
    ).toBe(200);
    // The quota admits nothing before the quota controller has counted (it discovers custom resources
    // every 30 s): wait for status.used.
    for (let i = 0; i < 250; i++) {
      const quota = await api.send(
        'GET',
        `/api/v1/namespaces/${NS}/resourcequotas/${CLUSTER_QUOTA_NAME}`,
        admin,
      );
      if ((quota.json as { status?: { used?: object } }).status?.used !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }, 90_000);

  it('lets the apiserver refuse an engine, cpu or memory beyond the limits, with the predecessor’s words', async () => {
    // A policy binding takes a moment to reach the admission plugin: retry until it bites.
    let refused = { status: 0, message: '' };
    for (let i = 0; i < 100 && refused.status !== 403; i++) {
      refused = await createCluster(NS, cluster('mongo', 'psmdb', 1, '1', '1Gi'));
      if (refused.status === 201) await api.status('DELETE', `${clusters(NS)}/mongo`, admin);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(refused.status).toBe(403);
    expect(refused.message).toContain("engine 'psmdb' not allowed");
    const cpu = await createCluster(NS, cluster('big-cpu', 'postgresql', 3, '2', '1Gi'));
    expect(cpu.status).toBe(403);
    expect(cpu.message).toContain('cpu limit exceeded');
    const memory = await createCluster(NS, cluster('big-mem', 'pxc', 1, '500m', '32Gi'));
    expect(memory.status).toBe(403);
    expect(memory.message).toContain('memory limit exceeded');
  });

  it('admits clusters within the limits, and no more than maxClusters', async () => {
    expect((await createCluster(NS, cluster('pg-1', 'postgresql', 1, 1, '2Gi'))).status).toBe(201);
    expect((await createCluster(NS, cluster('pg-2', 'postgresql', 1, '500m', '1Gi'))).status).toBe(201);
    expect((await createCluster(NS, cluster('my-1', 'pxc', 1, '500m', '1Gi'))).status).toBe(201);
    const fourth = await createCluster(NS, cluster('pg-4', 'postgresql', 1, '100m', '1Gi'));
    expect(fourth.status).toBe(403);
    expect(fourth.message).toContain('exceeded quota');
  });

  it('answers the predecessor’s cluster-create check from the live clusters, in its order', async () => {
    const check = (body: object) => call('POST', '/enforce/cluster-create', body);
    const base = {
      namespace: NS,
      engine: 'postgresql',
      cpu_request_cores: 1,
      memory_request_bytes: 2147483648,
    };
    expect(await check({ ...base, namespace: PLAIN })).toMatchObject({
      status: 403,
      body: { detail: 'no limits configured for namespace' },
    });
    expect(await check({ ...base, engine: 'mongodb' })).toMatchObject({
      status: 403,
      body: { detail: "engine 'mongodb' not allowed" },
    });
    expect(await check(base)).toMatchObject({ status: 403, body: { detail: 'max clusters exceeded' } });
    expect(await api.status('DELETE', `${clusters(NS)}/my-1`, admin)).toBe(200);
    expect(await check({ ...base, cpu_request_cores: 3 })).toMatchObject({
      status: 403,
      body: { detail: 'cpu limit exceeded' },
    });
    expect(await check({ ...base, memory_request_bytes: 16 * 2 ** 30 })).toMatchObject({
      status: 403,
      body: { detail: 'memory limit exceeded' },
    });
    expect(await check(base)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await check({ ...base, engine: 'nosql' })).toMatchObject({ status: 400 });
  });

  it('keeps the predecessor’s usage counters: atomic, never below zero', async () => {
    const register = (body: object) => call('POST', '/usage/register-cluster', body);
    const one = { namespace: 'ns-counters', cpu_cores: 1, memory_bytes: 2147483648 };
    expect(await register({ ...one, op: 'create' })).toMatchObject({
      status: 200,
      body: { status: 'ok', usage: { clusters_count: 1, cpu_used: 1, memory_used: 2147483648 } },
    });
    expect((await register({ ...one, op: 'delete' })).status).toBe(200);
    expect(await register({ ...one, op: 'delete' })).toMatchObject({
      status: 400,
      body: { detail: 'usage counters underflow' },
    });
    expect(await call('POST', '/usage/register-db-user', { namespace: PLAIN, op: 'create' })).toMatchObject({
      status: 403,
      body: { detail: 'no limits configured for namespace' },
    });
    expect(await call('POST', '/usage/register-db-user', { namespace: NS, op: 'create' })).toMatchObject({
      status: 200,
      body: { usage: { db_users_count: 1 } },
    });
  });

  it('reports the namespace’s usage as one document', async () => {
    const { status, body } = await call('GET', `/usage/${NS}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      namespace: NS,
      database_clusters: { count: 2, cpu_cores: 1.5, by_engine: { postgresql: 2 } },
      pods: { count: 0 },
    });
    expect((body.quotas as { name: string }[]).map((q) => q.name)).toContain(CLUSTER_QUOTA_NAME);
  });

  it('still enforces when the function is stopped: the apiserver needs nothing from it', async () => {
    await fn?.stop();
    fn = undefined;
    expect((await createCluster(NS, cluster('my-2', 'pxc', 1, '500m', '1Gi'))).status).toBe(201);
    expect((await createCluster(NS, cluster('mongo-2', 'psmdb', 1, '1', '1Gi'))).status).toBe(403);
    expect((await createCluster(NS, cluster('pg-5', 'postgresql', 1, '100m', '1Gi'))).status).toBe(403);
  });
});
