import { describe, expect, it } from 'vitest';
import { defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';

const input = {
  tenant: 'john-doe',
  ownerEmail: 'john.doe@example.org',
  createdAt: new Date('2026-11-22T10:00:00Z'),
  plan: defaultPlan,
  access: { user: 'oidc:john-doe', group: 'oidc:tenant-john-doe', clusterRole: 'tenant-edit' },
};

describe('renderBaseline', () => {
  const objects = renderBaseline(input);
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);

  it('renders the namespace first, then its contents, all in the tenant namespace', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/john-doe',
      'ResourceQuota/tenant-quota',
      'LimitRange/tenant-defaults',
      'NetworkPolicy/tenant-isolation',
      'RoleBinding/tenant-user',
      'RoleBinding/tenant-group',
    ]);
    for (const o of objects.slice(1)) expect(o.metadata.namespace).toBe('john-doe');
  });

  it('labels and annotates the namespace, keeping the predecessor labels', () => {
    const [ns] = byKind('Namespace');
    expect(ns?.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'tenant-lifecycle',
      'tenant-lifecycle.dev/tenant': 'john-doe',
      'tenant-lifecycle.dev/plan': 'default',
      'managed-by': 'k8s-provisioner',
      provisioned: 'true',
    });
    expect(ns?.metadata.annotations).toEqual({
      'tenant-lifecycle.dev/created-at': '2026-11-22T10:00:00.000Z',
      'tenant-lifecycle.dev/owner': 'john-doe',
      'tenant-lifecycle.dev/owner-email': 'john.doe@example.org',
    });
  });

  it('carries the predecessor quota and defaults that fit under it', () => {
    expect(byKind('ResourceQuota')[0]?.spec).toEqual({
      hard: {
        pods: '20',
        'requests.cpu': '100m',
        'requests.memory': '2Gi',
        'limits.cpu': '500m',
        'limits.memory': '4Gi',
      },
    });
    expect(byKind('LimitRange')[0]?.spec).toEqual({
      limits: [
        {
          type: 'Container',
          defaultRequest: { cpu: '10m', memory: '64Mi' },
          default: { cpu: '100m', memory: '256Mi' },
        },
      ],
    });
  });

  it('binds the tenant ClusterRole to the OIDC user and the OIDC group', () => {
    const subjects = byKind('RoleBinding').map((b) => [b.roleRef, b.subjects]);
    expect(subjects).toEqual([
      [
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tenant-edit' },
        [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'oidc:john-doe' }],
      ],
      [
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tenant-edit' },
        [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'oidc:tenant-john-doe' }],
      ],
    ]);
  });

  it('admits ingress only from the namespace itself, plus the platform namespaces when configured', () => {
    expect(byKind('NetworkPolicy')[0]?.spec).toEqual({
      podSelector: {},
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: {} }] }],
    });
    const withPlatform = renderBaseline({
      ...input,
      platformNamespaceLabel: { key: 'platform', value: 'ingress' },
    });
    expect(withPlatform.find((o) => o.kind === 'NetworkPolicy')?.spec).toMatchObject({
      ingress: [
        { from: [{ podSelector: {} }, { namespaceSelector: { matchLabels: { platform: 'ingress' } } }] },
      ],
    });
  });
});
