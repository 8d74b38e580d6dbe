/** The adapters of the tenant systems, built once per function instance from SystemsSettings. */
import { GrafanaAdmin } from '../adapters/grafana/client.ts';
import { KeycloakDirectory } from '../adapters/keycloak/directory.ts';
import { KubernetesCluster } from '../adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../adapters/kubernetes/kubeconfig.ts';
import { createPool, poolSizeFor, poolTimeouts } from '../adapters/postgres/pool.ts';
import type { PlatformConfig } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import { PlatformStore } from '../store/store.ts';
import type { SystemsSettings } from './tenant-systems-config.ts';

export interface TenantSystems {
  readonly store: PlatformStore;
  readonly identity: KeycloakDirectory;
  readonly grafana: GrafanaAdmin;
  readonly cluster: KubernetesCluster;
  close(): Promise<void>;
}

/**
 * The platform settings the systems are sized by: pool size, how long a tenant lock is waited for, how
 * long its lease lasts, and the bound of each call to each system.
 */
export type SystemsSizing = Pick<
  PlatformConfig,
  'maxConcurrentOperations' | 'requestTimeoutMs' | 'lockLeaseMs' | 'callTimeouts'
>;

export function connectTenantSystems(
  settings: SystemsSettings & SystemsSizing,
  log: Logger,
  functionName: string,
  /** Page size of Keycloak and Grafana lists (defaults: the adapters'); the key of idempotency fingerprints. */
  options: { readonly pageSize?: number; readonly idempotencySecret?: string } = {},
): TenantSystems {
  const pool = createPool({
    connectionString: settings.databaseUrl,
    max: poolSizeFor(settings.maxConcurrentOperations),
    log,
    applicationName: functionName,
    ...poolTimeouts(settings.callTimeouts),
  });
  const paging = options.pageSize === undefined ? {} : { pageSize: options.pageSize };
  const timeouts = settings.callTimeouts;
  const grafana = new GrafanaAdmin({ ...settings.grafana, ...paging, timeoutMs: timeouts.grafanaMs });
  return {
    store: new PlatformStore(pool, undefined, {
      idempotencySecret: options.idempotencySecret,
      // Half the request's time to wait for a tenant's lock, the other half for its own work.
      lockWaitMs: settings.requestTimeoutMs / 2,
      lockLeaseMs: settings.lockLeaseMs,
    }),
    identity: new KeycloakDirectory({
      baseUrl: settings.keycloak.baseUrl,
      realm: settings.keycloak.realm,
      authRealm: settings.keycloak.authRealm,
      credentials: {
        grant: 'client_credentials',
        clientId: settings.keycloak.clientId,
        clientSecret: settings.keycloak.clientSecret,
      },
      ...paging,
      timeoutMs: timeouts.keycloakMs,
    }),
    grafana,
    cluster: new KubernetesCluster(loadKubeConfig(settings.kubeconfig), { timeoutMs: timeouts.kubernetesMs }),
    close: async () => {
      await grafana.close();
      await pool.end();
    },
  };
}
