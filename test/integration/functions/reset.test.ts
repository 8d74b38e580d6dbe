/** The reset function over HTTP on the real apiserver: all tenant namespaces, starters applied again. */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/reset/config.ts';
import { resetSetup } from '../../../functions/reset/index.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';
import { labels } from '../../../shared/tenancy/labels.ts';
import { webIdePlan } from '../../../shared/tenancy/plans.ts';
import { renderStarter } from '../../../shared/tenancy/starters.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { FUNCTION_TOKEN } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;
let db: TestDatabase;
let fn: RunningFunction;

const names = (path: string): Promise<string[]> => api.names(path, admin);

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'reset');
  for (const [tenant, plan] of [
    ['rs-one', webIdePlan],
    ['rs-two', defaultPlan],
  ] as const) {
    const objects = renderBaseline({
      tenant,
      createdAt: new Date(),
      plan,
      access: { user: 'oidc:x', group: 'oidc:x', clusterRole: 'edit' },
    });
    for (const object of objects) expect(await api.create(object, admin)).toBe(201);
    for (const starter of plan.manifests ?? [])
      expect(await api.create(renderStarter(starter, { tenant, namespace: tenant, email: '' }), admin)).toBe(
        201,
      );
    expect(
      await api.create(
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'notes', namespace: tenant } },
        admin,
      ),
    ).toBe(201);
  }
  fn = await startFunction({
    name: 'reset',
    loadConfig,
    env: {
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_URL: db.url,
      KUBECONFIG: env.kubernetes.kubeconfigPath,
    },
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(resetSetup(config, log)),
  });
});
afterAll(async () => {
  await fn.stop();
  await db.drop();
});

const reset = async (body: unknown) => {
  const response = await fetch(`${fn.url}/reset`, {
    method: 'POST',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe('reset function', () => {
  it('counts in a dry run and changes nothing', async () => {
    const { status, body } = await reset({ username: 'rs-two', dryRun: true });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      message: 'Dry run: counted what a reset would delete; nothing was deleted',
      dryRun: true,
      users_processed: 1,
      details: { 'rs-two': { ConfigMap: 1 } },
    });
    expect(await names('/api/v1/namespaces/rs-two/configmaps')).toContain('notes');
  });

  it('resets every tenant namespace and applies the plan starters again', async () => {
    const { status, body } = await reset({});
    expect(status).toBe(200);
    // rs-one's webide claim keeps kubernetes.io/pvc-protection until the controller sees no pod using it:
    // reset then names it as still terminating rather than claiming everything gone.
    expect(body.message).toMatch(/^All provisioned namespaces have been reset successfully(;|$)/);
    for (const kinds of Object.values((body.terminating ?? {}) as Record<string, Record<string, unknown>>))
      expect(Object.keys(kinds)).toEqual(['PersistentVolumeClaim']);
    expect(body.failed_resets).toEqual([]);
    expect(body.namespaces_reset).toBeGreaterThanOrEqual(2);
    for (const tenant of ['rs-one', 'rs-two']) {
      expect(await names(`/api/v1/namespaces/${tenant}/configmaps`)).toEqual(['kube-root-ca.crt']);
      expect(await names(`/api/v1/namespaces/${tenant}/resourcequotas`)).toEqual(['tenant-quota']);
    }
    // rs-one's webide was deleted with everything else, then created again from its plan.
    expect(await names('/apis/apps/v1/namespaces/rs-one/deployments')).toEqual(['webide']);
    const ns = await api.send('GET', '/api/v1/namespaces/rs-one', admin);
    expect((ns.json as { metadata: { labels: Record<string, string> } }).metadata.labels[labels.plan]).toBe(
      'webide',
    );
  });

  it('answers 404 for an unknown username', async () => {
    const { status, body } = await reset({ username: 'nobody-here' });
    expect(status).toBe(404);
    expect(body.detail).toBe('No provisioned user found with username: nobody-here');
  });
});
