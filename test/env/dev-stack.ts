/**
 * `make dev`: the local stack. The test environment's real servers (Kubernetes control plane trusting
 * Keycloak as OIDC issuer, PostgreSQL, Keycloak) and the Grafana API, plus the functions that have landed,
 * on loopback. Prints curl commands of the predecessor's examples and writes everything a script needs to
 * .dev/stack.json. Runs until Ctrl-C.
 */
import { fileURLToPath } from 'node:url';
import {
  FUNCTION_TOKEN,
  ensureTenantClusterRole,
  startTenantFunctions,
  tenantFunctionEnv,
} from '../support/tenant-functions.ts';
import { installEverest } from '../support/everest-install.ts';
import { PG_RECONCILE_EXAMPLE_PASSWORDS, seedPgReconcileExample } from '../support/pg-reconcile-example.ts';
import { loadConfig as loadBootstrapConfig } from '../../functions/bootstrap/config.ts';
import { bootstrapSetup } from '../../functions/bootstrap/index.ts';
import { loadConfig as loadCleanupConfig } from '../../functions/cleanup/config.ts';
import { cleanupSetup } from '../../functions/cleanup/index.ts';
import { loadConfig as loadDeadLetterConfig } from '../../functions/dead-letter/config.ts';
import { deadLetterSetup } from '../../functions/dead-letter/index.ts';
import { loadConfig as loadEnforceConfig } from '../../functions/enforce/config.ts';
import { enforceSetup } from '../../functions/enforce/index.ts';
import { loadConfig as loadPgReconcileConfig } from '../../functions/pg-reconcile/config.ts';
import { pgReconcileSetup } from '../../functions/pg-reconcile/index.ts';
import { loadConfig as loadResetConfig } from '../../functions/reset/config.ts';
import { resetSetup } from '../../functions/reset/index.ts';
import { loadConfig as loadSyncConfig } from '../../functions/sync/config.ts';
import { syncSetup } from '../../functions/sync/index.ts';
import type { PlatformConfig } from '../../shared/platform/config.ts';
import type { Logger } from '../../shared/platform/logger.ts';
import { startFunction, type FunctionSetup, type RunningFunction } from '../../shared/platform/server.ts';
import { createTestDatabase } from './databases.ts';
import { describeStartup, startTestEnv } from './environment.ts';
import { runUntilSignal } from './foreground.ts';
import { describeStack, writeStackFile } from './stack-file.ts';

const devDir = fileURLToPath(new URL('../../.dev/', import.meta.url));
const running = await startTestEnv();
const { env } = running;
await ensureTenantClusterRole(env);
const db = await createTestDatabase(env.postgres.url, 'dev');
const logLevel = process.env.LOG_LEVEL ?? 'info';
const functions = await startTenantFunctions(env, db.url, { logLevel });
// What bootstrap and enforce work on: Everest's installation (everest-system, its accounts Secret and RBAC
// ConfigMap, as its chart makes them) and the CRDs of Everest tenants (Everest's and OLM's).
await installEverest(env);

/** One more function on loopback, with the tenant settings of the test servers plus its own. */
async function start<C extends PlatformConfig>(
  name: string,
  loadConfig: (env: Readonly<Record<string, string | undefined>>) => C,
  setup: (config: C, log: Logger) => FunctionSetup,
  extra: Record<string, string> = {},
): Promise<RunningFunction> {
  return startFunction({
    name,
    loadConfig,
    env: await tenantFunctionEnv(env, db.url, { LOG_LEVEL: logLevel, ...extra }),
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(setup(config, log)),
  });
}
// pg-reconcile's example: its ConfigMap and Secrets in namespace postgres, database myapp on the
// environment's PostgreSQL (whose superuser pg-reconcile connects as, with the password in its URL).
await seedPgReconcileExample(env);

const enforceFunction = await start('enforce', loadEnforceConfig, enforceSetup);
const more = {
  reset: await start('reset', loadResetConfig, resetSetup),
  cleanup: await start('cleanup', loadCleanupConfig, cleanupSetup),
  sync: await start('sync', loadSyncConfig, syncSetup),
  enforce: enforceFunction,
  // Without a Broker here, bootstrap's limits-changed event goes straight to enforce.
  bootstrap: await start('bootstrap', loadBootstrapConfig, bootstrapSetup, {
    LIMITS_EVENT_SINK: enforceFunction.url,
    LIMITS_EVENT_TOKEN: FUNCTION_TOKEN,
  }),
  'pg-reconcile': await start('pg-reconcile', loadPgReconcileConfig, pgReconcileSetup, {
    PG_URL: env.postgres.url,
  }),
  // Without a Broker here, nothing dead-letters and replays are refused; listing works.
  'dead-letter': await start('dead-letter', loadDeadLetterConfig, deadLetterSetup),
};
const { reset, cleanup, sync, enforce, bootstrap } = more;
const pgReconcile = more['pg-reconcile'];
const deadLetter = more['dead-letter'];
/** alice of the pg-reconcile example, on database myapp, with the given password. */
const aliceUrl = (password: string) =>
  `postgresql://alice:${password}@${env.postgres.host}:${String(env.postgres.port)}/myapp`;

const stackFile = `${devDir}stack.json`;
await writeStackFile(
  stackFile,
  describeStack(env, {
    functions: {
      provision: functions.provision.url,
      deprovision: functions.deprovision.url,
      ...Object.fromEntries(Object.entries(more).map(([name, fn]) => [name, fn.url])),
    },
    apiToken: FUNCTION_TOKEN,
    databaseUrl: db.url,
  }),
);

console.log(describeStartup(running));
console.log(`
functions
  provision     ${functions.provision.url}
  deprovision   ${functions.deprovision.url}
  reset         ${reset.url}
  cleanup       ${cleanup.url}
  sync          ${sync.url}
  enforce       ${enforce.url}
  bootstrap     ${bootstrap.url}
  pg-reconcile  ${pgReconcile.url}
  dead-letter   ${deadLetter.url}

Try the predecessor's examples:

  curl -s ${functions.provision.url}/provisioner -H 'Authorization: ${FUNCTION_TOKEN}' \\
    -H 'Content-Type: application/json' -d '{"full_name": "John Doe", "email": "john.doe@example.org"}'
  curl -s -X DELETE ${functions.deprovision.url}/provisioner -H 'Authorization: ${FUNCTION_TOKEN}' \\
    -H 'Content-Type: application/json' -d '{"full_name": "John Doe", "email": "john.doe@example.org"}'
  curl -s ${reset.url}/reset -H 'Authorization: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' -d '{"dryRun": true}'
  curl -s ${cleanup.url}/cleanup -H 'Authorization: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' -d '{"dryRun": true}'
  curl -s ${sync.url}/sync -H 'Authorization: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' -d '{"dryRun": true}'
  curl -s '${deadLetter.url}/dead-letters?state=all' -H 'Authorization: ${FUNCTION_TOKEN}'
  curl -s ${bootstrap.url}/bootstrap/tenant -H 'X-Admin-Key: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' \\
    -H 'Idempotency-Key: 11111111-1111-1111-1111-111111111111' \\
    -d '{"username":"alice","password":"StrongP@ssw0rd","namespace":"ns-alice","operators":{"postgresql":true,"mongodb":false,"xtradb_cluster":true}}'
  curl -s ${bootstrap.url}/rbac/can -H 'X-Admin-Key: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' \\
    -d '{"user":"alice","resource":"database-clusters","verb":"create","object":"ns-alice/*"}'
  curl -s -X PUT ${bootstrap.url}/limits -H 'X-Admin-Key: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' \\
    -d '{"namespace":"ns-alice","max_clusters":3,"allowed_engines":["postgresql","mysql"],"cpu_limit_cores":4,"memory_limit_bytes":17179869184,"max_db_users":20}'
  curl -s ${bootstrap.url}/tenants -H 'X-Admin-Key: ${FUNCTION_TOKEN}'
  curl -s ${bootstrap.url}/users/raw -H 'X-Admin-Key: ${FUNCTION_TOKEN}'
  curl -s ${enforce.url}/enforce/cluster-create -H 'X-Admin-Key: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' \\
    -d '{"namespace":"ns-alice","engine":"postgresql","cpu_request_cores":1,"memory_request_bytes":2147483648}'
  curl -s ${pgReconcile.url}/reconcile -H 'Authorization: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' -d '{"dryRun": true}'

pg-reconcile's passwords (PostgreSQL asks every login for its password, scram-sha-256): reconcile, then
alice logs in with her Secret's password; rotate it, reconcile, and only the new one logs in.

  curl -s ${pgReconcile.url}/reconcile -H 'Authorization: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' -d '{}'
  psql '${aliceUrl(PG_RECONCILE_EXAMPLE_PASSWORDS.alice)}' -c 'SELECT current_user'
  kubectl --kubeconfig ${env.kubernetes.kubeconfigPath} -n postgres patch secret user-alice-secret \\
    -p '{"stringData":{"password":"alice-rotated-password"}}'
  curl -s ${pgReconcile.url}/reconcile -H 'Authorization: ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' -d '{}'
  psql '${aliceUrl('alice-rotated-password')}' -c 'SELECT current_user'
  psql '${aliceUrl(PG_RECONCILE_EXAMPLE_PASSWORDS.alice)}' -c 'SELECT current_user'   # password authentication failed

  export KUBECONFIG=${env.kubernetes.kubeconfigPath}     # cluster admin
  export DATABASE_URL=${db.url}

Everything (URLs, token, kubeconfig, DATABASE_URL, Keycloak and Grafana admin credentials): ${stackFile}
Ctrl-C stops everything.`);

runUntilSignal('the local stack', async () => {
  await functions.stop();
  for (const fn of Object.values(more)) await fn.stop();
  await db.drop();
  await running.stop();
});
