/** The adapters of the tenant systems, built once per function instance from SystemsSettings. */
import { GrafanaAdmin } from '../adapters/grafana/client.ts';
import { KeycloakDirectory } from '../adapters/keycloak/directory.ts';
import { KubernetesCluster } from '../adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../adapters/kubernetes/kubeconfig.ts';
import { createPool } from '../adapters/postgres/pool.ts';
import type { Logger } from '../platform/logger.ts';
import { PlatformStore } from '../platform/store/store.ts';
import type { SystemsSettings } from './systems-config.ts';

export interface TenantSystems {
  readonly store: PlatformStore;
  readonly identity: KeycloakDirectory;
  readonly grafana: GrafanaAdmin;
  readonly cluster: KubernetesCluster;
  close(): Promise<void>;
}

export function connectTenantSystems(
  settings: SystemsSettings,
  log: Logger,
  functionName: string,
  /** Page size of Keycloak and Grafana lists (defaults: the adapters'); the key of idempotency fingerprints. */
  options: { readonly pageSize?: number; readonly idempotencySecret?: string } = {},
): TenantSystems {
  const pool = createPool({ connectionString: settings.databaseUrl, log, applicationName: functionName });
  const paging = options.pageSize === undefined ? {} : { pageSize: options.pageSize };
  const grafana = new GrafanaAdmin({ ...settings.grafana, ...paging });
  return {
    store: new PlatformStore(pool, undefined, { idempotencySecret: options.idempotencySecret }),
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
    }),
    grafana,
    cluster: new KubernetesCluster(loadKubeConfig(settings.kubeconfig)),
    close: async () => {
      await grafana.close();
      await pool.end();
    },
  };
}
