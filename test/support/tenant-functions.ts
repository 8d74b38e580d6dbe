/** Starting the tenant functions in-process against the test environment, as their tests need them. */
import { readFileSync } from 'node:fs';
import type KcAdminClient from '@keycloak/keycloak-admin-client';
import type { TestEnv } from '../env/provided.ts';
import { addServiceClient, masterAdmin as masterAdminOf } from '../env/keycloak-realms.ts';

export const FUNCTION_TOKEN = 'tenant-functions-test-token-0123456789';

/** The master realm's admin client (see test/env/keycloak-realms.ts). */
export async function masterAdmin(env: TestEnv): Promise<KcAdminClient> {
  return masterAdminOf(env.keycloak);
}

/** The environment variables of a tenant function wired to the test servers (its own Keycloak client). */
export async function tenantFunctionEnv(
  env: TestEnv,
  databaseUrl: string,
  overrides: Record<string, string> = {},
): Promise<Record<string, string>> {
  const admin = await masterAdmin(env);
  const client = await addServiceClient(
    admin,
    env.oidc.realm,
    `functions-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
  );
  return {
    API_TOKEN: FUNCTION_TOKEN,
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    KUBECONFIG: env.kubernetes.kubeconfigPath,
    KEYCLOAK_URL: env.keycloak.url,
    KEYCLOAK_REALM: env.oidc.realm,
    KEYCLOAK_CLIENT_ID: client.clientId,
    KEYCLOAK_CLIENT_SECRET: client.clientSecret,
    GRAFANA_URL: env.grafana.url,
    GRAFANA_ADMIN_USER: env.grafana.adminUser,
    GRAFANA_ADMIN_PASSWORD: env.grafana.adminPassword,
    CLUSTER_SERVER: env.kubernetes.server,
    CLUSTER_CA_DATA: readFileSync(env.kubernetes.caFile).toString('base64'),
    OIDC_ISSUER_URL: env.oidc.issuerUrl,
    RESERVED_NAME_PATTERN: '^sys-',
    ...overrides,
  };
}
