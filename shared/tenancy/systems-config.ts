/**
 * The settings every tenant function shares: where the platform store, Kubernetes, Keycloak and Grafana
 * are, and which names are reserved. Functions add their own variables on top (see functions/<name>/config.ts).
 */
import { z } from 'zod';
import { kubeconfigSource } from '../adapters/kubernetes/kubeconfig-source.ts';
import { builtinReservedNames } from './reserved-names.ts';

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

export const systemsShape = {
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
  GRAFANA_ADMIN_USER: z.string().min(1),
  GRAFANA_ADMIN_PASSWORD: z.string().min(1),
  FUNCTIONS_NAMESPACE: z.string().min(1).default('tenant-functions'),
  RESERVED_NAMES: list.optional(),
  RESERVED_NAME_PATTERN: regex.optional(),
} satisfies z.ZodRawShape;

export function systemsSettings(v: z.infer<z.ZodObject<typeof systemsShape>>) {
  return {
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
    markerGroup: v.KEYCLOAK_TENANT_GROUP,
    reserved: {
      exact: [...builtinReservedNames.exact, v.FUNCTIONS_NAMESPACE, ...(v.RESERVED_NAMES ?? [])],
      patterns: [
        ...builtinReservedNames.patterns,
        ...(v.RESERVED_NAME_PATTERN === undefined ? [] : [v.RESERVED_NAME_PATTERN]),
      ],
    },
  };
}

export type SystemsSettings = ReturnType<typeof systemsSettings>;
