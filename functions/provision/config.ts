/** provision's settings: loadConfig(env), one zod schema; a bad or missing variable stops start-up. */
import { nonEmpty, optional, withDefault, zMini } from '../../shared/platform/env-schema.ts';
import { defineConfig } from '../../shared/platform/config.ts';
import { idempotencySecretShape } from '../../shared/platform/request-hash.ts';
import { systemsSettings, systemsShape } from '../../shared/wiring/tenant-systems-config.ts';
import { tenantSettings, tenantShape } from '../../shared/tenancy/tenant-config.ts';

export const loadConfig = defineConfig(
  {
    ...systemsShape,
    GRAFANA_PUBLIC_URL: optional(zMini.url()),
    ...tenantShape,
    CLUSTER_NAME: withDefault(nonEmpty(), 'kubernetes'),
    CLUSTER_SERVER: zMini.url(),
    CLUSTER_CA_DATA: optional(nonEmpty()),
    OIDC_ISSUER_URL: zMini.url(),
    OIDC_CLIENT_ID: withDefault(nonEmpty(), 'kubernetes'),
    ...idempotencySecretShape,
  },
  (v) => {
    const systems = systemsSettings(v);
    const tenant = tenantSettings(v);
    return {
      ...systems,
      idempotencySecret: v.IDEMPOTENCY_KEY_SECRET,
      provision: {
        reserved: systems.reserved,
        plans: tenant.plans,
        defaultPlan: tenant.defaultPlan,
        markerGroup: systems.markerGroup,
        tenantClusterRole: tenant.tenantClusterRole,
        egress: tenant.egress,
        oidc: { issuerUrl: v.OIDC_ISSUER_URL, clientId: v.OIDC_CLIENT_ID, ...tenant.oidc },
        cluster: {
          name: v.CLUSTER_NAME,
          server: v.CLUSTER_SERVER,
          ...(v.CLUSTER_CA_DATA === undefined ? {} : { certificateAuthorityData: v.CLUSTER_CA_DATA }),
        },
        grafana: { url: v.GRAFANA_PUBLIC_URL ?? v.GRAFANA_URL, role: tenant.grafanaRole },
      },
    };
  },
);

export type ProvisionConfig = ReturnType<typeof loadConfig>;
