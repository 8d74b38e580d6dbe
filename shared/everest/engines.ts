/**
 * The engine names of the limits API (postgresql, mysql, mongodb, xtradb_cluster; docs/compatibility.md) and the engine types
 * of Everest's DatabaseCluster (spec.engine.type: postgresql, pxc, psmdb). mysql and xtradb_cluster both
 * mean Percona XtraDB Cluster, Everest's only MySQL engine.
 */
import type { Engine } from './tenant-resource-policy.ts';

export const ENGINE_TYPES: Readonly<Record<Engine, string>> = {
  postgresql: 'postgresql',
  mysql: 'pxc',
  xtradb_cluster: 'pxc',
  mongodb: 'psmdb',
};

/** Whether `engine` is allowed by the policy's engine list (empty: every engine). */
export function engineAllowed(allowed: readonly Engine[], engineType: string): boolean {
  return allowed.length === 0 || allowed.some((e) => ENGINE_TYPES[e] === engineType);
}
