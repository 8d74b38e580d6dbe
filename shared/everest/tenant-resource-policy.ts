/**
 * TenantResourcePolicy (everest.local/v1, one per namespace, named resource-policy): the source of truth of
 * a tenant namespace's Everest limits, in the shape kept for compatibility (docs/compatibility.md). PUT
 * /limits writes it, the enforce function and the apiserver's admission policy read it. 0 means unlimited;
 * no engines means all.
 */
import { z } from 'zod';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import type { ObjectRef, ResourceType } from '../adapters/kubernetes/resource-path.ts';

/** The CloudEvent bootstrap sends when it wrote limits; enforce applies them to the apiserver on it. */
export const LIMITS_CHANGED_EVENT = 'dev.tenantlifecycle.everest.limits.changed';

export const TRP_GROUP = 'everest.local';
export const TRP_VERSION = 'v1';
export const TRP_KIND = 'TenantResourcePolicy';
export const TRP_PLURAL = 'tenantresourcepolicies';
/** The one policy object of a namespace. */
export const TRP_NAME = 'resource-policy';

/** The engines of the limits API; Everest's DatabaseCluster names them differently (see engines.ts). */
export const ENGINES = ['postgresql', 'mysql', 'mongodb', 'xtradb_cluster'] as const;
export type Engine = (typeof ENGINES)[number];

export const tenantLimitsSpec = z
  .object({
    limits: z
      .object({
        cpuCores: z.number().min(0),
        memoryBytes: z.number().int().min(0),
        maxClusters: z.number().int().min(0),
        maxDbUsers: z.number().int().min(0),
      })
      .strict(),
    selectors: z.object({ engines: z.array(z.enum(ENGINES)) }).strict(),
  })
  .strict();

export type TenantLimitsSpec = z.infer<typeof tenantLimitsSpec>;

/** The limits row of the limits API (PUT /limits body, GET /limits answer; docs/compatibility.md). */
export interface LimitsRow {
  readonly namespace: string;
  readonly max_clusters: number;
  readonly allowed_engines: readonly Engine[];
  readonly cpu_limit_cores: number;
  readonly memory_limit_bytes: number;
  readonly max_db_users: number;
}

export function specFromLimitsRow(limits: LimitsRow): TenantLimitsSpec {
  return {
    limits: {
      cpuCores: limits.cpu_limit_cores,
      memoryBytes: limits.memory_limit_bytes,
      maxClusters: limits.max_clusters,
      maxDbUsers: limits.max_db_users,
    },
    selectors: { engines: [...limits.allowed_engines] },
  };
}

export function limitsRowFromSpec(namespace: string, spec: TenantLimitsSpec): LimitsRow {
  return {
    namespace,
    max_clusters: spec.limits.maxClusters,
    allowed_engines: spec.selectors.engines,
    cpu_limit_cores: spec.limits.cpuCores,
    memory_limit_bytes: spec.limits.memoryBytes,
    max_db_users: spec.limits.maxDbUsers,
  };
}

export function renderTenantResourcePolicy(namespace: string, spec: TenantLimitsSpec): KubernetesObject {
  return {
    apiVersion: `${TRP_GROUP}/${TRP_VERSION}`,
    kind: TRP_KIND,
    metadata: { name: TRP_NAME, namespace },
    spec,
  };
}

/** The policies' resource type (listed across all namespaces). */
export const TENANT_RESOURCE_POLICIES: ResourceType = {
  group: TRP_GROUP,
  version: TRP_VERSION,
  resource: TRP_PLURAL,
};

/** The one policy object of a namespace. */
export const tenantResourcePolicyRef = (namespace: string): ObjectRef => ({
  ...TENANT_RESOURCE_POLICIES,
  namespace,
  name: TRP_NAME,
});

/** The limits a bootstrapped tenant namespace gets when none are given and it has none. */
export const DEFAULT_LIMITS: Omit<LimitsRow, 'namespace'> = {
  max_clusters: 3,
  allowed_engines: ['postgresql', 'mysql'],
  cpu_limit_cores: 4,
  memory_limit_bytes: 17_179_869_184,
  max_db_users: 20,
};
