/**
 * The tenant's access, end to end on the real servers: the baseline applied to the apiserver, a Keycloak
 * user of the OIDC realm in the tenant's group, and that user's own token. It may run workloads in its
 * namespace, may not change what the platform set, and reaches nothing outside.
 */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';
import type { KubernetesObject } from '../../../shared/adapters/kubernetes/objects.ts';
import { renderTenantClusterRole, TENANT_CLUSTER_ROLE } from '../../../shared/tenancy/cluster-role.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { masterAdmin } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const call = api.status;
const create = api.create;
const getJson = async <T>(path: string, token: string): Promise<T> =>
  (await api.send('GET', path, token)).json as T;

const deployment = (namespace: string): KubernetesObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'nginx' }] },
    },
  },
});

let token = '';
const mine = 'tenant-carol';
const theirs = 'tenant-dave';

beforeAll(async () => {
  const admin = env.kubernetes.adminToken;
  const status = await create(renderTenantClusterRole(), admin);
  expect([201, 409]).toContain(status);
  for (const tenant of [mine, theirs]) {
    for (const object of renderBaseline({
      tenant,
      createdAt: new Date(),
      plan: defaultPlan,
      access: { user: `oidc:${tenant}`, group: `oidc:${tenant}`, clusterRole: TENANT_CLUSTER_ROLE },
    })) {
      expect(await create(object, admin)).toBe(201);
    }
  }
  const kc = await masterAdmin(env);
  await kc.users.create({
    realm: env.oidc.realm,
    username: mine,
    email: `${mine}@example.org`,
    emailVerified: true,
    firstName: 'Carol',
    lastName: 'Tenant',
    enabled: true,
    credentials: [{ type: 'password', value: 'carol-Passw0rd', temporary: false }],
  });
  const answer = await fetch(`${env.keycloak.url}/realms/${env.oidc.realm}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: env.oidc.clientId,
      username: mine,
      password: 'carol-Passw0rd',
      scope: 'openid',
    }),
  });
  token = ((await answer.json()) as { id_token: string }).id_token;
  // Wait until the apiserver has the issuer's keys.
  for (
    let i = 0;
    i < 50 && (await call('GET', `/api/v1/namespaces/${mine}/configmaps`, token)) !== 200;
    i++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

describe('a tenant with its own OIDC token', () => {
  it('runs workloads in its namespace; a pod without resources admits under the quota with the defaults', async () => {
    expect(await create(deployment(mine), token)).toBe(201);
    // Without resources, but with what Pod Security "restricted" asks of every pod.
    const bare = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'bare', namespace: mine },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'c',
            image: 'busybox',
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    };
    expect(await call('POST', `/api/v1/namespaces/${mine}/pods`, token, bare)).toBe(201);
    const pod = await getJson<{ spec: { containers: { resources: unknown }[] } }>(
      `/api/v1/namespaces/${mine}/pods/bare`,
      token,
    );
    expect(pod.spec.containers[0]?.resources).toEqual({
      requests: { cpu: '10m', memory: '64Mi' },
      limits: { cpu: '100m', memory: '256Mi' },
    });
    expect(
      await create(
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: mine } },
        token,
      ),
    ).toBe(201);
  });

  it('reads but cannot change what the platform set', async () => {
    expect(await call('GET', `/api/v1/namespaces/${mine}/resourcequotas/tenant-quota`, token)).toBe(200);
    expect(
      await call('PATCH', `/api/v1/namespaces/${mine}/resourcequotas/tenant-quota`, token, {
        spec: { hard: { pods: '1000' } },
      }),
    ).toBe(403);
    expect(await call('DELETE', `/api/v1/namespaces/${mine}/limitranges/tenant-defaults`, token)).toBe(403);
    expect(
      await call(
        'DELETE',
        `/apis/networking.k8s.io/v1/namespaces/${mine}/networkpolicies/tenant-isolation`,
        token,
      ),
    ).toBe(403);
    expect(
      await call(
        'DELETE',
        `/apis/rbac.authorization.k8s.io/v1/namespaces/${mine}/rolebindings/tenant-user`,
        token,
      ),
    ).toBe(403);
    expect(
      await create(
        {
          apiVersion: 'v1',
          kind: 'ResourceQuota',
          metadata: { name: 'more', namespace: mine },
          spec: { hard: { pods: '1' } },
        },
        token,
      ),
    ).toBe(403);
  });

  it('reaches nothing outside its namespace', async () => {
    expect(await create(deployment(theirs), token)).toBe(403);
    expect(await call('GET', `/api/v1/namespaces/${theirs}/configmaps`, token)).toBe(403);
    expect(await call('GET', '/api/v1/namespaces', token)).toBe(403);
    expect(await call('GET', '/api/v1/nodes', token)).toBe(403);
    expect(
      await create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'carol-extra' } }, token),
    ).toBe(403);
  });
});
