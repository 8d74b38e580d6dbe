/**
 * A tenant namespace's usage as one JSON document: what its running pods
 * request and are limited to, what its database clusters ask for, the storage its PVCs claim, and what its
 * ResourceQuotas count as used. Pure over the four lists, so the shape is unit-tested without a cluster.
 */
import { clusterUsage, type DatabaseClusterLike } from './cluster-usage.ts';
import { parseQuantity } from './quantity.ts';

type Quantities = Readonly<Record<string, string | number | undefined>>;

export interface PodLike {
  readonly status?: { readonly phase?: string };
  readonly spec?: {
    readonly containers?: readonly {
      readonly resources?: { readonly requests?: Quantities; readonly limits?: Quantities };
    }[];
  };
}
export interface PvcLike {
  readonly spec?: { readonly resources?: { readonly requests?: Quantities } };
  readonly status?: { readonly capacity?: Quantities };
}
export interface QuotaLike {
  readonly metadata?: { readonly name?: string };
  readonly status?: {
    readonly hard?: Readonly<Record<string, string>>;
    readonly used?: Readonly<Record<string, string>>;
  };
}

const sum = (values: readonly (number | undefined)[]): number =>
  values.reduce<number>((a, v) => a + (v ?? 0), 0);

export function usageReport(
  namespace: string,
  lists: {
    readonly pods: readonly PodLike[];
    readonly databaseClusters: readonly DatabaseClusterLike[];
    readonly pvcs: readonly PvcLike[];
    readonly quotas: readonly QuotaLike[];
  },
) {
  // Finished pods hold no resources any more.
  const running = lists.pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  const containers = running.flatMap((p) => p.spec?.containers ?? []);
  const total = (kind: 'requests' | 'limits', resource: string) =>
    sum(containers.map((c) => parseQuantity(c.resources?.[kind]?.[resource])));
  const clusters = clusterUsage(lists.databaseClusters);
  return {
    namespace,
    pods: {
      count: running.length,
      requests: { cpu_cores: total('requests', 'cpu'), memory_bytes: total('requests', 'memory') },
      limits: { cpu_cores: total('limits', 'cpu'), memory_bytes: total('limits', 'memory') },
    },
    database_clusters: {
      count: clusters.clusters,
      cpu_cores: clusters.cpuCores,
      memory_bytes: clusters.memoryBytes,
      storage_bytes: clusters.storageBytes,
      by_engine: clusters.byEngine,
    },
    storage: {
      pvcs: lists.pvcs.length,
      requested_bytes: sum(lists.pvcs.map((p) => parseQuantity(p.spec?.resources?.requests?.storage))),
      capacity_bytes: sum(lists.pvcs.map((p) => parseQuantity(p.status?.capacity?.storage))),
    },
    quotas: lists.quotas.map((q) => ({
      name: q.metadata?.name ?? '',
      hard: q.status?.hard ?? {},
      used: q.status?.used ?? {},
    })),
  };
}

export type UsageReport = ReturnType<typeof usageReport>;
