/**
 * The tenant baseline: the Kubernetes objects that make a namespace a tenant, rendered as plain objects
 * (nothing is applied here). Apply order is the array order. Rendering is pure, so dry-run shows exactly what
 * would be created and unit tests need no cluster.
 */
import { annotations, labels, MANAGER } from './labels.ts';

export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

export interface ResourcePair {
  readonly cpu: string;
  readonly memory: string;
}

/** A named bundle of limits (and, later, starter manifests) a tenant is provisioned with. */
export interface TenantPlan {
  readonly name: string;
  /** ResourceQuota `spec.hard`. */
  readonly quota: Readonly<Record<string, string>>;
  /** LimitRange defaults, so that pods without resources still admit under the quota. */
  readonly containerDefaults: { readonly request: ResourcePair; readonly limit: ResourcePair };
  /** Starter objects created in the namespace (templates, see starters.ts); none by default. */
  readonly manifests?: readonly Readonly<Record<string, unknown>>[];
}

/** The predecessor's quota (seed 000), with container defaults that fit under it. */
export const defaultPlan: TenantPlan = {
  name: 'default',
  quota: {
    pods: '20',
    'requests.cpu': '100m',
    'requests.memory': '2Gi',
    'limits.cpu': '500m',
    'limits.memory': '4Gi',
  },
  containerDefaults: { request: { cpu: '10m', memory: '64Mi' }, limit: { cpu: '100m', memory: '256Mi' } },
};

export interface AccessSubjects {
  /** The OIDC user as the apiserver names it (username prefix + claim value). */
  readonly user: string;
  /** The tenant's OIDC group as the apiserver names it (groups prefix + group). */
  readonly group: string;
  /** The ClusterRole the project ships for tenants: edit rights without quota, limits, policies or RBAC. */
  readonly clusterRole: string;
}

export interface BaselineInput {
  readonly tenant: string;
  readonly ownerEmail?: string;
  readonly createdAt: Date;
  readonly plan: TenantPlan;
  readonly access: AccessSubjects;
  /** Namespaces with this label may reach tenant pods (ingress controllers, monitoring); optional. */
  readonly platformNamespaceLabel?: { readonly key: string; readonly value: string };
}

export function renderBaseline(input: BaselineInput): KubernetesObject[] {
  const { tenant, plan } = input;
  const common = { [labels.managedBy]: MANAGER, [labels.tenant]: tenant };
  const owned = { ...common, [labels.baseline]: 'true' };
  const meta = (name: string) => ({ name, namespace: tenant, labels: owned });
  const binding = (name: string, subject: { kind: 'User' | 'Group'; name: string }): KubernetesObject => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(name),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: input.access.clusterRole },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', ...subject }],
  });
  const fromPlatform =
    input.platformNamespaceLabel === undefined
      ? []
      : [
          {
            namespaceSelector: {
              matchLabels: { [input.platformNamespaceLabel.key]: input.platformNamespaceLabel.value },
            },
          },
        ];

  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: tenant,
        labels: {
          ...common,
          [labels.plan]: plan.name,
          [labels.legacyManagedBy]: 'k8s-provisioner',
          [labels.legacyProvisioned]: 'true',
        },
        annotations: {
          [annotations.ownerTenant]: tenant,
          [annotations.createdAt]: input.createdAt.toISOString(),
          ...(input.ownerEmail === undefined ? {} : { [annotations.owner]: input.ownerEmail }),
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: meta('tenant-quota'),
      spec: { hard: { ...plan.quota } },
    },
    {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: meta('tenant-defaults'),
      spec: {
        limits: [
          {
            type: 'Container',
            defaultRequest: { ...plan.containerDefaults.request },
            default: { ...plan.containerDefaults.limit },
          },
        ],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('tenant-isolation'),
      // Pods accept traffic only from their own namespace (and the platform's, when configured):
      // other tenants cannot reach them. Egress stays open (DNS, external services).
      spec: {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: {} }, ...fromPlatform] }],
      },
    },
    binding('tenant-user', { kind: 'User', name: input.access.user }),
    binding('tenant-group', { kind: 'Group', name: input.access.group }),
  ];
}
