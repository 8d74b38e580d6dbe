/**
 * The Kubernetes side of Everest limits: a namespace's TenantResourcePolicy and live DatabaseClusters, and
 * applying the in-apiserver enforcement (admission.ts) for one namespace or for every namespace that has a
 * policy. Server-side apply makes each write idempotent: applying twice changes nothing.
 */
import { isNotFound, PlatformError } from '../platform/errors.ts';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import type { RawKubernetes } from '../adapters/kubernetes/raw.ts';
import type { ObjectRef, ResourceType } from '../adapters/kubernetes/resource-path.ts';
import {
  ADMISSION_POLICY_NAME,
  CLUSTER_QUOTA_NAME,
  renderAdmissionPolicy,
  renderClusterQuota,
} from './admission.ts';
import {
  DATABASE_CLUSTER_GROUP,
  DATABASE_CLUSTER_PLURAL,
  DATABASE_CLUSTER_VERSION,
  type DatabaseClusterLike,
} from './cluster-usage.ts';
import {
  TENANT_RESOURCE_POLICIES,
  tenantLimitsSpec,
  tenantResourcePolicyRef,
  type TenantLimitsSpec,
} from './tenant-resource-policy.ts';

/** What limits and their enforcement need of the apiserver: objects read, listed, applied and deleted. */
export type EverestApi = Pick<RawKubernetes, 'get' | 'list' | 'apply' | 'delete'>;

function parseSpec(namespace: string, spec: unknown): TenantLimitsSpec {
  const parsed = tenantLimitsSpec.safeParse(spec);
  if (!parsed.success) {
    throw new PlatformError({
      reason: 'conflict',
      message: `the TenantResourcePolicy of ${namespace} is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    });
  }
  return parsed.data;
}

/** The namespace's limits; undefined when it has no policy. */
export async function readLimits(api: EverestApi, namespace: string): Promise<TenantLimitsSpec | undefined> {
  const policy = await api.get<{ spec?: unknown }>(
    tenantResourcePolicyRef(namespace),
    `read limits of ${namespace}`,
  );
  return policy === undefined ? undefined : parseSpec(namespace, policy.spec);
}

const DATABASE_CLUSTERS: ResourceType = {
  group: DATABASE_CLUSTER_GROUP,
  version: DATABASE_CLUSTER_VERSION,
  resource: DATABASE_CLUSTER_PLURAL,
};

/** The namespace's DatabaseClusters (none when Everest's CRD is not installed). */
export async function liveClusters(api: EverestApi, namespace: string): Promise<DatabaseClusterLike[]> {
  try {
    const list = await api.list<DatabaseClusterLike>(
      { ...DATABASE_CLUSTERS, namespace },
      `list database clusters in ${namespace}`,
    );
    return list.items;
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** Every namespace's policy, in pages. */
export async function allPolicies(api: EverestApi): Promise<{ namespace: string; spec: TenantLimitsSpec }[]> {
  const found: { namespace: string; spec: TenantLimitsSpec }[] = [];
  let token: string | undefined;
  do {
    const page = await api.list<{ metadata?: { namespace?: string }; spec?: unknown }>(
      TENANT_RESOURCE_POLICIES,
      'list tenant resource policies',
      { limit: 500, continue: token },
    );
    for (const item of page.items) {
      const namespace = item.metadata?.namespace ?? '';
      found.push({ namespace, spec: parseSpec(namespace, item.spec) });
    }
    token = page.continue;
  } while (token !== undefined);
  return found;
}

const admissionRef = (kind: string): ObjectRef => ({
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  resource:
    kind === 'ValidatingAdmissionPolicy'
      ? 'validatingadmissionpolicies'
      : 'validatingadmissionpolicybindings',
  name: ADMISSION_POLICY_NAME,
});
const quotaRef = (namespace: string): ObjectRef => ({
  group: '',
  version: 'v1',
  resource: 'resourcequotas',
  namespace,
  name: CLUSTER_QUOTA_NAME,
});

export interface EnforcementReport {
  readonly dryRun: boolean;
  readonly policy: 'applied' | 'would_apply';
  readonly namespaces: readonly {
    readonly namespace: string;
    readonly quota: 'applied' | 'removed' | 'none' | 'would_apply' | 'would_remove';
    readonly maxClusters: number;
  }[];
  readonly failures: readonly { readonly namespace: string; readonly error: string }[];
}

/**
 * Applies the admission policy and binding, then the cluster-count quota of `namespace` (or of every
 * namespace with a policy): maxClusters 0 (unlimited) removes the quota.
 */
export async function applyEnforcement(
  api: EverestApi,
  request: { readonly namespace?: string | undefined; readonly dryRun?: boolean | undefined },
): Promise<EnforcementReport> {
  const dryRun = request.dryRun === true;
  if (!dryRun) {
    for (const object of renderAdmissionPolicy())
      await api.apply(admissionRef(object.kind), object, `apply ${object.kind} ${ADMISSION_POLICY_NAME}`);
  }
  let policies: { namespace: string; spec: TenantLimitsSpec }[];
  if (request.namespace === undefined) policies = await allPolicies(api);
  else {
    const spec = await readLimits(api, request.namespace);
    if (spec === undefined)
      throw new PlatformError({
        reason: 'not_found',
        message: `no limits configured for namespace ${request.namespace}`,
      });
    policies = [{ namespace: request.namespace, spec }];
  }
  const namespaces: EnforcementReport['namespaces'][number][] = [];
  const failures: { namespace: string; error: string }[] = [];
  for (const { namespace, spec } of policies) {
    const quota: KubernetesObject | undefined = renderClusterQuota(namespace, spec);
    try {
      if (quota !== undefined) {
        if (!dryRun) await api.apply(quotaRef(namespace), quota, `apply the cluster quota of ${namespace}`);
        namespaces.push({
          namespace,
          quota: dryRun ? 'would_apply' : 'applied',
          maxClusters: spec.limits.maxClusters,
        });
      } else {
        const removed =
          !dryRun &&
          (await api.delete(quotaRef(namespace), `remove the cluster quota of ${namespace}`)) === 'deleted';
        namespaces.push({
          namespace,
          quota: dryRun ? 'would_remove' : removed ? 'removed' : 'none',
          maxClusters: 0,
        });
      }
    } catch (error) {
      failures.push({ namespace, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { dryRun, policy: dryRun ? 'would_apply' : 'applied', namespaces, failures };
}
