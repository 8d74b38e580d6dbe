/** sync's settings: the shared tenant systems, how recreated tenants look, page size and the prune bound. */
import { z } from 'zod';
import { defineConfig } from '../../shared/platform/config.ts';
import { systemsSettings, systemsShape } from '../../shared/tenancy/systems-config.ts';
import { tenantSettings, tenantShape } from '../../shared/tenancy/tenant-config.ts';

export const loadConfig = defineConfig(
  {
    ...systemsShape,
    ...tenantShape,
    /** Page size of the Keycloak, Grafana and Kubernetes lists. */
    SYNC_PAGE_SIZE: z.coerce.number().int().min(10).max(1000).default(500),
    /** Tenants repaired at the same time. */
    SYNC_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
    /** prune deletes at most this share of the tenant namespaces in one run unless forced. */
    SYNC_PRUNE_MAX_SHARE: z.coerce.number().min(0).max(1).default(0.1),
  },
  (v) => {
    const tenant = tenantSettings(v);
    return {
      ...systemsSettings(v),
      pageSize: v.SYNC_PAGE_SIZE,
      sync: {
        plans: tenant.plans,
        defaultPlan: tenant.defaultPlan,
        access: { tenantClusterRole: tenant.tenantClusterRole, oidc: tenant.oidc },
        grafanaRole: tenant.grafanaRole,
        pruneMaxShare: v.SYNC_PRUNE_MAX_SHARE,
        concurrency: v.SYNC_CONCURRENCY,
      },
    };
  },
);

export type SyncConfig = ReturnType<typeof loadConfig>;
