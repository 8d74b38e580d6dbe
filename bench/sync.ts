/**
 * make bench: sync of N tenants (default 10,000) with no drift on the local real stack (kube-apiserver,
 * Keycloak, PostgreSQL, the test environment's Grafana API), against a naive variant that checks each
 * tenant with one call per system, as the predecessor did. Counts every HTTP request sent to the three
 * servers (bench/call-counter.ts). Each tenant is seeded as provision makes it (namespace and its six
 * baseline objects), so the run also lists and compares every baseline object. Goals (issue 5): <= 10 s and
 * <= 3*(N/page)+10 calls for the three systems, plus 6*(N/page)+4 for the baseline lists.
 */
import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { loadConfig } from '../functions/sync/config.ts';
import { syncSetup } from '../functions/sync/index.ts';
import { GrafanaAdmin } from '../shared/adapters/grafana/client.ts';
import { KeycloakDirectory } from '../shared/adapters/keycloak/directory.ts';
import { KubernetesCluster } from '../shared/adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../shared/adapters/kubernetes/kubeconfig.ts';
import { startFunction } from '../shared/platform/server.ts';
import type { SyncReport } from '../shared/tenancy/sync.ts';
import { renderTenantBaseline } from '../shared/tenancy/tenant-objects.ts';
import { createTestDatabase } from '../test/env/databases.ts';
import { startTestEnv } from '../test/env/environment.ts';
import { FUNCTION_TOKEN, masterAdmin, tenantFunctionEnv } from '../test/support/tenant-functions.ts';
import { countCalls } from './call-counter.ts';

const N = Number(process.env.BENCH_SYNC_TENANTS ?? 10_000);
const PAGE = Number(process.env.BENCH_SYNC_PAGE ?? 500);
const MARKER = 'tenants';

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const names = Array.from({ length: N }, (_, i) => `bench-${String(i).padStart(5, '0')}`);

const running = await startTestEnv();
try {
  const { env } = running;
  const realm = env.oidc.realm;
  const db = await createTestDatabase(env.postgres.url, 'bench_sync');
  const functionEnv = await tenantFunctionEnv(env, db.url, {
    SYNC_PAGE_SIZE: String(PAGE),
    REQUEST_TIMEOUT_SECONDS: '600',
  });

  const syncConfig = loadConfig(functionEnv);
  const plan = syncConfig.sync.plans.get(syncConfig.sync.defaultPlan);
  if (plan === undefined) throw new Error('no default plan');
  // Seeding: Keycloak users in the marker group (partial import, 500 a call), Grafana users, namespaces.
  let started = performance.now();
  const kc = await masterAdmin(env);
  if ((await kc.groups.find({ realm, search: MARKER, exact: true })).length === 0)
    await kc.groups.create({ realm, name: MARKER });
  for (let i = 0; i < N; i += 500) {
    await kc.realms.partialImport({
      realm,
      rep: {
        ifResourceExists: 'SKIP',
        users: names
          .slice(i, i + 500)
          .map((u) => ({ username: u, email: `${u}@bench.test`, enabled: true, groups: [`/${MARKER}`] })),
      },
    });
  }
  const grafana = new GrafanaAdmin({
    url: env.grafana.url,
    adminUser: env.grafana.adminUser,
    adminPassword: env.grafana.adminPassword,
  });
  const cluster = new KubernetesCluster(
    loadKubeConfig({ kind: 'file', path: env.kubernetes.kubeconfigPath }),
  );
  const limit = pLimit(16);
  await Promise.all(
    names.map((u) =>
      limit(async () => {
        await grafana.createUser({ login: u, email: `${u}@bench.test`, password: 'bench-password-1234' });
        for (const object of renderTenantBaseline(
          { username: u, ownerEmail: `${u}@bench.test`, plan, createdAt: new Date() },
          syncConfig.sync.access,
        ))
          await cluster.create(object);
      }),
    ),
  );
  console.log(`seeded ${N} tenants in ${seconds(performance.now() - started)}`);

  const fn = await startFunction({
    name: 'sync',
    loadConfig,
    env: functionEnv,
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(syncSetup(config, log)),
  });
  const servers = [env.keycloak.url, env.grafana.url, env.kubernetes.server].map((u) => new URL(u).origin);
  const counter = countCalls();
  const sync = async (body: unknown): Promise<SyncReport> => {
    const response = await fetch(`${fn.url}/sync`, {
      method: 'POST',
      headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`sync answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as SyncReport;
  };
  await sync({ username: names[0] }); // warm-up: token, connections, migrations

  const runs: { ms: number; calls: number }[] = [];
  for (let run = 0; run < 3; run++) {
    counter.reset();
    started = performance.now();
    const report = await sync({});
    const ms = performance.now() - started;
    if (
      report.results.total_users < N ||
      report.results.fixed_users.length > 0 ||
      report.results.baseline_repaired.length > 0 ||
      report.results.not_owned.length > 0
    )
      throw new Error(`unexpected drift: ${JSON.stringify(report.counts)}`);
    runs.push({ ms, calls: counter.total(servers) });
  }
  const best = runs.reduce((a, b) => (b.ms < a.ms ? b : a));
  const budget = 9 * Math.ceil(N / PAGE) + 14;
  console.log(
    `sync (lists): n=${N} page=${PAGE} times=${runs.map((r) => seconds(r.ms)).join(', ')} calls=${best.calls} (budget ${budget}) per server ${JSON.stringify(Object.fromEntries(counter.byOrigin))}`,
  );
  await fn.stop();

  // The naive variant: list the tenants, then one call per tenant and system (namespace, Grafana user,
  // groups), 8 at a time.
  const identity = new KeycloakDirectory({
    baseUrl: env.keycloak.url,
    realm,
    credentials: {
      grant: 'client_credentials',
      clientId: functionEnv.KEYCLOAK_CLIENT_ID ?? '',
      clientSecret: functionEnv.KEYCLOAK_CLIENT_SECRET ?? '',
    },
  });
  counter.reset();
  started = performance.now();
  const marker = (await identity.findGroup(MARKER)) ?? '';
  let drift = 0;
  const naive = pLimit(8);
  const checks: Promise<void>[] = [];
  for await (const page of identity.groupMembers(marker)) {
    for (const user of page)
      checks.push(
        naive(async () => {
          const [namespace, account, groups] = await Promise.all([
            cluster.namespaceExists(user.username),
            grafana.lookupUser(user.username),
            identity.userGroups(user.id),
          ]);
          if (!namespace || account === undefined || groups.length === 0) drift++;
        }),
      );
  }
  await Promise.all(checks);
  const naiveMs = performance.now() - started;
  console.log(
    `sync (naive, one call per tenant and system): n=${N} time=${seconds(naiveMs)} calls=${counter.total(servers)} drift=${drift}`,
  );
  counter.stop();
  await grafana.close();
  await db.drop();
} finally {
  await running.stop();
}
