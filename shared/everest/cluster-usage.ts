/**
 * What a namespace's live DatabaseClusters (everest.percona.com/v1alpha1) take: their number and the engine
 * resources they ask for (per-node resources times replicas), read from the objects themselves so that
 * the figures cannot drift from reality as hand-registered counters can. Clusters being
 * deleted no longer count.
 */
import { parseQuantity } from './quantity.ts';

export const DATABASE_CLUSTER_GROUP = 'everest.percona.com';
export const DATABASE_CLUSTER_VERSION = 'v1alpha1';
export const DATABASE_CLUSTER_PLURAL = 'databaseclusters';

export interface DatabaseClusterLike {
  readonly metadata?: { readonly name?: string; readonly deletionTimestamp?: unknown };
  readonly spec?: {
    readonly engine?: {
      readonly type?: string;
      readonly replicas?: number;
      readonly resources?: { readonly cpu?: string | number; readonly memory?: string | number };
      readonly storage?: { readonly size?: string | number };
    };
  };
}

export interface ClusterUsage {
  readonly clusters: number;
  readonly cpuCores: number;
  readonly memoryBytes: number;
  readonly storageBytes: number;
  readonly byEngine: Readonly<Record<string, number>>;
}

export const noUsage: ClusterUsage = {
  clusters: 0,
  cpuCores: 0,
  memoryBytes: 0,
  storageBytes: 0,
  byEngine: {},
};

/** The resources one cluster's engine asks for in all: per node times replicas (default 1). */
export function clusterDemand(cluster: DatabaseClusterLike): {
  cpuCores: number;
  memoryBytes: number;
  storageBytes: number;
} {
  const engine = cluster.spec?.engine;
  const replicas = engine?.replicas ?? 1;
  return {
    cpuCores: (parseQuantity(engine?.resources?.cpu) ?? 0) * replicas,
    memoryBytes: (parseQuantity(engine?.resources?.memory) ?? 0) * replicas,
    storageBytes: (parseQuantity(engine?.storage?.size) ?? 0) * replicas,
  };
}

export function clusterUsage(clusters: readonly DatabaseClusterLike[]): ClusterUsage {
  const byEngine: Record<string, number> = {};
  let cpuCores = 0;
  let memoryBytes = 0;
  let storageBytes = 0;
  let count = 0;
  for (const cluster of clusters) {
    if (cluster.metadata?.deletionTimestamp !== undefined) continue;
    const demand = clusterDemand(cluster);
    count++;
    cpuCores += demand.cpuCores;
    memoryBytes += demand.memoryBytes;
    storageBytes += demand.storageBytes;
    const type = cluster.spec?.engine?.type ?? 'unknown';
    byEngine[type] = (byEngine[type] ?? 0) + 1;
  }
  return { clusters: count, cpuCores, memoryBytes, storageBytes, byEngine };
}
