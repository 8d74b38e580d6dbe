/**
 * The adapters of the Everest functions (bootstrap, enforce), built once per instance: the platform store,
 * the apiserver (RawKubernetes, for Everest's objects and the usage lists alike) and the usage counters,
 * handed to the Everest operations as the ports of shared/everest/ports.ts.
 */
import { loadKubeConfig, type KubeconfigSource } from '../adapters/kubernetes/kubeconfig.ts';
import { KubernetesNamespaceUsage } from '../adapters/kubernetes/namespace-usage.ts';
import { RawKubernetes } from '../adapters/kubernetes/raw.ts';
import { EverestAccounts } from '../everest/accounts-secret.ts';
import { EverestNamespaces } from '../everest/db-namespaces.ts';
import { applyEnforcement, liveClusters } from '../everest/enforcement.ts';
import type { BootstrapPorts, EnforcePorts } from '../everest/ports.ts';
import { EverestRbac } from '../everest/rbac-configmap.ts';
import { EverestLimits } from '../everest/tenant-limits.ts';
import { UsageCounterStore } from '../everest/usage-counters.ts';
import type { Logger } from '../platform/logger.ts';
import type { PlatformStore } from '../store/store.ts';
import { connectPlatformStore, type SystemsSizing } from './platform-store.ts';

export interface EverestSettings extends SystemsSizing {
  readonly databaseUrl: string;
  readonly kubeconfig: KubeconfigSource;
}

interface Connected<P> {
  readonly store: PlatformStore;
  readonly ports: P;
  close(): Promise<void>;
}

/** The apiserver with the function's credentials, each call bounded by KUBERNETES_TIMEOUT_SECONDS. */
const apiserver = (settings: EverestSettings): RawKubernetes =>
  new RawKubernetes(loadKubeConfig(settings.kubeconfig), { timeoutMs: settings.callTimeouts.kubernetesMs });

/** bootstrap's systems; the caller adds the reserved names, the clock and the limits-changed event sink. */
export function connectBootstrapSystems(
  settings: EverestSettings,
  log: Logger,
  options: { readonly idempotencySecret?: string | undefined } = {},
): Connected<Omit<BootstrapPorts, 'reserved' | 'now' | 'limitsEvents'>> {
  const connection = connectPlatformStore(settings, log, 'bootstrap', {
    idempotencySecret: options.idempotencySecret,
    tenantLocks: true,
  });
  const { store } = connection;
  const api = apiserver(settings);
  return {
    store,
    ports: {
      accounts: new EverestAccounts(api),
      rbac: new EverestRbac(api),
      namespaces: new EverestNamespaces(api),
      limits: new EverestLimits(api),
      store,
      counters: new UsageCounterStore(store),
    },
    close: () => connection.close(),
  };
}

/** enforce's systems; the caller adds the reserved names. */
export function connectEnforceSystems(
  settings: EverestSettings,
  log: Logger,
): Connected<Omit<EnforcePorts, 'reserved'>> {
  const connection = connectPlatformStore(settings, log, 'enforce');
  const { store } = connection;
  const api = apiserver(settings);
  return {
    store,
    ports: {
      limits: new EverestLimits(api),
      clusters: { list: (namespace) => liveClusters(api, namespace) },
      admission: { apply: (request) => applyEnforcement(api, request) },
      usage: new KubernetesNamespaceUsage(api),
      counters: new UsageCounterStore(store),
      store,
    },
    close: () => connection.close(),
  };
}
