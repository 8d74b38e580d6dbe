/**
 * The ClusterRole tenants are bound to in their namespace (the project ships it): the rights of the
 * built-in "edit" role over workloads, but quotas, limit ranges, network policies and RBAC stay read-only,
 * so a tenant cannot lift its own limits, open its namespace to others or grant itself more.
 *
 * Left out on purpose, because each reaches beyond the namespace:
 * - writes on Endpoints and EndpointSlices: a hand-made endpoint sends a Service's traffic to any address,
 *   other namespaces' pods and the nodes included (CVE-2021-25740); the endpoint controllers keep them;
 * - daemonsets: one pod on every node, next to every other tenant's pods;
 * - pods/ephemeralcontainers, pods/proxy, services/proxy, nodes/*: the apiserver as a proxy or a debugger;
 * - serviceaccounts/token: tokens are for the platform to mint (a tenant's service accounts have no rights
 *   it lacks anyway);
 * - roles, rolebindings (read-only) and bind/escalate: no self-granting.
 * What stays reaches only the namespace: pods/exec, attach and port-forward into the tenant's own pods
 * (Pod Security Admission keeps those pods unprivileged); Services, whose externalIPs and node ports the
 * shipped ValidatingAdmissionPolicy limits (knative/base/tenant-admission.yaml).
 */
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import { labels, MANAGER } from './labels.ts';

export const TENANT_CLUSTER_ROLE = 'tenant-lifecycle:tenant-edit';

const write = ['create', 'update', 'patch', 'delete', 'deletecollection'];
const read = ['get', 'list', 'watch'];
const all = [...read, ...write];

export function renderTenantClusterRole(name = TENANT_CLUSTER_ROLE): KubernetesObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name, labels: { [labels.managedBy]: MANAGER } },
    rules: [
      {
        apiGroups: [''],
        resources: [
          'pods',
          'pods/log',
          'pods/exec',
          'pods/attach',
          'pods/portforward',
          'services',
          'configmaps',
          'secrets',
          'persistentvolumeclaims',
          'serviceaccounts',
          'replicationcontrollers',
        ],
        verbs: all,
      },
      {
        apiGroups: ['apps'],
        resources: [
          'deployments',
          'deployments/scale',
          'statefulsets',
          'statefulsets/scale',
          'replicasets',
          'replicasets/scale',
        ],
        verbs: all,
      },
      { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: all },
      { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: all },
      { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: all },
      { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: all },
      // What the platform set: visible, not changeable.
      { apiGroups: [''], resources: ['resourcequotas', 'limitranges', 'events', 'endpoints'], verbs: read },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: read },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: read },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings', 'roles'], verbs: read },
    ],
  };
}
