/** provision's settings: loadConfig(env), one zod schema; a bad or missing variable stops start-up. */
import { z } from 'zod';
import { kubeconfigSource } from '../../shared/adapters/kubernetes/kubeconfig.ts';
import { defineConfig } from '../../shared/platform/config.ts';
import { TENANT_CLUSTER_ROLE } from '../../shared/tenancy/cluster-role.ts';
import { builtinReservedNames } from '../../shared/tenancy/naming.ts';
import { plansFrom, plansSchema } from '../../shared/tenancy/plans.ts';

const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const regex = z.string().transform((v, ctx) => {
  try {
    return new RegExp(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not a valid regular expression' });
    return z.NEVER;
  }
});

export const loadConfig = defineConfig(
  {
    DATABASE_URL: z.string().min(1),
    /** Kubernetes credentials: KUBE_CONFIG (inline, the predecessor's), KUBECONFIG (a file), else in-cluster. */
    KUBE_CONFIG: z.string().optional(),
    KUBECONFIG: z.string().optional(),
    KEYCLOAK_URL: z.url(),
    KEYCLOAK_REALM: z.string().min(1),
    KEYCLOAK_AUTH_REALM: z.string().min(1).optional(),
    KEYCLOAK_CLIENT_ID: z.string().min(1),
    KEYCLOAK_CLIENT_SECRET: z.string().min(1),
    KEYCLOAK_TENANT_GROUP: z.string().min(1).default('tenants'),
    GRAFANA_URL: z.url(),
    GRAFANA_PUBLIC_URL: z.url().optional(),
    GRAFANA_ADMIN_USER: z.string().min(1),
    GRAFANA_ADMIN_PASSWORD: z.string().min(1),
    GRAFANA_ORG_ROLE: z.enum(['Viewer', 'Editor', 'Admin', 'None']).default('Viewer'),
    CLUSTER_NAME: z.string().min(1).default('kubernetes'),
    CLUSTER_SERVER: z.url(),
    CLUSTER_CA_DATA: z.string().min(1).optional(),
    OIDC_ISSUER_URL: z.url(),
    OIDC_CLIENT_ID: z.string().min(1).default('kubernetes'),
    OIDC_USERNAME_PREFIX: z.string().default('oidc:'),
    OIDC_GROUPS_PREFIX: z.string().default('oidc:'),
    TENANT_CLUSTER_ROLE: z.string().min(1).default(TENANT_CLUSTER_ROLE),
    FUNCTIONS_NAMESPACE: z.string().min(1).default('tenant-functions'),
    RESERVED_NAMES: list.optional(),
    RESERVED_NAME_PATTERN: regex.optional(),
    PLANS: plansSchema.optional(),
    DEFAULT_PLAN: z.string().default('default'),
  },
  (v) => ({
    databaseUrl: v.DATABASE_URL,
    kubeconfig: kubeconfigSource({ KUBE_CONFIG: v.KUBE_CONFIG, KUBECONFIG: v.KUBECONFIG }),
    keycloak: {
      baseUrl: v.KEYCLOAK_URL,
      realm: v.KEYCLOAK_REALM,
      authRealm: v.KEYCLOAK_AUTH_REALM ?? v.KEYCLOAK_REALM,
      clientId: v.KEYCLOAK_CLIENT_ID,
      clientSecret: v.KEYCLOAK_CLIENT_SECRET,
    },
    grafana: { url: v.GRAFANA_URL, adminUser: v.GRAFANA_ADMIN_USER, adminPassword: v.GRAFANA_ADMIN_PASSWORD },
    provision: {
      reserved: {
        exact: [...builtinReservedNames.exact, v.FUNCTIONS_NAMESPACE, ...(v.RESERVED_NAMES ?? [])],
        patterns: [
          ...builtinReservedNames.patterns,
          ...(v.RESERVED_NAME_PATTERN === undefined ? [] : [v.RESERVED_NAME_PATTERN]),
        ],
      },
      plans: plansFrom(v.PLANS),
      defaultPlan: v.DEFAULT_PLAN,
      markerGroup: v.KEYCLOAK_TENANT_GROUP,
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
  }),
);

export type ProvisionConfig = ReturnType<typeof loadConfig>;
