/**
 * KubernetesCluster.create on the real apiserver: what the product renders is what the apiserver stores,
 * field for field, for every object of a tenant (its baseline and the webide plan's starters). The
 * objects are plain API JSON; a field spelled differently in client-node's models (a NetworkPolicy rule's
 * `from`, a LimitRange's `default`) must arrive as well.
 */
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KubernetesCluster } from '../../../../shared/adapters/kubernetes/cluster.ts';
import { webIdePlan } from '../../../../shared/tenancy/plans.ts';
import { renderTenantObjects } from '../../../../shared/tenancy/tenant-objects.ts';
import { apiserver, collectionPath } from '../../../support/apiserver.ts';
import '../../../env/provided.ts';

const env = inject('testEnv');
const kc = new KubeConfig();
kc.loadFromFile(env.kubernetes.kubeconfigPath);
const cluster = new KubernetesCluster(kc);
const kube = apiserver(env.kubernetes);
const tenant = `adapter-${randomBytes(4).toString('hex')}`;

afterAll(async () => {
  await cluster.deleteNamespace(tenant);
});

describe('KubernetesCluster.create', () => {
  it('stores every rendered field of a tenant’s objects, including those client-node’s models rename', async () => {
    const objects = renderTenantObjects(
      {
        username: tenant,
        contactEmail: `${tenant}@example.org`,
        plan: webIdePlan,
        createdAt: new Date('2026-12-02T00:00:00Z'),
      },
      {
        tenantClusterRole: 'tenant-lifecycle:tenant-edit',
        oidc: { usernamePrefix: 'oidc:', groupsPrefix: 'oidc:' },
      },
    );
    const isolation = objects.find((o) => o.metadata.name === 'tenant-isolation');
    const defaults = objects.find((o) => o.kind === 'LimitRange');
    // The fields this is about are in what is rendered.
    expect(JSON.stringify(isolation)).toContain('"from":');
    expect(JSON.stringify(defaults)).toContain('"default":');

    // A dry run stores nothing, and a real create stores each.
    await cluster.create(objects[0] ?? { apiVersion: '', kind: '', metadata: { name: '' } }, true);
    expect(await kube.status('GET', `/api/v1/namespaces/${tenant}`, env.kubernetes.adminToken)).toBe(404);
    for (const object of objects) await cluster.create(object);

    for (const object of objects) {
      const { status, json } = await kube.send(
        'GET',
        `${collectionPath(object)}/${object.metadata.name}`,
        env.kubernetes.adminToken,
      );
      expect(status, `${object.kind}/${object.metadata.name}`).toBe(200);
      const { metadata, ...content } = object;
      // Secrets come back base64-encoded in data; stringData is write-only.
      const { stringData, ...rest } = content as typeof content & { stringData?: Record<string, string> };
      expect(json, `${object.kind}/${object.metadata.name}`).toMatchObject({
        ...rest,
        metadata: { name: metadata.name, labels: metadata.labels ?? {} },
        ...(stringData === undefined
          ? {}
          : {
              data: Object.fromEntries(
                Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
              ),
            }),
      });
    }
  });
});
