/**
 * reset's adapters, built once per instance: the platform store (tenant locks), and the apiserver as the
 * ports of the reset sweep (raw requests for collection deletes and metadata lists, discovery, the typed
 * cluster adapter for namespaces and starter objects).
 */
import { KubernetesCluster } from '../adapters/kubernetes/cluster.ts';
import { discoverResources } from '../adapters/kubernetes/discovery.ts';
import { loadKubeConfig, type KubeconfigSource } from '../adapters/kubernetes/kubeconfig.ts';
import { RawKubernetes } from '../adapters/kubernetes/raw.ts';
import type { Logger } from '../platform/logger.ts';
import type { PlatformStore } from '../store/store.ts';
import type { ResetSweepPorts } from '../tenancy/reset-sweep.ts';
import { connectPlatformStore, type SystemsSizing } from './platform-store.ts';

export function connectResetSystems(
  settings: { readonly databaseUrl: string; readonly kubeconfig: KubeconfigSource } & SystemsSizing,
  log: Logger,
): { readonly store: PlatformStore; readonly ports: ResetSweepPorts; close(): Promise<void> } {
  const connection = connectPlatformStore(settings, log, 'reset', { tenantLocks: true });
  const kc = loadKubeConfig(settings.kubeconfig);
  const raw = new RawKubernetes(kc, { timeoutMs: settings.callTimeouts.kubernetesMs });
  const cluster = new KubernetesCluster(kc, { timeoutMs: settings.callTimeouts.kubernetesMs });
  return {
    store: connection.store,
    ports: {
      raw,
      lister: raw,
      discover: () => discoverResources(raw),
      namespacePages: (selector) => cluster.namespacePages(selector),
      readNamespace: (name) => cluster.readNamespace(name),
      create: (object) => cluster.create(object),
    },
    close: () => connection.close(),
  };
}
