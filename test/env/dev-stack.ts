/**
 * `make dev`: the local stack. The test environment's real servers (Kubernetes control plane trusting
 * Keycloak as OIDC issuer, PostgreSQL, Keycloak) and the Grafana API, plus the functions that have landed,
 * on loopback. Prints curl commands of the predecessor's examples and writes everything a script needs to
 * .dev/stack.json. Runs until Ctrl-C.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  FUNCTION_TOKEN,
  ensureTenantClusterRole,
  startTenantFunctions,
} from '../support/tenant-functions.ts';
import { loadConfig as loadResetConfig } from '../../functions/reset/config.ts';
import { resetSetup } from '../../functions/reset/index.ts';
import { startFunction } from '../../shared/platform/server.ts';
import { createTestDatabase } from './databases.ts';
import { describeStartup, startTestEnv } from './environment.ts';
import { runUntilSignal } from './foreground.ts';

const devDir = fileURLToPath(new URL('../../.dev/', import.meta.url));
const running = await startTestEnv();
const { env } = running;
await ensureTenantClusterRole(env);
const db = await createTestDatabase(env.postgres.url, 'dev');
const functions = await startTenantFunctions(env, db.url, { logLevel: process.env.LOG_LEVEL ?? 'info' });
const reset = await startFunction({
  name: 'reset',
  loadConfig: loadResetConfig,
  env: {
    API_TOKEN: FUNCTION_TOKEN,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    DATABASE_URL: db.url,
    KUBECONFIG: env.kubernetes.kubeconfigPath,
  },
  port: 0,
  host: '127.0.0.1',
  setup: (config, log) => Promise.resolve(resetSetup(config, log)),
});

const stack = {
  functions: { provision: functions.provision.url, deprovision: functions.deprovision.url, reset: reset.url },
  apiToken: FUNCTION_TOKEN,
  kubeconfig: env.kubernetes.kubeconfigPath,
  databaseUrl: db.url,
  keycloak: { ...env.keycloak, tenantsRealm: env.oidc.realm },
  grafana: env.grafana,
  oidc: env.oidc,
  testEnv: env,
};
await mkdir(devDir, { recursive: true });
const stackFile = `${devDir}stack.json`;
await writeFile(stackFile, JSON.stringify(stack, null, 2), { mode: 0o600 });
await writeFile(`${devDir}testenv.json`, JSON.stringify(env, null, 2), { mode: 0o600 });

console.log(describeStartup(running));
console.log(`
functions
  provision     ${functions.provision.url}
  deprovision   ${functions.deprovision.url}
  reset         ${reset.url}

Try the predecessor's examples:

  curl -s ${functions.provision.url}/provisioner -H 'Authorization: ${FUNCTION_TOKEN}' \\
    -H 'Content-Type: application/json' -d '{"full_name": "John Doe", "email": "john.doe@example.org"}'
  curl -s -X DELETE ${functions.deprovision.url}/provisioner -H 'Authorization: ${FUNCTION_TOKEN}' \\
    -H 'Content-Type: application/json' -d '{"full_name": "John Doe", "email": "john.doe@example.org"}'
  curl -s ${reset.url}/reset -H 'Authorization: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' -d '{"dryRun": true}'

  export KUBECONFIG=${env.kubernetes.kubeconfigPath}     # cluster admin
  export DATABASE_URL=${db.url}

Everything (URLs, token, kubeconfig, DATABASE_URL, Keycloak and Grafana admin credentials): ${stackFile}
Ctrl-C stops everything.`);

runUntilSignal('the local stack', async () => {
  await functions.stop();
  await reset.stop();
  await db.drop();
  await running.stop();
});
