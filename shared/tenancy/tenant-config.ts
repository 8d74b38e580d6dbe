/**
 * The settings that shape a tenant's objects, shared by the functions that create them (provision, sync):
 * plans, the tenant ClusterRole, how the apiserver prefixes OIDC names, and the tenant's Grafana org role.
 */
import { nonEmpty, optional, withDefault, z, type EnvShape } from '../platform/env-schema.ts';
import { ConfigError } from '../platform/config.ts';
import { TENANT_CLUSTER_ROLE } from './cluster-role.ts';
import { plansFrom, plansSchema } from './plans.ts';

export const tenantShape = {
  GRAFANA_ORG_ROLE: withDefault(z.enum(['Viewer', 'Editor', 'Admin', 'None']), 'Viewer'),
  OIDC_USERNAME_PREFIX: withDefault(z.string(), 'oidc:'),
  OIDC_GROUPS_PREFIX: withDefault(z.string(), 'oidc:'),
  TENANT_CLUSTER_ROLE: withDefault(nonEmpty(), TENANT_CLUSTER_ROLE),
  PLANS: optional(plansSchema),
  DEFAULT_PLAN: withDefault(z.string(), 'default'),
} satisfies EnvShape;

export function tenantSettings(v: z.infer<z.ZodMiniObject<typeof tenantShape>>) {
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
