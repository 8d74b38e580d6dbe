/**
 * The tenant baseline: the Kubernetes objects that make a namespace a tenant, rendered as plain objects
 * (nothing is applied here). Apply order is the array order. Rendering is pure, so dry-run shows exactly what
 * would be created and unit tests need no cluster.
 */
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import { annotations, labels, MANAGER } from './labels.ts';

export interface ResourcePair {
  readonly cpu: string;
  readonly memory: string;
}

/** The Pod Security Standards level a plan may enforce; `privileged` is never one of them. */
export type PodSecurityLevel = 'restricted' | 'baseline';

/** A named bundle of limits, pod security and starter manifests a tenant is provisioned with. */
export interface TenantPlan {
  readonly name: string;
  /** ResourceQuota `spec.hard`. */
  readonly quota: Readonly<Record<string, string>>;
  /** LimitRange defaults, so that pods without resources still admit under the quota. */
  readonly containerDefaults: { readonly request: ResourcePair; readonly limit: ResourcePair };
  /** Pod Security Admission level enforced in the namespace; `restricted` when absent. */
  readonly podSecurity?: PodSecurityLevel;
  /**
   * NodePort Services (and LoadBalancer Services) the shipped ValidatingAdmissionPolicy lets through;
   * false when absent. The quota's `services.nodeports` / `services.loadbalancers` still cap them.
   */
  readonly allowNodePorts?: boolean;
  readonly allowLoadBalancers?: boolean;
  /** Starter objects created in the namespace (templates, see starters.ts); none by default. */
  readonly manifests?: readonly Readonly<Record<string, unknown>>[];
}

/**
 * The quota every plan gets, a configured plan's own keys taking precedence: the compute quota existing
 * tenants have (docs/compatibility.md), no node ports or load balancers (they open the nodes or a cloud
 * balancer to the world), a few volumes and object counts that bound what a tenant can make the apiserver
 * and etcd store.
 */
export const defaultQuota: Readonly<Record<string, string>> = {
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
};

/** The default quota, with container defaults that fit under it. */
export const defaultPlan: TenantPlan = {
  name: 'default',
  quota: defaultQuota,
  containerDefaults: { request: { cpu: '10m', memory: '64Mi' }, limit: { cpu: '100m', memory: '256Mi' } },
  podSecurity: 'restricted',
  allowNodePorts: false,
  allowLoadBalancers: false,
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
  /** Where the tenant's pods may not send traffic; the built-in defaults when absent. */
  readonly egress?: TenantEgress;
}

/** What tenant egress may not reach (see the tenant-egress NetworkPolicy below). */
export interface TenantEgress {
  /** Namespaces by name: the functions', Kubernetes', Knative's, Everest's, the platform add-ons'. */
  readonly deniedNamespaces: readonly string[];
  /** Address ranges cut out of "anywhere": the pod, service and node ranges, cloud metadata. */
  readonly deniedCidrs: readonly string[];
}

/**
 * Built-in egress limits. The namespaces are the fixed names of what the platform runs (a
 * NetworkPolicy selects namespaces by exact name, not by pattern); the functions' namespace is added from
 * FUNCTIONS_NAMESPACE. The ranges are the private, shared and link-local ones, where pod, service and node
 * addresses live in nearly every cluster, and 169.254.169.254, the cloud metadata service.
 */
export const defaultDeniedNamespaces: readonly string[] = [
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
];
export const defaultDeniedCidrs: readonly string[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
  'fc00::/7',
  'fe80::/10',
];
export const defaultEgress: TenantEgress = {
  deniedNamespaces: defaultDeniedNamespaces,
  deniedCidrs: defaultDeniedCidrs,
};

/** The Pod Security Admission labels of a tenant namespace: enforced, warned and audited at one level. */
export function podSecurityLabels(level: PodSecurityLevel): Record<string, string> {
  const labelsOf: Record<string, string> = {};
  for (const mode of ['enforce', 'warn', 'audit']) {
    labelsOf[`pod-security.kubernetes.io/${mode}`] = level;
    labelsOf[`pod-security.kubernetes.io/${mode}-version`] = 'latest';
  }
  return labelsOf;
}

/**
 * Egress of a tenant's pods: DNS, its own namespace, other namespaces except the denied ones, and
 * addresses outside the cluster except the denied ranges. NetworkPolicy rules add up (a packet passes if
 * any rule allows it), so each rule must stay narrow:
 * - DNS only to kube-system pods labelled k8s-app=kube-dns (CoreDNS keeps that label), on port 53 and on the
 *   ports named `dns` (UDP) and `dns-tcp` (TCP). A policy's port is the pod's port, after the Service's
 *   translation: CoreDNS pods that do not run as root listen elsewhere than 53 (1053 on the test node,
 *   5353 on OpenShift) and name their ports so, as the upstream and kubeadm manifests do.
 * - Pods of other namespaces are judged by namespace name; other tenants' ingress isolation still refuses.
 * - ipBlock is meant for addresses outside the cluster: whether a CNI also matches pod addresses against it
 *   differs (Calico does, Cilium does not), so the pod, service and node ranges must be in the except list,
 *   or a pod of a denied namespace is reachable through "anywhere". Service addresses are translated to pod
 *   addresses before most CNIs judge the packet; the service range is excepted as well for those that do not.
 *   With the node range excepted, host-network pods and the kubelet are out of reach, and so is the
 *   apiserver from inside a pod (tenants use it from outside, with their OIDC token).
 * - Enforcement needs a CNI that implements egress policies; the apiserver stores them either way.
 */
function egressPolicySpec(egress: TenantEgress): Record<string, unknown> {
  const v6 = egress.deniedCidrs.filter((cidr) => cidr.includes(':'));
  const v4 = egress.deniedCidrs.filter((cidr) => !cidr.includes(':'));
  return {
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
                  values: [...egress.deniedNamespaces],
                },
              ],
            },
          },
        ],
      },
      {
        to: [
          { ipBlock: { cidr: '0.0.0.0/0', ...(v4.length === 0 ? {} : { except: v4 }) } },
          { ipBlock: { cidr: '::/0', ...(v6.length === 0 ? {} : { except: v6 }) } },
        ],
      },
    ],
  };
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
          ...podSecurityLabels(plan.podSecurity ?? 'restricted'),
          [labels.allowNodePorts]: String(plan.allowNodePorts === true),
          [labels.allowLoadBalancers]: String(plan.allowLoadBalancers === true),
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
      // other tenants cannot reach them.
      spec: {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: {} }, ...fromPlatform] }],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('tenant-egress'),
      spec: egressPolicySpec(input.egress ?? defaultEgress),
    },
    binding('tenant-user', { kind: 'User', name: input.access.user }),
    binding('tenant-group', { kind: 'Group', name: input.access.group }),
  ];
}
