/**
 * The fault suite: each of PostgreSQL, Keycloak, the kube-apiserver and the Grafana API is frozen (SIGSTOP
 * to it and every process below it) or killed (SIGKILL) while provision, deprovision, reset and sync run
 * against it at once, on servers of this file's own (fault-env.ts). Every call must answer, before this
 * test's generous timeout, with a retryable problem (503 `unavailable` or 504 `timeout`) naming the system
 * that failed; an operation that never calls that system must succeed. Then the server is thawed
 * (SIGCONT) or started again on its data, one sync runs, and:
 *   - no half tenant: every tenant namespace has its Keycloak user and every Keycloak tenant its namespace
 *     and Grafana user, but for the orphans that sync reports;
 *   - no audit record is missing: every request that changed something has its record (found by request
 *     id); a request answered while the store itself was down has none, and then it changed nothing;
 *   - the positive control: the same operations succeed after recovery.
 * The first test is the positive control on healthy servers.
 *
 * Not covered: killing Keycloak. The test environment runs Keycloak on its in-memory dev database, so a
 * killed Keycloak comes back without the realm, its clients and its users: what follows would test a
 * restore, not a recovery. A refused connection is covered by the three other kills, and Keycloak's
 * unanswered calls by its freeze.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { loadConfig as loadResetConfig } from '../../functions/reset/config.ts';
import { resetSetup } from '../../functions/reset/index.ts';
import { loadConfig as loadSyncConfig } from '../../functions/sync/config.ts';
import { syncSetup } from '../../functions/sync/index.ts';
import { GrafanaAdmin } from '../../shared/adapters/grafana/client.ts';
import { startFunction, type RunningFunction } from '../../shared/platform/server.ts';
import { tenantNamespaceSelector } from '../../shared/tenancy/labels.ts';
import type { SyncReport } from '../../shared/tenancy/sync.ts';
import { createTestDatabase, type TestDatabase } from '../env/databases.ts';
import { masterAdmin } from '../env/keycloak-realms.ts';
import { logTail } from '../env/process.ts';
import type { TestEnv } from '../env/provided.ts';
import { apiserver } from '../support/apiserver.ts';
import {
  ensureTenantClusterRole,
  FUNCTION_TOKEN,
  startTenantFunctions,
  tenantFunctionEnv,
  type RunningTenantFunctions,
} from '../support/tenant-functions.ts';
import { startFaultEnv, type FaultEnv, type FaultedSystem } from './fault-env.ts';

/**
 * Bounds small enough that a faulted call fails in seconds, each call and its two retries inside the
 * request: what an operator would set, only shorter.
 */
const TIMEOUTS = {
  KUBERNETES_TIMEOUT_SECONDS: '3',
  KEYCLOAK_TIMEOUT_SECONDS: '3',
  GRAFANA_TIMEOUT_SECONDS: '3',
  DATABASE_CONNECT_TIMEOUT_SECONDS: '3',
  DATABASE_STATEMENT_TIMEOUT_SECONDS: '3',
  DATABASE_LOCK_TIMEOUT_SECONDS: '3',
};
/** Only a hang fails this: a faulted call answers within its bound and retries, well below it. */
const ANSWER_WITHIN_MS = 120_000;

type Operation = 'provision' | 'deprovision' | 'reset' | 'sync';
/** Which systems each operation calls: one that does not call the faulted system must succeed. */
const calls: Readonly<Record<Operation, readonly FaultedSystem[]>> = {
  provision: ['postgres', 'keycloak', 'kubernetes', 'grafana'],
  deprovision: ['postgres', 'keycloak', 'kubernetes', 'grafana'],
  sync: ['postgres', 'keycloak', 'kubernetes', 'grafana'],
  reset: ['postgres', 'kubernetes'],
};

interface Answer {
  readonly operation: Operation;
  readonly requestId: string;
  readonly status: number;
  readonly contentType: string;
  readonly body: Record<string, unknown>;
}

let faults: FaultEnv;
let env: TestEnv;
let db: TestDatabase;
let tenants: RunningTenantFunctions;
let reset: RunningFunction;
let sync: RunningFunction;
let grafana: GrafanaAdmin;
let store: pg.Pool;

beforeAll(async () => {
  faults = await startFaultEnv();
  env = faults.env;
  db = await createTestDatabase(env.postgres.url, 'faults');
  await ensureTenantClusterRole(env);
  const overrides = { ...TIMEOUTS, GRAFANA_URL: env.grafana.url };
  tenants = await startTenantFunctions(env, db.url, { overrides });
  sync = await startFunction({
    name: 'sync',
    loadConfig: loadSyncConfig,
    env: await tenantFunctionEnv(env, db.url, overrides),
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(syncSetup(config, log)),
  });
  reset = await startFunction({
    name: 'reset',
    loadConfig: loadResetConfig,
    env: {
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_URL: db.url,
      KUBECONFIG: env.kubernetes.kubeconfigPath,
      ...TIMEOUTS,
    },
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(resetSetup(config, log)),
  });
  grafana = new GrafanaAdmin({
    url: env.grafana.url,
    adminUser: env.grafana.adminUser,
    adminPassword: env.grafana.adminPassword,
  });
  store = new pg.Pool({ connectionString: db.url, max: 2 });
  // The test's own connections break when PostgreSQL is killed; the pool replaces them.
  store.on('error', () => undefined);
}, 400_000);

afterAll(async () => {
  // Whatever a failed test left frozen is thawed, so that everything can stop.
  for (const server of Object.values(faults.servers)) server.signalAll('SIGCONT');
  await store.end();
  await grafana.close();
  await reset.stop();
  await sync.stop();
  await tenants.stop();
  await db.drop();
  await faults.stop();
}, 120_000);

async function send(operation: Operation, body: unknown, requestId: string): Promise<Answer> {
  const [fn, method, path] =
    operation === 'provision'
      ? [tenants.provision, 'POST', '/provisioner']
      : operation === 'deprovision'
        ? [tenants.deprovision, 'DELETE', '/provisioner']
        : operation === 'reset'
          ? [reset, 'POST', '/reset']
          : [sync, 'POST', '/sync'];
  const response = await fetch(`${fn.url}${path}`, {
    method,
    headers: {
      authorization: FUNCTION_TOKEN,
      'content-type': 'application/json',
      'x-request-id': requestId,
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
  });
  return {
    operation,
    requestId,
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    body: (await response.json()) as Record<string, unknown>,
  };
}

const api = () => apiserver(env.kubernetes);
const admin = () => env.kubernetes.adminToken;

async function namespaceExists(name: string): Promise<boolean> {
  const answer = await api().send('GET', `/api/v1/namespaces/${name}`, admin());
  const deleting =
    (answer.json as { metadata?: { deletionTimestamp?: string } } | undefined)?.metadata
      ?.deletionTimestamp !== undefined;
  return answer.status === 200 && !deleting;
}

async function keycloakUserExists(username: string): Promise<boolean> {
  const kc = await masterAdmin(env.keycloak);
  return (await kc.users.find({ realm: env.oidc.realm, username, exact: true })).length > 0;
}

/** Tenant namespaces (not being deleted), Keycloak tenants (marker group members), Grafana logins. */
async function tenantState(): Promise<{ namespaces: string[]; identities: string[]; grafana: string[] }> {
  const list = await api().send(
    'GET',
    `/api/v1/namespaces?labelSelector=${encodeURIComponent(tenantNamespaceSelector)}`,
    admin(),
  );
  const namespaces = (
    (list.json as { items?: { metadata: { name: string; deletionTimestamp?: string } }[] }).items ?? []
  )
    .filter((n) => n.metadata.deletionTimestamp === undefined)
    .map((n) => n.metadata.name);
  const kc = await masterAdmin(env.keycloak);
  const marker = (await kc.groups.find({ realm: env.oidc.realm, search: 'tenants' })).find(
    (g) => g.name === 'tenants',
  );
  const members =
    marker?.id === undefined
      ? []
      : await kc.groups.listMembers({ realm: env.oidc.realm, id: marker.id, max: 1000 });
  const logins: string[] = [];
  for await (const page of grafana.searchUsers()) logins.push(...page.map((u) => u.login));
  return {
    namespaces: namespaces.sort(),
    identities: members.map((m) => m.username ?? '').sort(),
    grafana: logins.sort(),
  };
}

async function auditRows(requestId: string): Promise<{ outcome: string; operation: string }[]> {
  const { rows } = await store.query<{ outcome: string; operation: string }>(
    'SELECT outcome, operation FROM tenant_lifecycle.audit_log WHERE request_id = $1',
    [requestId],
  );
  return rows;
}

async function createNote(namespace: string): Promise<void> {
  const status = await api().create(
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'notes', namespace } },
    admin(),
  );
  expect(status).toBe(201);
}

const noteExists = async (namespace: string): Promise<boolean> =>
  (await api().status('GET', `/api/v1/namespaces/${namespace}/configmaps/notes`, admin())) === 200;

/** A provision or deprovision request for the tenant `username` (the email's local part names it). */
const tenantRequest = (username: string) => ({ full_name: 'Fault Test', email: `${username}@example.org` });

/** Provisions `username` and checks it worked: the positive control of every case. */
async function provisioned(username: string): Promise<void> {
  const answer = await send('provision', tenantRequest(username), randomUUID());
  expect(answer, JSON.stringify(answer.body)).toMatchObject({ status: 200 });
  expect(await namespaceExists(username)).toBe(true);
}

/** On failure: the tail of every server's log, and nothing left frozen for the next case. */
function printLogsOnFailure(): void {
  onTestFailed(async () => {
    for (const server of Object.values(faults.servers)) {
      server.signalAll('SIGCONT');
      console.error(`--- last lines of ${server.logFile} ---\n${await logTail(server.logFile, 25)}`);
    }
  });
}

describe('faults', () => {
  it('positive control: on healthy servers all four operations succeed and are audited', async () => {
    printLogsOnFailure();
    await provisioned('ok-gone');
    await provisioned('ok-keep');
    await createNote('ok-keep');
    const answers = await Promise.all([
      send('provision', tenantRequest('ok-new'), 'ok-provision'),
      send('deprovision', tenantRequest('ok-gone'), 'ok-deprovision'),
      send('reset', { username: 'ok-keep' }, 'ok-reset'),
    ]);
    answers.push(await send('sync', {}, 'ok-sync'));
    for (const answer of answers) expect(answer, JSON.stringify(answer.body)).toMatchObject({ status: 200 });
    expect(await noteExists('ok-keep')).toBe(false);
    for (const id of ['ok-provision', 'ok-deprovision', 'ok-reset'])
      expect(await auditRows(id)).toContainEqual(expect.objectContaining({ outcome: 'success' }));
  });

  const cases: readonly { system: FaultedSystem; fault: 'freeze' | 'kill' }[] = [
    { system: 'postgres', fault: 'freeze' },
    { system: 'postgres', fault: 'kill' },
    { system: 'keycloak', fault: 'freeze' },
    { system: 'kubernetes', fault: 'freeze' },
    { system: 'kubernetes', fault: 'kill' },
    { system: 'grafana', fault: 'freeze' },
    { system: 'grafana', fault: 'kill' },
  ];

  it.each(cases)(
    '$fault $system: retryable answers naming it, then one sync repairs',
    async ({ system, fault }) => {
      printLogsOnFailure();
      const tag = `${fault === 'freeze' ? 'fz' : 'kl'}-${system.slice(0, 4)}`;
      const names = { gone: `${tag}-gone`, keep: `${tag}-keep`, added: `${tag}-new`, after: `${tag}-after` };
      // Positive control before the fault: the servers are healthy.
      await provisioned(names.gone);
      await provisioned(names.keep);
      await createNote(names.keep);

      const server = faults.servers[system];
      server.signalAll(fault === 'freeze' ? 'SIGSTOP' : 'SIGKILL');
      let answers: Answer[];
      try {
        // Sync runs after the others: it repairs every tenant, and racing a provision of the same
        // tenant is not what this test is about.
        answers = await Promise.all([
          send('provision', tenantRequest(names.added), `${tag}-provision`),
          send('deprovision', tenantRequest(names.gone), `${tag}-deprovision`),
          send('reset', { username: names.keep }, `${tag}-reset`),
        ]);
        answers.push(await send('sync', {}, `${tag}-sync`));
      } finally {
        if (fault === 'freeze') server.signalAll('SIGCONT');
        else await server.restart();
      }

      for (const answer of answers) {
        const shown = JSON.stringify(answer);
        if (calls[answer.operation].includes(system)) {
          expect([503, 504], shown).toContain(answer.status);
          expect(answer.contentType, shown).toMatch(/^application\/problem\+json/);
          expect(answer.body, shown).toMatchObject({ retryable: true, upstream: system });
          expect(answer.body.type, shown).toBe(
            `urn:tenant-lifecycle:problem:${answer.status === 504 ? 'timeout' : 'unavailable'}`,
          );
          expect(answer.body.detail, shown).toEqual(expect.any(String));
        } else {
          expect(answer.status, shown).toBe(200);
        }
      }

      // While the store was down nothing could be recorded, and then nothing may have changed: checked
      // here, before the recovery sync repairs anything.
      const unrecorded: Operation[] = [];
      const missingRecords: Operation[] = [];
      for (const answer of answers) {
        if (answer.operation === 'sync') continue;
        const rows = await auditRows(answer.requestId);
        if (answer.status === 200)
          expect(rows, answer.operation).toContainEqual(expect.objectContaining({ outcome: 'success' }));
        else if (answer.body.auditRecord === 'missing') {
          // The change was made and the answer says its record could not be written (never a silent
          // success): only the store being the faulted server may cause that. A frozen store may still
          // write the record once it thaws (the client had given up on the INSERT, the server had not).
          expect(system, answer.operation).toBe('postgres');
          expect(answer.status, answer.operation).toBe(503);
          expect(
            rows.filter((r) => r.outcome !== 'success'),
            answer.operation,
          ).toEqual([]);
          missingRecords.push(answer.operation);
        } else if (rows.length === 0) unrecorded.push(answer.operation);
        else
          expect(
            rows.map((r) => r.outcome),
            answer.operation,
          ).toContain('failure');
      }
      if (system !== 'postgres') expect([...unrecorded, ...missingRecords]).toEqual([]);
      if (unrecorded.includes('provision')) {
        expect(await namespaceExists(names.added)).toBe(false);
        expect(await keycloakUserExists(names.added)).toBe(false);
      }
      if (unrecorded.includes('deprovision')) {
        expect(await namespaceExists(names.gone)).toBe(true);
        expect(await keycloakUserExists(names.gone)).toBe(true);
      }
      if (unrecorded.includes('reset')) expect(await noteExists(names.keep)).toBe(true);

      // Recovery: one sync, then no half tenant.
      const repair = await send('sync', {}, `${tag}-repair`);
      expect(repair.status, JSON.stringify(repair.body)).toBe(200);
      const report = repair.body as unknown as SyncReport;
      expect(report.results.failed_fixes).toEqual([]);
      if (report.results.fixed_users.length > 0) expect(await auditRows(`${tag}-repair`)).not.toEqual([]);
      const state = await tenantState();
      const orphans = new Set(report.results.orphans.namespaces);
      expect(state.namespaces.filter((n) => !orphans.has(n) && !state.identities.includes(n))).toEqual([]);
      expect(state.identities.filter((u) => !state.namespaces.includes(u))).toEqual([]);
      expect(state.identities.filter((u) => !state.grafana.includes(u))).toEqual([]);

      // Positive control after recovery: the same operations succeed.
      if (!(await noteExists(names.keep))) await createNote(names.keep);
      const again = await Promise.all([
        send('provision', tenantRequest(names.after), `${tag}-provision-after`),
        send('deprovision', tenantRequest(names.gone), `${tag}-deprovision-after`),
        send('reset', { username: names.keep }, `${tag}-reset-after`),
      ]);
      again.push(await send('sync', {}, `${tag}-sync-after`));
      for (const answer of again) expect(answer, JSON.stringify(answer.body)).toMatchObject({ status: 200 });
      expect(await namespaceExists(names.after)).toBe(true);
      expect(await namespaceExists(names.gone)).toBe(false);
      expect(await noteExists(names.keep)).toBe(false);
      for (const id of [`${tag}-provision-after`, `${tag}-deprovision-after`, `${tag}-reset-after`])
        expect(await auditRows(id), id).toContainEqual(expect.objectContaining({ outcome: 'success' }));
    },
  );
});
