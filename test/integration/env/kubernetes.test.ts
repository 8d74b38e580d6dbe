/**
 * Proves the Kubernetes control plane of the test environment is real and complete enough for the product:
 * quota usage is computed by the controller-manager, namespaces are finalised and disappear, RBAC refuses
 * an unprivileged token, and the version is the one built.
 */
import { randomBytes } from 'node:crypto';
import { ApiException, CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { describe, expect, inject, it } from 'vitest';
import { kubeconfig } from '../../env/kubernetes.ts';
import '../../env/provided.ts';
import { readFileSync } from 'node:fs';

const env = inject('testEnv').kubernetes;

function clientAs(token: string): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig(env.server, readFileSync(env.caFile), 'someone', token));
  return kc.makeApiClient(CoreV1Api);
}
const admin = clientAs(env.adminToken);
const uniqueName = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    throw error;
  }
}

describe('kubernetes control plane', () => {
  it('reports the version it was built as', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(env.kubeconfigPath);
    const version = await kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe('v1.34.10');
    expect(version.minor).toBe('34');
  });

  it('computes ResourceQuota usage in the controller-manager', async () => {
    const namespace = uniqueName('quota');
    await admin.createNamespace({ body: { metadata: { name: namespace } } });
    try {
      // The root-ca publisher's kube-root-ca.crt counts against the quota. Waiting for it, and creating our
      // ConfigMaps before the quota, leaves the controller a settled namespace to count: it counts from
      // its informers, and an object that lands while it counts is missed until the next full resync
      // (5 min). Only the controller can count objects older than the quota: admission charges new ones.
      await eventually(
        async () =>
          (await statusOf(admin.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace }))) === 200
            ? true
            : undefined,
        'kube-root-ca.crt',
      );
      for (const name of ['one', 'two']) {
        await admin.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { a: 'b' } } });
      }
      await admin.createNamespacedResourceQuota({
        namespace,
        body: {
          metadata: { name: 'limits' },
          spec: { hard: { configmaps: '5', pods: '2', 'requests.cpu': '1' } },
        },
      });
      const usage = async (): Promise<Record<string, string> | undefined> =>
        (await admin.readNamespacedResourceQuota({ name: 'limits', namespace })).status?.used;
      expect(await eventually(usage, 'quota usage computed')).toEqual({
        configmaps: '3',
        pods: '0',
        'requests.cpu': '0',
      });

      // Admission charges new objects at once, and refuses what exceeds the quota.
      for (const name of ['three', 'four']) {
        await admin.createNamespacedConfigMap({ namespace, body: { metadata: { name } } });
      }
      expect((await usage())?.configmaps).toBe('5');
      const refused = await admin
        .createNamespacedConfigMap({ namespace, body: { metadata: { name: 'six' } } })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(refused).toBeInstanceOf(ApiException);
      expect((refused as ApiException<string>).code).toBe(403);
      expect((refused as ApiException<string>).body).toContain('exceeded quota: limits');

      // Only the controller gives usage back when objects go.
      await admin.deleteNamespacedConfigMap({ name: 'four', namespace });
      const released = await eventually(async () => {
        const used = await usage();
        return used?.configmaps === '4' ? used : undefined;
      }, 'quota usage of 4 configmaps after a deletion');
      expect(released.configmaps).toBe('4');
    } finally {
      await admin.deleteNamespace({ name: namespace });
    }
  });

  it('finalises a deleted namespace and its contents', async () => {
    const namespace = uniqueName('gone');
    await admin.createNamespace({ body: { metadata: { name: namespace } } });
    await admin.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'data' } } });
    await admin.deleteNamespace({ name: namespace });
    const code = await eventually(async () => {
      const status = await statusOf(admin.readNamespace({ name: namespace }));
      return status === 404 ? status : undefined;
    }, `namespace ${namespace} to disappear`);
    expect(code).toBe(404);
  });

  it('enforces RBAC: an unbound user is refused, a bogus token is unauthenticated', async () => {
    const limited = clientAs(env.limitedToken);
    expect(await statusOf(limited.listNamespace())).toBe(403);
    expect(
      await statusOf(limited.createNamespace({ body: { metadata: { name: uniqueName('nope') } } })),
    ).toBe(403);
    expect(await statusOf(clientAs('not-a-valid-token').listNamespace())).toBe(401);
    expect(await statusOf(admin.listNamespace())).toBe(200);
  });

  it('issues ServiceAccount tokens (serviceaccount and token controllers)', async () => {
    const namespace = uniqueName('sa');
    await admin.createNamespace({ body: { metadata: { name: namespace } } });
    const sa = await eventually(
      async () =>
        (await admin.listNamespacedServiceAccount({ namespace })).items.find(
          (s) => s.metadata?.name === 'default',
        ),
      'the default ServiceAccount',
    );
    expect(sa.metadata?.namespace).toBe(namespace);
    const token = await admin.createNamespacedServiceAccountToken({
      name: 'default',
      namespace,
      body: { spec: { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 600 } },
    });
    expect((token.status?.token ?? '').split('.')).toHaveLength(3);
    await admin.deleteNamespace({ name: namespace });
  });
});
