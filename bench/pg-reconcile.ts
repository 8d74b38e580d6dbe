/**
 * make bench: pg-reconcile with N users (default 10,000) on the local real PostgreSQL.
 * 1. The reconcile (desired state in hand: users.yaml and the Secrets' passwords), from empty, then a
 *    no-op run 15 times (best and median), counting catalog queries and every SQL text sent, with the
 *    load average (the machine is shared). Goals (issue 7):
 *    from empty <= 5 s; no-op <= 100 ms with <= 3 catalog queries.
 * 2. The same through the function over HTTP with the ConfigMap and N Secrets on the real kube-apiserver
 *    (what a PingSource run costs, Kubernetes reads included), no-op runs.
 * 3. The naive variant, one query per user as the predecessor did it (existence check, CREATE USER with
 *    the plaintext password hashed by the server, GRANT CONNECT, GRANTs, a transaction per user; the
 *    no-op reads each user's memberships with one query).
 * BENCH_PG_USERS changes N; BENCH_TESTENV_FILE reuses a running test environment (its JSON description).
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import pLimit from 'p-limit';
import { loadConfig } from '../functions/pg-reconcile/config.ts';
import { pgReconcileSetup } from '../functions/pg-reconcile/index.ts';
import { createPool } from '../shared/adapters/postgres/pool.ts';
import { reconcile, type ReconcileReport, type ReconcileSettings } from '../shared/pg-roles/reconcile.ts';
import type { DesiredSource, UserSecret } from '../shared/pg-roles/source.ts';
import { startFunction } from '../shared/platform/server.ts';
import { createTestDatabase } from '../test/env/databases.ts';
import { startTestEnv } from '../test/env/environment.ts';
import type { TestEnv } from '../test/env/provided.ts';
import { apiserver } from '../test/support/apiserver.ts';
import { FUNCTION_TOKEN } from '../test/support/tenant-functions.ts';

const N = Number(process.env.BENCH_PG_USERS ?? 10_000);
const GROUPS = 10;
/** No-op runs measured (the machine is shared: the median of many, not the best of few). */
const NOOP_RUNS = 15;
const ms = (x: number) => `${Math.round(x)} ms`;

const reuse = process.env.BENCH_TESTENV_FILE;
const running = reuse
  ? { env: JSON.parse(await readFile(reuse, 'utf8')) as TestEnv, stop: () => Promise.resolve() }
  : await startTestEnv();
const { env } = running;
const admin = new pg.Client({ connectionString: env.postgres.url });
await admin.connect();

async function dropRoles(prefix: string): Promise<void> {
  const { rows } = await admin.query<{ n: string }>(
    `SELECT rolname AS n FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolcanlogin DESC`,
    [prefix],
  );
  for (let i = 0; i < rows.length; i += 1000) {
    const names = rows.slice(i, i + 1000).map((r) => pg.escapeIdentifier(r.n));
    // DROP OWNED also revokes their CONNECT on the databases.
    await admin.query(`DROP OWNED BY ${names.join(', ')}; ${names.map((n) => `DROP ROLE ${n}`).join(';')}`);
  }
}

function desiredFor(prefix: string, database: string) {
  const users = Array.from({ length: N }, (_, i) => `${prefix}u${String(i).padStart(5, '0')}`);
  const groupOf = (i: number) => [`${prefix}g${String(i % GROUPS)}`, `${prefix}g${String((i + 3) % GROUPS)}`];
  const yaml = `users:\n${users
    .map((u, i) => `  - username: ${u}\n    database: ${database}\n    roles: [${groupOf(i).join(', ')}]\n`)
    .join('')}`;
  const secrets = new Map<string, UserSecret>(
    users.map((u) => [
      `user-${u.replaceAll('_', '-')}-secret`,
      { version: `uid-${u}/1`, password: `pw-${u}` },
    ]),
  );
  return { users, groupOf, yaml, secrets };
}

const app = await createTestDatabase(env.postgres.url, 'bench_pgr');
const results: string[] = [];
try {
  // 1. The reconcile itself.
  const prefix = 'bpr_';
  await dropRoles(prefix);
  const want = desiredFor(prefix, app.name);
  const source: DesiredSource = {
    readUsersYaml: () => Promise.resolve(want.yaml),
    readSecrets: () => Promise.resolve(want.secrets),
  };
  const pool = createPool({ connectionString: env.postgres.url, log: { warn: () => undefined } });
  let sent = 0;
  const settings: ReconcileSettings = {
    source: 'bench/cm',
    scope: 'bench/pg-reconcile',
    defaultDatabase: app.name,
    maxDropShare: 0.25,
    scramIterations: 4096,
    retries: 0,
    databaseUrl: () => env.postgres.url,
    trace: () => {
      sent++;
    },
  };
  const run = async (): Promise<{ ms: number; report: ReconcileReport }> => {
    sent = 0;
    const started = performance.now();
    const report = await reconcile({ dryRun: false, force: false }, { source, pool, settings });
    return { ms: performance.now() - started, report };
  };
  const created = await run();
  if (created.report.summary.users_created !== N) throw new Error(JSON.stringify(created.report.summary));
  results.push(
    `reconcile from empty: n=${N} time=${ms(created.ms)} statements=${created.report.statements} round trips=${sent} catalog queries=${created.report.catalog_queries}`,
  );
  const noops: { ms: number; sent: number; queries: number }[] = [];
  for (let i = 0; i < NOOP_RUNS; i++) {
    const r = await run();
    if (r.report.statements !== 0 || r.report.wrote) throw new Error('the no-op run wrote something');
    noops.push({ ms: r.ms, sent, queries: r.report.catalog_queries });
  }
  const best = noops.reduce((a, b) => (b.ms < a.ms ? b : a));
  const median = [...noops].sort((a, b) => a.ms - b.ms)[Math.floor(noops.length / 2)]?.ms ?? 0;
  results.push(
    `reconcile no-op: n=${N} best=${ms(best.ms)} median=${ms(median)} times=${noops.map((x) => ms(x.ms)).join(', ')} catalog queries=${best.queries} round trips=${best.sent} (BEGIN, lock, 2 catalog queries, xid check, COMMIT); load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  await pool.end();

  // 2. The function over HTTP: ConfigMap and N Secrets on the apiserver.
  const api = apiserver(env.kubernetes);
  const token = env.kubernetes.adminToken;
  const ns = `bench-pgr-${Date.now().toString(36)}`;
  await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, token);
  const limit = pLimit(16);
  let started = performance.now();
  await Promise.all(
    [...want.secrets].map(([name, s]) =>
      limit(() =>
        api.send('POST', `/api/v1/namespaces/${ns}/secrets`, token, {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name },
          data: { password: Buffer.from(s.password).toString('base64') },
        }),
      ),
    ),
  );
  await api.send('POST', `/api/v1/namespaces/${ns}/configmaps`, token, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'postgres-users-config' },
    data: { 'users.yaml': want.yaml },
  });
  console.log(`seeded ${N} Secrets in ${ms(performance.now() - started)}`);
  const store = await createTestDatabase(env.postgres.url, 'bench_pgr_store');
  const fn = await startFunction({
    name: 'pg-reconcile',
    loadConfig,
    env: {
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_URL: store.url,
      PG_URL: env.postgres.url,
      NAMESPACE: ns,
      PG_RECONCILE_SCOPE: 'bench/pg-reconcile',
      KUBECONFIG: env.kubernetes.kubeconfigPath,
      REQUEST_TIMEOUT_SECONDS: '600',
    },
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(pgReconcileSetup(config, log)),
  });
  const http: number[] = [];
  let first: ReconcileReport | undefined;
  for (let i = 0; i < 4; i++) {
    started = performance.now();
    const response = await fetch(`${fn.url}/reconcile`, {
      method: 'POST',
      headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
      body: '{}',
    });
    const report = (await response.json()) as ReconcileReport;
    if (i > 0) http.push(performance.now() - started);
    first ??= report;
    if (!response.ok || (i > 0 && report.statements !== 0))
      throw new Error(`${String(response.status)} ${report.message}`);
  }
  results.push(
    `function over HTTP, no-op (ConfigMap + ${N} Secrets listed from the apiserver in pages of 500): times=${http.map(ms).join(', ')}`,
  );
  await fn.stop();
  await store.drop();
  await api.send('DELETE', `/api/v1/namespaces/${ns}`, token);
  await dropRoles(prefix);

  // 3. The naive variant: one query (or more) per user, a transaction per user.
  const naivePrefix = 'bnv_';
  await dropRoles(naivePrefix);
  const naive = desiredFor(naivePrefix, app.name);
  const client = new pg.Client({ connectionString: env.postgres.url });
  await client.connect();
  let queries = 0;
  const q = (text: string, values?: unknown[]) => {
    queries++;
    return client.query(text, values);
  };
  started = performance.now();
  for (let g = 0; g < GROUPS; g++) {
    const name = `${naivePrefix}g${String(g)}`;
    const exists = await q('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    if (exists.rowCount === 0) await q(`CREATE ROLE ${pg.escapeIdentifier(name)} NOLOGIN`);
  }
  for (const [i, user] of naive.users.entries()) {
    const exists = await q('SELECT 1 FROM pg_roles WHERE rolname = $1', [user]);
    if (exists.rowCount !== 0) continue;
    const u = pg.escapeIdentifier(user);
    await q('BEGIN');
    await q(`CREATE USER ${u} WITH PASSWORD ${pg.escapeLiteral(`pw-${user}`)}`);
    await q(`GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(app.name)} TO ${u}`);
    for (const g of naive.groupOf(i)) await q(`GRANT ${pg.escapeIdentifier(g)} TO ${u}`);
    await q('COMMIT');
  }
  const naiveCreate = performance.now() - started;
  results.push(`naive from empty: n=${N} time=${ms(naiveCreate)} queries=${queries}`);
  queries = 0;
  started = performance.now();
  let drift = 0;
  for (const [i, user] of naive.users.entries()) {
    const { rows } = await q(
      `SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON r.oid = m.roleid
         JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1`,
      [user],
    );
    if (rows.length !== naive.groupOf(i).length) drift++;
  }
  results.push(
    `naive no-op: n=${N} time=${ms(performance.now() - started)} queries=${queries} drift=${drift} (passwords not even checked)`,
  );
  await client.end();
  await dropRoles(naivePrefix);
} finally {
  await admin.end();
  await app.drop();
  for (const line of results) console.log(line);
  await running.stop();
}
