/**
 * The settings that shape a tenant's objects, shared by the functions that create them (provision, sync):
 * plans, the tenant ClusterRole, how the apiserver prefixes OIDC names, and the tenant's Grafana org role.
 */
import { z } from 'zod';
import { ConfigError } from '../platform/config.ts';
import { TENANT_CLUSTER_ROLE } from './cluster-role.ts';
import { plansFrom, plansSchema } from './plans.ts';

export const tenantShape = {
  GRAFANA_ORG_ROLE: z.enum(['Viewer', 'Editor', 'Admin', 'None']).default('Viewer'),
  OIDC_USERNAME_PREFIX: z.string().default('oidc:'),
  OIDC_GROUPS_PREFIX: z.string().default('oidc:'),
  TENANT_CLUSTER_ROLE: z.string().min(1).default(TENANT_CLUSTER_ROLE),
  PLANS: plansSchema.optional(),
  DEFAULT_PLAN: z.string().default('default'),
} satisfies z.ZodRawShape;

export function tenantSettings(v: z.infer<z.ZodObject<typeof tenantShape>>) {
  const plans = plansFrom(v.PLANS);
  // A default plan that does not exist would fail every provision and every namespace sync recreates.
  if (!plans.has(v.DEFAULT_PLAN)) {
    throw new ConfigError([
      {
        variable: 'DEFAULT_PLAN',
        message: `no plan "${v.DEFAULT_PLAN}"; known: ${[...plans.keys()].join(', ')} (add it to PLANS)`,
      },
    ]);
  }
  return {
    plans,
    defaultPlan: v.DEFAULT_PLAN,
    tenantClusterRole: v.TENANT_CLUSTER_ROLE,
    oidc: { usernamePrefix: v.OIDC_USERNAME_PREFIX, groupsPrefix: v.OIDC_GROUPS_PREFIX },
    grafanaRole: v.GRAFANA_ORG_ROLE,
  };
}
