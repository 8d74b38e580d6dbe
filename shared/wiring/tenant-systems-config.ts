/**
 * The settings every tenant function shares: where the platform store, Kubernetes, Keycloak and Grafana
 * are, and which names are reserved. Functions add their own variables on top (see functions/<name>/config.ts).
 */
import { nonEmpty, optional, withDefault, zMini, type EnvShape } from '../platform/env-schema.ts';
import { kubeconfigSource } from '../adapters/kubernetes/kubeconfig-source.ts';
import { reservedNamesFrom, reservedNamesShape } from '../platform/reserved-names.ts';

export const systemsShape = {
  DATABASE_URL: nonEmpty(),
  /** Kubernetes credentials: KUBE_CONFIG (inline YAML or JSON), KUBECONFIG (a file), else in-cluster. */
  KUBE_CONFIG: optional(zMini.string()),
  KUBECONFIG: optional(zMini.string()),
  KEYCLOAK_URL: zMini.url(),
  KEYCLOAK_REALM: nonEmpty(),
  KEYCLOAK_AUTH_REALM: optional(nonEmpty()),
  KEYCLOAK_CLIENT_ID: nonEmpty(),
  KEYCLOAK_CLIENT_SECRET: nonEmpty(),
  KEYCLOAK_TENANT_GROUP: withDefault(nonEmpty(), 'tenants'),
  GRAFANA_URL: zMini.url(),
  GRAFANA_ADMIN_USER: nonEmpty(),
  GRAFANA_ADMIN_PASSWORD: nonEmpty(),
  ...reservedNamesShape,
} satisfies EnvShape;

export function systemsSettings(v: zMini.infer<zMini.ZodMiniObject<typeof systemsShape>>) {
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
    reserved: reservedNamesFrom(v),
  };
}

export type SystemsSettings = ReturnType<typeof systemsSettings>;
