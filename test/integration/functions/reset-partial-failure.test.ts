/**
 * A reset where one namespace cannot be emptied: a ValidatingAdmissionPolicy on the real apiserver refuses
 * the deletion of ConfigMaps in one tenant namespace (as a platform's own protection policy would). The
 * other namespaces are reset, and the answer reports the failing one with the apiserver's reason.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/reset/config.ts';
import { resetSetup } from '../../../functions/reset/index.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { FUNCTION_TOKEN } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;
const POLICY = 'test-protect-configmaps';
const PROTECTED = 'rpf-locked';
const FREE = ['rpf-free-a', 'rpf-free-b'];
const admission = '/apis/admissionregistration.k8s.io/v1';
let db: TestDatabase;
let fn: RunningFunction;

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'reset_partial');
  for (const tenant of [PROTECTED, ...FREE]) {
    const objects = renderBaseline({
      tenant,
      createdAt: new Date(),
      plan: defaultPlan,
      access: { user: 'oidc:x', group: 'oidc:x', clusterRole: 'edit' },
    });
    for (const object of objects) expect(await api.create(object, admin)).toBe(201);
    expect(
      await api.create(
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'notes', namespace: tenant } },
        admin,
      ),
    ).toBe(201);
  }
  expect(
    await api.status('POST', `${admission}/validatingadmissionpolicies`, admin, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: POLICY },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['DELETE'], resources: ['configmaps'] },
          ],
        },
        validations: [{ expression: 'false', message: 'configmaps here are protected' }],
      },
    }),
  ).toBe(201);
  expect(
    await api.status('POST', `${admission}/validatingadmissionpolicybindings`, admin, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: POLICY },
      spec: {
        policyName: POLICY,
        validationActions: ['Deny'],
        matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': PROTECTED } } },
      },
    }),
  ).toBe(201);
  // The policy takes a moment to reach the admission plugin: wait until it refuses a deletion.
  await api.create(
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe', namespace: PROTECTED } },
    admin,
  );
  for (let i = 0; i < 100; i++) {
    if ((await api.status('DELETE', `/api/v1/namespaces/${PROTECTED}/configmaps/probe`, admin)) === 403)
      break;
    await api.create(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe', namespace: PROTECTED } },
      admin,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
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
  await api.status('DELETE', `${admission}/validatingadmissionpolicybindings/${POLICY}`, admin);
  await api.status('DELETE', `${admission}/validatingadmissionpolicies/${POLICY}`, admin);
  await fn.stop();
  await db.drop();
});

describe('reset with one namespace that cannot be emptied', () => {
  it('resets the others and reports the failing namespace with the reason', async () => {
    const response = await fetch(`${fn.url}/reset`, {
      method: 'POST',
      headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
      body: '{}',
    });
    const body = (await response.json()) as {
      failed_resets: string[];
      failures: { namespace: string; errors: string[] }[];
    };
    expect(response.status).toBe(200);
    expect(body.failed_resets).toContain(PROTECTED);
    for (const tenant of FREE) expect(body.failed_resets).not.toContain(tenant);
    const failure = body.failures.find((f) => f.namespace === PROTECTED);
    expect(failure?.errors.join(' ')).toMatch(/ConfigMap: .*configmaps here are protected/);
    for (const tenant of FREE)
      expect(await api.names(`/api/v1/namespaces/${tenant}/configmaps`, admin)).toEqual(['kube-root-ca.crt']);
    expect(await api.names(`/api/v1/namespaces/${PROTECTED}/configmaps`, admin)).toContain('notes');
  });
});
