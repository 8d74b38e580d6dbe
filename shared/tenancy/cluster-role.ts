/**
 * The ClusterRole tenants are bound to in their namespace (the project ships it): the rights of the
 * built-in "edit" role over workloads, but quotas, limit ranges, network policies and RBAC stay read-only,
 * so a tenant cannot lift its own limits, open its namespace to others or grant itself more.
 */
import type { KubernetesObject } from './baseline.ts';
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
          'endpoints',
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
          'daemonsets',
        ],
        verbs: all,
      },
      { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: all },
      { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: all },
      { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: all },
      { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: all },
      // What the platform set: visible, not changeable.
      { apiGroups: [''], resources: ['resourcequotas', 'limitranges', 'events'], verbs: read },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: read },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings', 'roles'], verbs: read },
    ],
  };
}
