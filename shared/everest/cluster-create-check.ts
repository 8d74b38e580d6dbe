/**
 * The admission check for a new database cluster (POST /enforce/cluster-create, docs/compatibility.md):
 * everestctl-api's checks in its order with its messages, the first failure wins, and 0 means unlimited.
 * Usage is the namespace's live clusters (cluster-usage.ts), not hand-registered counters.
 */
import type { ClusterUsage } from './cluster-usage.ts';
import type { Engine, TenantLimitsSpec } from './tenant-resource-policy.ts';

export interface ClusterCreateRequest {
  readonly engine: Engine;
  readonly cpu_request_cores: number;
  readonly memory_request_bytes: number;
}

/** Undefined when the cluster fits; otherwise the reason callers know. */
export function clusterCreateRefusal(
  limits: TenantLimitsSpec | undefined,
  usage: ClusterUsage,
  request: ClusterCreateRequest,
): string | undefined {
  if (limits === undefined) return 'no limits configured for namespace';
  const { engines } = limits.selectors;
  if (engines.length > 0 && !engines.includes(request.engine))
    return `engine '${request.engine}' not allowed`;
  const { maxClusters, cpuCores, memoryBytes } = limits.limits;
  if (maxClusters > 0 && usage.clusters + 1 > maxClusters) return 'max clusters exceeded';
  if (cpuCores > 0 && usage.cpuCores + request.cpu_request_cores > cpuCores + 1e-9)
    return 'cpu limit exceeded';
  if (memoryBytes > 0 && usage.memoryBytes + request.memory_request_bytes > memoryBytes)
    return 'memory limit exceeded';
  return undefined;
}

/** The check before a database user is registered. */
export function dbUserCreateRefusal(
  limits: TenantLimitsSpec | undefined,
  dbUsers: number,
): string | undefined {
  if (limits === undefined) return 'no limits configured for namespace';
  if (limits.limits.maxDbUsers > 0 && dbUsers + 1 > limits.limits.maxDbUsers) return 'max db users exceeded';
  return undefined;
}
