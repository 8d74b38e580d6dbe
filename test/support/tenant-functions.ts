/** Starting the tenant functions in-process against the test environment (tests, make bench, make dev). */
import { readFileSync } from 'node:fs';
import type KcAdminClient from '@keycloak/keycloak-admin-client';
import { loadConfig as loadDeprovisionConfig } from '../../functions/deprovision/config.ts';
import { deprovisionSetup } from '../../functions/deprovision/index.ts';
import { loadConfig as loadProvisionConfig } from '../../functions/provision/config.ts';
import { provisionSetup } from '../../functions/provision/index.ts';
import { startFunction, type RunningFunction } from '../../shared/platform/server.ts';
import { renderTenantClusterRole } from '../../shared/tenancy/cluster-role.ts';
import type { TestEnv } from '../env/provided.ts';
import { apiserver } from './apiserver.ts';
import { addServiceClient, masterAdmin as masterAdminOf } from '../env/keycloak-realms.ts';

export const FUNCTION_TOKEN = 'tenant-functions-test-token-0123456789';
/** IDEMPOTENCY_KEY_SECRET of the functions with idempotent operations (provision, bootstrap). */
export const IDEMPOTENCY_SECRET = 'tenant-functions-idempotency-secret-0123456789';

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
    IDEMPOTENCY_KEY_SECRET: IDEMPOTENCY_SECRET,
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

export interface RunningTenantFunctions {
  readonly provision: RunningFunction;
  readonly deprovision: RunningFunction;
  readonly stop: () => Promise<void>;
}

/** provision and deprovision served on loopback (ports 0 = any free port), wired to the test servers. */
export async function startTenantFunctions(
  env: TestEnv,
  databaseUrl: string,
  options: {
    provisionPort?: number;
    deprovisionPort?: number;
    logLevel?: string;
    /** More environment variables of both functions (e.g. shorter call timeouts). */
    overrides?: Record<string, string>;
  } = {},
): Promise<RunningTenantFunctions> {
  const overrides: Record<string, string> = {
    ...options.overrides,
    ...(options.logLevel === undefined ? {} : { LOG_LEVEL: options.logLevel }),
  };
  const provision = await startFunction({
    name: 'provision',
    loadConfig: loadProvisionConfig,
    env: await tenantFunctionEnv(env, databaseUrl, overrides),
    port: options.provisionPort ?? 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(provisionSetup(config, log)),
  });
  const deprovision = await startFunction({
    name: 'deprovision',
    loadConfig: loadDeprovisionConfig,
    env: await tenantFunctionEnv(env, databaseUrl, overrides),
    port: options.deprovisionPort ?? 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(deprovisionSetup(config, log)),
  });
  return {
    provision,
    deprovision,
    stop: async () => {
      await provision.stop();
      await deprovision.stop();
    },
  };
}

/** The tenant ClusterRole must exist before tenants are bound to it; creating it twice is fine. */
export async function ensureTenantClusterRole(env: TestEnv): Promise<void> {
  const status = await apiserver(env.kubernetes).create(renderTenantClusterRole(), env.kubernetes.adminToken);
  if (status !== 201 && status !== 409) throw new Error(`creating the tenant ClusterRole answered ${status}`);
}
