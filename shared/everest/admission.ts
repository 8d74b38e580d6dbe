/**
 * Limits enforced by the apiserver itself, so that nothing depends on this product being up (fail safe):
 *
 * - one ValidatingAdmissionPolicy with its binding, cluster-wide: every DatabaseCluster created or changed in
 *   an Everest namespace is checked in CEL against that namespace's TenantResourcePolicy (the policy's
 *   parameter; paramRef without a namespace means "the namespace of the object"): allowed engine types and
 *   the cluster's own cpu and memory (per node times replicas) within the namespace's limits. A namespace
 *   without a policy gets no database clusters (parameterNotFoundAction: Deny), as the limits API answers
 *   "no limits configured for namespace";
 * - per namespace, a ResourceQuota on count/databaseclusters.everest.percona.com = maxClusters, which CEL
 *   cannot count.
 *
 * Totals across a namespace's clusters (cpu, memory) are checked by POST /enforce/cluster-create from the
 * live clusters; admission sees one object at a time.
 */
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import { DATABASE_CLUSTER_GROUP, DATABASE_CLUSTER_PLURAL } from './cluster-usage.ts';
import { ENGINE_TYPES } from './engines.ts';
import {
  TRP_GROUP,
  TRP_KIND,
  TRP_NAME,
  TRP_VERSION,
  type TenantLimitsSpec,
} from './tenant-resource-policy.ts';

export const EVEREST_NAMESPACE_LABEL = { key: 'app.kubernetes.io/managed-by', value: 'everest' } as const;
export const ADMISSION_POLICY_NAME = 'tenant-lifecycle.everest-limits';
export const CLUSTER_QUOTA_NAME = 'everest-database-clusters';
const MANAGED = { 'app.kubernetes.io/managed-by': 'tenant-lifecycle' };

const engineTypes = `{${Object.entries(ENGINE_TYPES)
  .map(([engine, type]) => `'${engine}': '${type}'`)
  .join(', ')}}`;

export function renderAdmissionPolicy(): KubernetesObject[] {
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: ADMISSION_POLICY_NAME, labels: MANAGED },
      spec: {
        failurePolicy: 'Fail',
        paramKind: { apiVersion: `${TRP_GROUP}/${TRP_VERSION}`, kind: TRP_KIND },
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [DATABASE_CLUSTER_GROUP],
              apiVersions: ['*'],
              operations: ['CREATE', 'UPDATE'],
              resources: [DATABASE_CLUSTER_PLURAL],
            },
          ],
        },
        variables: [
          { name: 'engine', expression: 'has(object.spec.engine) ? object.spec.engine : {}' },
          { name: 'type', expression: "has(variables.engine.type) ? string(variables.engine.type) : ''" },
          {
            name: 'replicas',
            expression: 'has(variables.engine.replicas) ? double(variables.engine.replicas) : 1.0',
          },
          {
            name: 'cpu',
            expression:
              'has(variables.engine.resources) && has(variables.engine.resources.cpu) ? quantity(string(variables.engine.resources.cpu)).asApproximateFloat() * variables.replicas : 0.0',
          },
          {
            name: 'memory',
            expression:
              'has(variables.engine.resources) && has(variables.engine.resources.memory) ? quantity(string(variables.engine.resources.memory)).asApproximateFloat() * variables.replicas : 0.0',
          },
        ],
        validations: [
          {
            expression: `params.spec.selectors.engines.size() == 0 || params.spec.selectors.engines.exists(e, ${engineTypes}[e] == variables.type)`,
            messageExpression: `"engine '" + variables.type + "' not allowed"`,
            reason: 'Forbidden',
          },
          {
            expression:
              'double(params.spec.limits.cpuCores) == 0.0 || variables.cpu <= double(params.spec.limits.cpuCores) + 0.000000001',
            message: 'cpu limit exceeded',
            reason: 'Forbidden',
          },
          {
            expression:
              'params.spec.limits.memoryBytes == 0 || variables.memory <= double(params.spec.limits.memoryBytes)',
            message: 'memory limit exceeded',
            reason: 'Forbidden',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: ADMISSION_POLICY_NAME, labels: MANAGED },
      spec: {
        policyName: ADMISSION_POLICY_NAME,
        validationActions: ['Deny'],
        paramRef: { name: TRP_NAME, parameterNotFoundAction: 'Deny' },
        matchResources: {
          namespaceSelector: {
            matchLabels: { [EVEREST_NAMESPACE_LABEL.key]: EVEREST_NAMESPACE_LABEL.value },
          },
        },
      },
    },
  ];
}

/** The namespace's cluster-count quota; undefined when maxClusters is 0 (unlimited: no quota). */
export function renderClusterQuota(namespace: string, spec: TenantLimitsSpec): KubernetesObject | undefined {
  if (spec.limits.maxClusters === 0) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: CLUSTER_QUOTA_NAME, namespace, labels: MANAGED },
    spec: {
      hard: {
        [`count/${DATABASE_CLUSTER_PLURAL}.${DATABASE_CLUSTER_GROUP}`]: String(spec.limits.maxClusters),
      },
    },
  };
}
