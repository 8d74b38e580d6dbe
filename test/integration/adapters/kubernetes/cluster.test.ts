/**
 * KubernetesCluster.create on the real apiserver: what the product renders is what the apiserver stores,
 * field for field, for every object of a tenant (its baseline and the webide plan's starters). The
 * objects are plain API JSON; a field spelled differently in client-node's models (a NetworkPolicy rule's
 * `from`, a LimitRange's `default`) must arrive as well. objectPages, read, replace and deleteObject, which
 * sync's baseline repair uses, answer and send the same API JSON, in pages, with their preconditions.
 */
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KubernetesCluster } from '../../../../shared/adapters/kubernetes/cluster.ts';
import { PlatformError } from '../../../../shared/platform/errors.ts';
import type { KubernetesObject } from '../../../../shared/adapters/kubernetes/objects.ts';
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

describe('KubernetesCluster objectPages, read, replace and deleteObject', () => {
  const namespace = `${tenant}-objects`;
  const policy = (name: string, label: string): KubernetesObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace, labels: { 'adapter-test': label } },
    spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }] },
  });
  const conflict = (promise: Promise<unknown>) =>
    expect(promise).rejects.toSatisfy((e) => e instanceof PlatformError && e.reason === 'conflict');

  afterAll(async () => {
    await cluster.deleteNamespace(namespace);
  });

  it('lists by label in pages as API JSON, and replaces or deletes only the object read', async () => {
    await cluster.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    for (const name of ['a', 'b', 'c']) await cluster.create(policy(name, tenant));
    await cluster.create(policy('other', 'other'));

    const pages: Readonly<Record<string, unknown>>[][] = [];
    for await (const page of cluster.objectPages(
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
      `adapter-test=${tenant}`,
      { pageSize: 2 },
    ))
      pages.push(page);
    // Two pages (limit 2, then the continue token), only the labelled objects, each with its kind and the
    // rule's `from` as the API spells it.
    expect(pages.map((p) => p.length)).toEqual([2, 1]);
    const items = pages.flat();
    expect(items.map((i) => (i.metadata as { name: string }).name).sort()).toEqual(['a', 'b', 'c']);
    expect(items[0]).toMatchObject({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      spec: { ingress: [{ from: [{ podSelector: {} }] }] },
    });

    const read = (await cluster.read(policy('a', tenant))) as {
      metadata: { uid: string; resourceVersion: string };
    };
    expect(await cluster.read(policy('absent', tenant))).toBeUndefined();
    const changed = (rv: string) => ({
      ...policy('a', tenant),
      metadata: { ...policy('a', tenant).metadata, uid: read.metadata.uid, resourceVersion: rv },
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: {} }] }] },
    });
    // A stale resourceVersion is refused; the one read replaces it.
    await conflict(cluster.replace(changed(String(Number(read.metadata.resourceVersion) - 1))));
    await cluster.replace(changed(read.metadata.resourceVersion));
    expect(await cluster.read(policy('a', tenant))).toMatchObject({
      spec: { ingress: [{ from: [{ namespaceSelector: {} }] }] },
    });
    // Another uid is refused; the object's own deletes it.
    await conflict(cluster.deleteObject(policy('a', tenant), 'not-its-uid'));
    expect(await cluster.deleteObject(policy('a', tenant), read.metadata.uid)).toBe('deleted');
    expect(await cluster.read(policy('a', tenant))).toBeUndefined();
  });
});
