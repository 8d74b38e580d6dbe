/** provision's settings: loadConfig(env), one zod schema; a bad or missing variable stops start-up. */
import { z } from 'zod';
import { defineConfig } from '../../shared/platform/config.ts';
import { TENANT_CLUSTER_ROLE } from '../../shared/tenancy/cluster-role.ts';
import { plansFrom, plansSchema } from '../../shared/tenancy/plans.ts';
import { systemsSettings, systemsShape } from '../../shared/tenancy/systems-config.ts';

export const loadConfig = defineConfig(
  {
    ...systemsShape,
    GRAFANA_PUBLIC_URL: z.url().optional(),
    GRAFANA_ORG_ROLE: z.enum(['Viewer', 'Editor', 'Admin', 'None']).default('Viewer'),
    CLUSTER_NAME: z.string().min(1).default('kubernetes'),
    CLUSTER_SERVER: z.url(),
    CLUSTER_CA_DATA: z.string().min(1).optional(),
    OIDC_ISSUER_URL: z.url(),
    OIDC_CLIENT_ID: z.string().min(1).default('kubernetes'),
    OIDC_USERNAME_PREFIX: z.string().default('oidc:'),
    OIDC_GROUPS_PREFIX: z.string().default('oidc:'),
    TENANT_CLUSTER_ROLE: z.string().min(1).default(TENANT_CLUSTER_ROLE),
    PLANS: plansSchema.optional(),
    DEFAULT_PLAN: z.string().default('default'),
  },
  (v) => {
    const systems = systemsSettings(v);
    return {
      ...systems,
      provision: {
        reserved: systems.reserved,
        plans: plansFrom(v.PLANS),
        defaultPlan: v.DEFAULT_PLAN,
        markerGroup: systems.markerGroup,
        tenantClusterRole: v.TENANT_CLUSTER_ROLE,
        oidc: {
          issuerUrl: v.OIDC_ISSUER_URL,
          clientId: v.OIDC_CLIENT_ID,
          usernamePrefix: v.OIDC_USERNAME_PREFIX,
          groupsPrefix: v.OIDC_GROUPS_PREFIX,
        },
        cluster: {
          name: v.CLUSTER_NAME,
          server: v.CLUSTER_SERVER,
          ...(v.CLUSTER_CA_DATA === undefined ? {} : { certificateAuthorityData: v.CLUSTER_CA_DATA }),
        },
        grafana: { url: v.GRAFANA_PUBLIC_URL ?? v.GRAFANA_URL, role: v.GRAFANA_ORG_ROLE },
      },
    };
  },
);

export type ProvisionConfig = ReturnType<typeof loadConfig>;
