/**
 * Resetting a tenant namespace on the real apiserver: every kind goes, custom resources included, while the
 * quota, the baseline, the RoleBindings and what Kubernetes recreates stay, and so does the namespace.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { discoverResources } from '../../../shared/adapters/kubernetes/discovery.ts';
import { RawKubernetes } from '../../../shared/adapters/kubernetes/raw.ts';
import { defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';
import type { KubernetesObject } from '../../../shared/adapters/kubernetes/objects.ts';
import { resetNamespace } from '../../../shared/tenancy/reset.ts';
import { resetTargets } from '../../../shared/tenancy/reset-plan.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;
const ns = 'reset-me';
let raw: RawKubernetes;

const meta = (name: string) => ({ name, namespace: ns });
// What Pod Security "restricted" (enforced in tenant namespaces) asks of every pod.
const podSpec = {
  securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
  containers: [
    {
      name: 'c',
      image: 'busybox',
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    },
  ],
};
const runOnce = { ...podSpec, restartPolicy: 'Never' };
const workload: [string, KubernetesObject][] = [
  [
    '/apis/apps/v1/namespaces/reset-me/deployments',
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('web'),
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: { metadata: { labels: { a: 'b' } }, spec: podSpec },
      },
    },
  ],
  [
    '/apis/apps/v1/namespaces/reset-me/statefulsets',
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta('db'),
      spec: {
        serviceName: 'db',
        selector: { matchLabels: { s: 'db' } },
        template: { metadata: { labels: { s: 'db' } }, spec: podSpec },
      },
    },
  ],
  [
    '/apis/batch/v1/namespaces/reset-me/jobs',
    { apiVersion: 'batch/v1', kind: 'Job', metadata: meta('once'), spec: { template: { spec: runOnce } } },
  ],
  [
    '/api/v1/namespaces/reset-me/services',
    { apiVersion: 'v1', kind: 'Service', metadata: meta('svc'), spec: { ports: [{ port: 80 }] } },
  ],
  [
    '/api/v1/namespaces/reset-me/configmaps',
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('settings'), data: { a: 'b' } },
  ],
  [
    '/api/v1/namespaces/reset-me/secrets',
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('creds'), stringData: { a: 'b' } },
  ],
  [
    '/api/v1/namespaces/reset-me/persistentvolumeclaims',
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: meta('data'),
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    },
  ],
  [
    '/api/v1/namespaces/reset-me/pods',
    { apiVersion: 'v1', kind: 'Pod', metadata: meta('bare'), spec: runOnce },
  ],
  [
    '/api/v1/namespaces/reset-me/serviceaccounts',
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('robot') },
  ],
  [
    '/apis/example.org/v1/namespaces/reset-me/widgets',
    { apiVersion: 'example.org/v1', kind: 'Widget', metadata: meta('w1'), spec: { size: 3 } },
  ],
];

const names = (path: string): Promise<string[]> => api.names(path, admin);

beforeAll(async () => {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.org' },
    spec: {
      group: 'example.org',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
  expect(
    (await api.send('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', admin, crd)).status,
  ).toBe(201);
  for (let i = 0; i < 100 && (await api.status('GET', '/apis/example.org/v1', admin)) !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const object of renderBaseline({
    tenant: ns,
    createdAt: new Date(),
    plan: defaultPlan,
    access: { user: 'oidc:x', group: 'oidc:x', clusterRole: 'edit' },
  })) {
    expect(await api.create(object, admin)).toBe(201);
  }
  for (const [path, object] of workload) {
    expect({ path, status: (await api.send('POST', path, admin, object)).status }).toEqual({
      path,
      status: 201,
    });
  }
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes.kubeconfigPath);
  raw = new RawKubernetes(kc);
  // kube-root-ca.crt and the default ServiceAccount come from the controller-manager.
  for (
    let i = 0;
    i < 100 && !(await names('/api/v1/namespaces/reset-me/serviceaccounts')).includes('default');
    i++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

describe('reset of one namespace', () => {
  it('finds every kind through discovery, custom resources included', async () => {
    const targets = resetTargets(await discoverResources(raw));
    const kinds = targets.map((t) => t.kind);
    for (const kind of [
      'Deployment',
      'StatefulSet',
      'Job',
      'Service',
      'ConfigMap',
      'Secret',
      'PersistentVolumeClaim',
      'Pod',
      'Widget',
    ]) {
      expect(kinds).toContain(kind);
    }
    expect(kinds).not.toContain('ResourceQuota');
    expect(kinds).not.toContain('RoleBinding');
  });

  it('counts in a dry run what would go, and deletes nothing', async () => {
    const report = await resetNamespace(raw, ns, resetTargets(await discoverResources(raw)), {
      dryRun: true,
    });
    expect(report.failures).toEqual([]);
    expect(report.counts).toMatchObject({
      Deployment: 1,
      StatefulSet: 1,
      Job: 1,
      Service: 1,
      ConfigMap: 1,
      Secret: 1,
      PersistentVolumeClaim: 1,
      Pod: 1,
      ServiceAccount: 1,
      Widget: 1,
    });
    expect(report.counts).not.toHaveProperty('LimitRange');
    expect(await names('/apis/apps/v1/namespaces/reset-me/deployments')).toEqual(['web']);
  });

  it('removes everything the tenant made and keeps the platform and the namespace', async () => {
    const report = await resetNamespace(raw, ns, resetTargets(await discoverResources(raw)));
    expect(report.failures).toEqual([]);
    for (const [path] of workload.filter(
      ([p]) => !p.endsWith('/serviceaccounts') && !p.endsWith('/configmaps'),
    )) {
      let left = await names(path);
      for (let i = 0; i < 100 && left.length > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        left = await names(path);
      }
      expect({ path, left }).toEqual({ path, left: [] });
    }
    expect(await names('/api/v1/namespaces/reset-me/serviceaccounts')).toEqual(['default']);
    expect(await names('/api/v1/namespaces/reset-me/configmaps')).toEqual(['kube-root-ca.crt']);
    expect(await names('/api/v1/namespaces/reset-me/resourcequotas')).toEqual(['tenant-quota']);
    expect(await names('/api/v1/namespaces/reset-me/limitranges')).toEqual(['tenant-defaults']);
    expect(await names('/apis/networking.k8s.io/v1/namespaces/reset-me/networkpolicies')).toEqual([
      'tenant-egress',
      'tenant-isolation',
    ]);
    expect(await names('/apis/rbac.authorization.k8s.io/v1/namespaces/reset-me/rolebindings')).toEqual([
      'tenant-group',
      'tenant-user',
    ]);
    expect(await api.status('GET', '/api/v1/namespaces/reset-me', admin)).toBe(200);
  });
});
