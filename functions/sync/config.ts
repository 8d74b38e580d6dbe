/** sync's settings: the shared tenant systems, how recreated tenants look, page size and the prune bound. */
import { integer, between, withDefault } from '../../shared/platform/env-schema.ts';
import { defineConfig } from '../../shared/platform/config.ts';
import { systemsSettings, systemsShape } from '../../shared/wiring/tenant-systems-config.ts';
import { tenantSettings, tenantShape } from '../../shared/tenancy/tenant-config.ts';

export const loadConfig = defineConfig(
  {
    ...systemsShape,
    ...tenantShape,
    /** Page size of the Keycloak, Grafana and Kubernetes lists. */
    SYNC_PAGE_SIZE: withDefault(integer(10, 1000), 500),
    /** Tenants repaired at the same time. */
    SYNC_CONCURRENCY: withDefault(integer(1, 64), 8),
    /** prune deletes at most this share of the tenant namespaces in one run unless forced. */
    SYNC_PRUNE_MAX_SHARE: withDefault(between(0, 1), 0.1),
  },
  (v) => {
    const tenant = tenantSettings(v);
    return {
      ...systemsSettings(v),
      pageSize: v.SYNC_PAGE_SIZE,
      sync: {
        plans: tenant.plans,
        defaultPlan: tenant.defaultPlan,
        access: { tenantClusterRole: tenant.tenantClusterRole, oidc: tenant.oidc, egress: tenant.egress },
        grafanaRole: tenant.grafanaRole,
        pruneMaxShare: v.SYNC_PRUNE_MAX_SHARE,
        concurrency: v.SYNC_CONCURRENCY,
      },
    };
  },
);

export type SyncConfig = ReturnType<typeof loadConfig>;
