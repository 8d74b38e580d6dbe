/**
 * The baseline drift plan: which stored baseline objects differ from what provision renders, on the fields
 * the product writes, compared as the apiserver stores them.
 *
 * The stored objects below were read back (GET, managedFields left out) from the test environment's
 * kube-apiserver v1.34.10 on 2026-12-03: the baseline was created with KubernetesCluster.create from
 * renderBaseline for a plan written with non-canonical quantities (requests.memory "2048Mi", limits.cpu
 * "0.5", a default request of "0.01" CPU), and the old bug's shapes were posted as such. They record what
 * the apiserver changes: quantities in canonical form ("2Gi", "500m", "10m"), keys in its own order, a
 * NetworkPolicy port's protocol and policyTypes filled in when absent, an empty egress list dropped, a
 * LimitRange without `default` kept so (only `max` fills it).
 */
import { describe, expect, it } from 'vitest';
import { defaultPlan, type TenantPlan } from '../../../shared/tenancy/baseline.ts';
import type { KubernetesObject } from '../../../shared/adapters/kubernetes/objects.ts';
import {
  BaselineComparison,
  desiredBaseline,
  driftedFields,
  planBaselineRepairs,
  quantityValue,
  replacement,
  storedShape,
  type StoredObject,
} from '../../../shared/tenancy/baseline-drift.ts';
import { labels, MANAGER } from '../../../shared/tenancy/labels.ts';

const TENANT = 'capture-shape';
const access = { tenantClusterRole: 'tenant-edit', oidc: { usernamePrefix: 'oidc:', groupsPrefix: 'oidc:' } };
const plan: TenantPlan = {
  ...defaultPlan,
  quota: { ...defaultPlan.quota, 'requests.memory': '2048Mi', 'limits.cpu': '0.5' },
  containerDefaults: { request: { cpu: '0.01', memory: '64Mi' }, limit: { cpu: '100m', memory: '256Mi' } },
};
const baselineLabels = {
  'app.kubernetes.io/managed-by': 'tenant-lifecycle',
  'tenant-lifecycle.dev/baseline': 'true',
  'tenant-lifecycle.dev/tenant': TENANT,
};
const meta = (name: string, uid: string, resourceVersion: string, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: TENANT,
  uid,
  resourceVersion,
  ...extra,
  creationTimestamp: '2026-12-03T02:26:22Z',
  labels: baselineLabels,
});

/** As GET answered them (apiVersion and kind added, as for list items). */
const storedByApiserver: Record<string, unknown>[] = [
  {
    kind: 'ResourceQuota',
    apiVersion: 'v1',
    metadata: meta('tenant-quota', '30573227-4c7f-4f69-806f-27cd6febd87f', '237'),
    spec: {
      hard: {
        'count/configmaps': '20',
        'count/cronjobs.batch': '5',
        'count/deployments.apps': '10',
        'count/jobs.batch': '20',
        'count/secrets': '20',
        'count/services': '10',
        'count/statefulsets.apps': '5',
        'limits.cpu': '500m',
        'limits.memory': '4Gi',
        persistentvolumeclaims: '5',
        pods: '20',
        'requests.cpu': '100m',
        'requests.memory': '2Gi',
        'requests.storage': '10Gi',
        'services.loadbalancers': '0',
        'services.nodeports': '0',
      },
    },
    status: { hard: { pods: '20' }, used: { pods: '0' } },
  },
  {
    kind: 'LimitRange',
    apiVersion: 'v1',
    metadata: meta('tenant-defaults', 'f7a94c0a-465a-43ef-ad11-835bb2d7748f', '238'),
    spec: {
      limits: [
        {
          type: 'Container',
          default: { cpu: '100m', memory: '256Mi' },
          defaultRequest: { cpu: '10m', memory: '64Mi' },
        },
      ],
    },
  },
  {
    kind: 'NetworkPolicy',
    apiVersion: 'networking.k8s.io/v1',
    metadata: meta('tenant-isolation', 'fadeca37-d47c-4cc9-934a-dc302c512cb0', '239', { generation: 1 }),
    spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }], policyTypes: ['Ingress'] },
  },
  {
    kind: 'NetworkPolicy',
    apiVersion: 'networking.k8s.io/v1',
    metadata: meta('tenant-egress', 'd6f20e3a-9583-4749-badf-198fabe68bea', '240', { generation: 1 }),
    spec: {
      podSelector: {},
      egress: [
        {
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
            { protocol: 'UDP', port: 'dns' },
            { protocol: 'TCP', port: 'dns-tcp' },
          ],
          to: [
            {
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
            },
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
                    values: [
                      'kube-system',
                      'kube-public',
                      'kube-node-lease',
                      'default',
                      'knative-serving',
                      'knative-eventing',
                      'knative-operator',
                      'kourier-system',
                      'everest-system',
                      'everest-monitoring',
                      'everest-olm',
                      'everest',
                      'monitoring',
                      'ingress-nginx',
                      'cert-manager',
                      'istio-system',
                      'keycloak',
                      'grafana',
                      'tenant-functions',
                    ],
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
      policyTypes: ['Egress'],
    },
  },
  {
    kind: 'RoleBinding',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    metadata: meta('tenant-user', 'd3f419e8-b0d9-479e-b886-c5375006755c', '241'),
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: `oidc:${TENANT}` }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tenant-edit' },
  },
  // tenant-group was not read back: tenant-user's stored shape with its Group subject.
  {
    kind: 'RoleBinding',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    metadata: meta('tenant-group', 'tenant-group-uid', '242'),
    subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: `oidc:tenant-${TENANT}` }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tenant-edit' },
  },
];

const namespace = (name: string, planName = plan.name) => ({
  name,
  labels: { [labels.managedBy]: MANAGER, [labels.tenant]: name, [labels.plan]: planName },
});
const settings = { plans: new Map([[plan.name, plan]]), access };
/** The repairs of the owned namespaces `owned` given the listed objects. */
const repairsOf = (listed: Record<string, unknown>[], owned = [namespace(TENANT)]) =>
  planBaselineRepairs(owned, settings, defaultPlan, listed);
const replaceSpec = (kind: string, name: string, spec: unknown) =>
  storedByApiserver.map((o) =>
    o.kind === kind && (o.metadata as { name: string }).name === name ? { ...o, spec } : o,
  );

describe('baseline drift', () => {
  it('finds no drift in the baseline as the apiserver stored it (defaults, canonical quantities)', () => {
    expect(desiredBaseline(namespace(TENANT), settings, defaultPlan).map((o) => o.kind)).toEqual([
      'ResourceQuota',
      'LimitRange',
      'NetworkPolicy',
      'NetworkPolicy',
      'RoleBinding',
      'RoleBinding',
    ]);
    expect(repairsOf(storedByApiserver)).toEqual([]);
  });

  it('takes a port without protocol as TCP and absent policyTypes as the apiserver defaults them', () => {
    // Posted with neither (and `egress: []`); stored with protocol TCP, policyTypes [Ingress], no egress.
    const posted: KubernetesObject = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'no-defaults', namespace: TENANT },
      spec: {
        podSelector: {},
        ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 80 }] }],
        egress: [],
      },
    };
    const asStored = storedShape({
      kind: 'NetworkPolicy',
      apiVersion: 'networking.k8s.io/v1',
      metadata: { name: 'no-defaults', namespace: TENANT, uid: '84ba8b71', resourceVersion: '260' },
      spec: {
        podSelector: {},
        ingress: [{ ports: [{ protocol: 'TCP', port: 80 }], from: [{ podSelector: {} }] }],
        policyTypes: ['Ingress'],
      },
    });
    expect(asStored).toBeDefined();
    expect(driftedFields(posted, asStored as StoredObject)).toEqual([]);
    // The control: the same stored object against a desired UDP port is drift.
    const udp = {
      ...posted,
      spec: { ...(posted.spec as object), ingress: [{ ports: [{ port: 80, protocol: 'UDP' }] }] },
    };
    expect(driftedFields(udp, asStored as StoredObject)).toEqual(['spec.ingress']);
  });

  it('plans the old serializer bug: an `ingress: [{}]` policy and a LimitRange without `default`', () => {
    // As the apiserver stored them when posted so.
    const broken = replaceSpec('NetworkPolicy', 'tenant-isolation', {
      podSelector: {},
      ingress: [{}],
      policyTypes: ['Ingress'],
    }).map((o) =>
      o.kind === 'LimitRange'
        ? { ...o, spec: { limits: [{ type: 'Container', defaultRequest: { cpu: '10m', memory: '64Mi' } }] } }
        : o,
    );
    const repairs = repairsOf(broken);
    expect(
      repairs.map(({ tenant, kind, name, action, fields }) => ({ tenant, kind, name, action, fields })),
    ).toEqual([
      {
        tenant: TENANT,
        kind: 'LimitRange',
        name: 'tenant-defaults',
        action: 'update',
        fields: ['spec.limits'],
      },
      {
        tenant: TENANT,
        kind: 'NetworkPolicy',
        name: 'tenant-isolation',
        action: 'update',
        fields: ['spec.ingress'],
      },
    ]);
    // The replacement carries the desired spec and the stored object's identity as preconditions.
    const isolation = repairs.find((r) => r.kind === 'NetworkPolicy');
    expect(isolation && replacement(isolation)).toMatchObject({
      metadata: {
        uid: 'fadeca37-d47c-4cc9-934a-dc302c512cb0',
        resourceVersion: '239',
        labels: baselineLabels,
      },
      spec: { ingress: [{ from: [{ podSelector: {} }] }] },
    });
  });

  it('never plans a namespace the product does not own, while the owned one beside it is planned', () => {
    // Both namespaces hold the same broken policy; only the owned one is in the desired map (sync passes
    // the namespaces that pass the ownership rule).
    const brokenIn = (ns: string) =>
      replaceSpec('NetworkPolicy', 'tenant-isolation', {
        podSelector: {},
        ingress: [{}],
        policyTypes: ['Ingress'],
      })
        .filter((o) => o.kind === 'NetworkPolicy')
        .map((o) => ({ ...o, metadata: { ...(o.metadata as object), namespace: ns } }));
    const repairs = repairsOf([...brokenIn(TENANT), ...brokenIn('foreign')], [namespace(TENANT)]);
    expect(repairs.some((r) => r.tenant === 'foreign')).toBe(false);
    expect(repairs.filter((r) => r.action !== 'create').map((r) => `${r.tenant}/${r.name}`)).toEqual([
      `${TENANT}/tenant-isolation`,
    ]);
  });

  it('plans a missing object as create and leaves objects of other names alone', () => {
    const withoutQuota = storedByApiserver.filter((o) => o.kind !== 'ResourceQuota');
    const extra = {
      kind: 'NetworkPolicy',
      apiVersion: 'networking.k8s.io/v1',
      metadata: { name: 'allow-all', namespace: TENANT, labels: baselineLabels },
      spec: { podSelector: {}, ingress: [{}] },
    };
    const repairs = repairsOf([...withoutQuota, extra]);
    expect(repairs.map((r) => [r.kind, r.name, r.action, r.fields])).toEqual([
      ['ResourceQuota', 'tenant-quota', 'create', ['*']],
    ]);
  });

  it('finds a changed quota value, an extra spec field, lost labels and a changed roleRef', () => {
    const changed = storedByApiserver.map((o) => {
      const name = (o.metadata as { name: string }).name;
      if (o.kind === 'ResourceQuota')
        return {
          ...o,
          spec: { hard: { ...(o.spec as { hard: object }).hard, pods: '200' }, scopes: ['BestEffort'] },
        };
      if (name === 'tenant-egress')
        return {
          ...o,
          metadata: { ...(o.metadata as object), labels: { ...baselineLabels, [labels.tenant]: 'other' } },
        };
      if (name === 'tenant-user')
        return {
          ...o,
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
        };
      return o;
    });
    const repairs = repairsOf(changed);
    expect(repairs.map((r) => [r.name, r.action, r.fields])).toEqual([
      ['tenant-egress', 'update', ['metadata.labels']],
      ['tenant-quota', 'update', ['spec.hard', 'spec.scopes']],
      ['tenant-user', 'recreate', ['roleRef']],
    ]);
  });

  it('keeps quota and limits of a namespace whose plan is not configured, and still compares its policies', () => {
    const broken = replaceSpec('NetworkPolicy', 'tenant-isolation', {
      podSelector: {},
      ingress: [{}],
    }).filter((o) => o.kind !== 'LimitRange');
    const repairs = repairsOf(broken, [namespace(TENANT, 'retired-plan')]);
    expect(repairs.map((r) => [r.kind, r.name, r.fields])).toEqual([
      ['NetworkPolicy', 'tenant-isolation', ['spec.ingress']],
    ]);
  });

  it('gives the same repairs fed page by page, across namespaces and kinds in any order', () => {
    const other = 'capture-other';
    const inOther = storedByApiserver
      .filter((o) => o.kind !== 'LimitRange')
      .map((o) => ({
        ...o,
        metadata: {
          ...(o.metadata as object),
          namespace: other,
          labels: { ...baselineLabels, [labels.tenant]: other },
        },
        ...(o.kind === 'RoleBinding'
          ? {
              subjects: JSON.parse(JSON.stringify(o.subjects).replaceAll(TENANT, other)) as unknown,
            }
          : {}),
      }));
    const listed = [...storedByApiserver, ...inOther].reverse();
    const owned = [namespace(TENANT), namespace(other)];
    const comparison = new BaselineComparison(owned, settings, defaultPlan);
    for (let i = 0; i < listed.length; i += 2) for (const o of listed.slice(i, i + 2)) comparison.add(o);
    const repairs = comparison.repairs();
    expect(repairs.map((r) => [r.tenant, r.kind, r.name, r.action])).toEqual([
      [other, 'LimitRange', 'tenant-defaults', 'create'],
    ]);
    expect(repairsOf(listed, owned)).toEqual(repairs);
  });

  it('compares quantities by value', () => {
    expect(quantityValue('2048Mi')).toBe(quantityValue('2Gi'));
    expect(quantityValue('0.5')).toBe(quantityValue('500m'));
    expect(quantityValue('0.01')).toBe(quantityValue('10m'));
    expect(quantityValue('1e3')).toBe(quantityValue('1k'));
    expect(quantityValue('0')).toBe(quantityValue('0Gi'));
    expect(quantityValue('1Gi')).not.toBe(quantityValue('1G'));
    expect(quantityValue('100m')).not.toBe(quantityValue('100'));
    expect(quantityValue('not a quantity')).toBe('not a quantity');
  });
});
