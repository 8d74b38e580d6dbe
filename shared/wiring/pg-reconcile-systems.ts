/**
 * pg-reconcile's adapters, built once per instance: the platform store (audit), the pool of the managed
 * PostgreSQL server, and the desired state's source (the ConfigMap and Secrets, through the typed client).
 */
import type pg from 'pg';
import { KubernetesConfigObjects } from '../adapters/kubernetes/config-objects.ts';
import { loadKubeConfig, type KubeconfigSource } from '../adapters/kubernetes/kubeconfig.ts';
import { createPool, poolTimeouts } from '../adapters/postgres/pool.ts';
import { ConfigMapDesiredSource } from '../pg-roles/source.ts';
import type { Logger } from '../platform/logger.ts';
import type { PlatformStore } from '../store/store.ts';
import { connectPlatformStore, type SystemsSizing } from './platform-store.ts';

export interface PgReconcileSystems {
  readonly store: PlatformStore;
  /** The managed server. */
  readonly target: pg.Pool;
  readonly source: ConfigMapDesiredSource;
  close(): Promise<void>;
}

export function connectPgReconcileSystems(
  settings: {
    readonly databaseUrl: string;
    readonly targetUrl: string;
    /** Connections to the managed server. */
    readonly poolMax: number;
    readonly kubeconfig: KubeconfigSource;
    readonly namespace: string;
    readonly configMap: string;
  } & SystemsSizing,
  log: Logger,
): PgReconcileSystems {
  const connection = connectPlatformStore(settings, log, 'pg-reconcile');
  const target = createPool({
    connectionString: settings.targetUrl,
    log,
    applicationName: 'pg-reconcile',
    max: settings.poolMax,
    ...poolTimeouts(settings.callTimeouts),
  });
  const configObjects = new KubernetesConfigObjects(loadKubeConfig(settings.kubeconfig), {
    timeoutMs: settings.callTimeouts.kubernetesMs,
  });
  return {
    store: connection.store,
    target,
    source: new ConfigMapDesiredSource(configObjects, {
      namespace: settings.namespace,
      configMap: settings.configMap,
    }),
    close: async () => {
      await target.end();
      await connection.close();
    },
  };
}
