/**
 * The settings that shape a tenant's objects, shared by the functions that create them (provision, sync):
 * plans, the tenant ClusterRole, how the apiserver prefixes OIDC names, the tenant's Grafana org role, and
 * where tenant pods may not send traffic.
 */
import { isIP } from 'node:net';
import { commaList, nonEmpty, optional, withDefault, zMini, type EnvShape } from '../platform/env-schema.ts';
import { ConfigError } from '../platform/config.ts';
import { defaultDeniedCidrs, defaultDeniedNamespaces, type TenantEgress } from './baseline.ts';
import { TENANT_CLUSTER_ROLE } from './cluster-role.ts';
import { plansFrom, plansShape } from './plans.ts';

/** An IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fc00::/7. */
function isCidr(text: string): boolean {
  const [address = '', prefix = '', ...rest] = text.split('/');
  const family = isIP(address);
  if (rest.length > 0 || family === 0 || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

const cidrList = zMini.pipe(
  commaList(),
  zMini.array(zMini.string().check(zMini.refine(isCidr, 'a CIDR such as 10.0.0.0/8 or fc00::/7'))),
);

/** The Grafana organisation roles a tenant's Grafana user may be given. */
export const grafanaOrgRoles = ['Viewer', 'Editor', 'Admin', 'None'] as const;
export type GrafanaOrgRole = (typeof grafanaOrgRoles)[number];

export const tenantShape = {
  GRAFANA_ORG_ROLE: withDefault(zMini.enum(grafanaOrgRoles), 'Viewer'),
  OIDC_USERNAME_PREFIX: withDefault(zMini.string(), 'oidc:'),
  OIDC_GROUPS_PREFIX: withDefault(zMini.string(), 'oidc:'),
  TENANT_CLUSTER_ROLE: withDefault(nonEmpty(), TENANT_CLUSTER_ROLE),
  ...plansShape,
  DEFAULT_PLAN: withDefault(zMini.string(), 'default'),
  /** Namespaces tenant pods may not reach, replacing the built-in list (the functions' is always added). */
  TENANT_EGRESS_DENIED_NAMESPACES: optional(commaList()),
  /** Address ranges tenant pods may not reach: the pod, service and node ranges, cloud metadata. */
  TENANT_EGRESS_DENY_CIDRS: optional(cidrList),
} satisfies EnvShape;

export function tenantSettings(
  v: zMini.infer<zMini.ZodMiniObject<typeof tenantShape>> & { readonly FUNCTIONS_NAMESPACE: string },
) {
  const plans = plansFrom(v.PLANS, v.WEBIDE_IMAGE);
  // A default plan that does not exist would fail every provision and every namespace sync recreates.
  if (!plans.has(v.DEFAULT_PLAN)) {
    throw new ConfigError([
      {
        variable: 'DEFAULT_PLAN',
        message: `no plan "${v.DEFAULT_PLAN}"; known: ${[...plans.keys()].join(', ')} (add it to PLANS)`,
      },
    ]);
  }
  const egress: TenantEgress = {
    deniedNamespaces: [
      ...new Set([...(v.TENANT_EGRESS_DENIED_NAMESPACES ?? defaultDeniedNamespaces), v.FUNCTIONS_NAMESPACE]),
    ],
    deniedCidrs: v.TENANT_EGRESS_DENY_CIDRS ?? defaultDeniedCidrs,
  };
  return {
    plans,
    defaultPlan: v.DEFAULT_PLAN,
    egress,
    tenantClusterRole: v.TENANT_CLUSTER_ROLE,
    oidc: { usernamePrefix: v.OIDC_USERNAME_PREFIX, groupsPrefix: v.OIDC_GROUPS_PREFIX },
    grafanaRole: v.GRAFANA_ORG_ROLE,
  };
}
