/** The adapters of the tenant systems, built once per function instance from SystemsSettings. */
import { GrafanaAdmin } from '../adapters/grafana/client.ts';
import { KeycloakDirectory } from '../adapters/keycloak/directory.ts';
import { KubernetesCluster } from '../adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../adapters/kubernetes/kubeconfig.ts';
import type { Logger } from '../platform/logger.ts';
import type { PlatformStore } from '../store/store.ts';
import { connectPlatformStore, type SystemsSizing } from './platform-store.ts';
import type { SystemsSettings } from './tenant-systems-config.ts';

export interface TenantSystems {
  readonly store: PlatformStore;
  readonly identity: KeycloakDirectory;
  readonly grafana: GrafanaAdmin;
  readonly cluster: KubernetesCluster;
  close(): Promise<void>;
}

export type { SystemsSizing } from './platform-store.ts';

export function connectTenantSystems(
  settings: SystemsSettings & SystemsSizing,
  log: Logger,
  functionName: string,
  /** Page size of Keycloak and Grafana lists (defaults: the adapters'); the key of idempotency fingerprints. */
  options: { readonly pageSize?: number; readonly idempotencySecret?: string } = {},
): TenantSystems {
  const { store, pool } = connectPlatformStore(settings, log, functionName, {
    idempotencySecret: options.idempotencySecret,
    tenantLocks: true,
  });
  const paging = options.pageSize === undefined ? {} : { pageSize: options.pageSize };
  const timeouts = settings.callTimeouts;
  const grafana = new GrafanaAdmin({ ...settings.grafana, ...paging, timeoutMs: timeouts.grafanaMs });
  return {
    store,
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
