import { describe, expect, it } from 'vitest';
import { defaultEgress, defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';

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
      'NetworkPolicy/tenant-egress',
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

  it('enforces, warns and audits Pod Security "restricted", and allows no node ports or load balancers', () => {
    const [ns] = byKind('Namespace');
    expect(ns?.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/warn-version': 'latest',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/audit-version': 'latest',
      'tenant-lifecycle.dev/allow-node-ports': 'false',
      'tenant-lifecycle.dev/allow-load-balancers': 'false',
    });
    const relaxed = renderBaseline({
      ...input,
      plan: { ...defaultPlan, podSecurity: 'baseline', allowNodePorts: true },
    })[0];
    expect(relaxed?.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'baseline',
      'tenant-lifecycle.dev/allow-node-ports': 'true',
      'tenant-lifecycle.dev/allow-load-balancers': 'false',
    });
    // A plan without a level (one built in code) gets restricted.
    const withoutLevel = { name: 'bare', quota: {}, containerDefaults: defaultPlan.containerDefaults };
    expect(renderBaseline({ ...input, plan: withoutLevel })[0]?.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
  });

  it('carries the predecessor compute quota, caps on exposure, storage and object counts, and defaults that fit', () => {
    expect(byKind('ResourceQuota')[0]?.spec).toEqual({
      hard: {
        pods: '20',
        'requests.cpu': '100m',
        'requests.memory': '2Gi',
        'limits.cpu': '500m',
        'limits.memory': '4Gi',
        'services.loadbalancers': '0',
        'services.nodeports': '0',
        persistentvolumeclaims: '5',
        'requests.storage': '10Gi',
        'count/services': '10',
        'count/secrets': '20',
        'count/configmaps': '20',
        'count/deployments.apps': '10',
        'count/statefulsets.apps': '5',
        'count/jobs.batch': '20',
        'count/cronjobs.batch': '5',
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

  it('lets egress reach DNS, the namespace, other namespaces but the denied ones, and outside but the denied ranges', () => {
    const egress = byKind('NetworkPolicy').find((p) => p.metadata.name === 'tenant-egress');
    expect(egress?.spec).toEqual({
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
            { protocol: 'UDP', port: 'dns' },
            { protocol: 'TCP', port: 'dns-tcp' },
          ],
        },
        { to: [{ podSelector: {} }] },
        {
          to: [
            {
              namespaceSelector: {
                matchExpressions: [
                  {
                    key: 'kubernetes.io/metadata.name',
                    operator: 'NotIn',
                    values: [...defaultEgress.deniedNamespaces],
                  },
                ],
              },
            },
          ],
        },
        {
          to: [
            {
              ipBlock: {
                cidr: '0.0.0.0/0',
                except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'],
              },
            },
            { ipBlock: { cidr: '::/0', except: ['fc00::/7', 'fe80::/10'] } },
          ],
        },
      ],
    });
    for (const name of ['kube-system', 'knative-serving', 'everest-system', 'monitoring', 'tenant-functions'])
      expect(defaultEgress.deniedNamespaces).toContain(name);
    const configured = renderBaseline({
      ...input,
      egress: { deniedNamespaces: ['fns', 'kube-system'], deniedCidrs: ['10.96.0.0/12'] },
    }).find((o) => o.metadata.name === 'tenant-egress')?.spec as { egress: unknown[] };
    expect(configured.egress.slice(2)).toEqual([
      {
        to: [
          {
            namespaceSelector: {
              matchExpressions: [
                { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['fns', 'kube-system'] },
              ],
            },
          },
        ],
      },
      { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.96.0.0/12'] } }, { ipBlock: { cidr: '::/0' } }] },
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
