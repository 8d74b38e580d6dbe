/**
 * The scheduled calls of knative/openfaas on the real servers (apiserver, PostgreSQL, Keycloak, Grafana's
 * API), against the five periodic functions started in-process with their real setup. OpenFaaS itself
 * does not run here: its gateway's part (strip /function/<name>, copy every header but the hop-by-hop
 * ones, add X-Forwarded-*, X-Call-Id and X-Start-Time) is applied by hand, from the source cited below.
 *
 * - The cron-connector's call, byte for byte as openfaas/cron-connector 0.7.0 (b07e85a)
 *   types/cron_function.go InvokeFunction sends it (POST, no body, X-Topic and X-Connector, Go's
 *   User-Agent, Content-Length: 0 and Accept-Encoding), is refused (401) by every function; the same call
 *   with a credential added passes, so the refusal is the missing credential alone, and an authenticated
 *   empty body is the scheduled run's `{}` (200; enforce 404: its scheduled route is not /).
 * - The CronJob of schedules.yaml, its own script run with node with the CronJob's environment and a real
 *   projected-token equivalent (TokenRequest for its ServiceAccount and audience), runs each function
 *   (200, exit 0, audit actor `openfaas-schedule via system:serviceaccount:...`); beside it, the same script
 *   with another schedule's token, or its own account's token for another audience, is refused (401,
 *   exit 2). A reset cut short (one namespace per call here) answers its cursor, and the script calls on
 *   from it until the sweep is done.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig as cleanupConfig } from '../../../functions/cleanup/config.ts';
import { cleanupSetup } from '../../../functions/cleanup/index.ts';
import { loadConfig as enforceConfig } from '../../../functions/enforce/config.ts';
import { enforceSetup } from '../../../functions/enforce/index.ts';
import { loadConfig as pgReconcileConfig } from '../../../functions/pg-reconcile/config.ts';
import { pgReconcileSetup } from '../../../functions/pg-reconcile/index.ts';
import { loadConfig as resetConfig } from '../../../functions/reset/config.ts';
import { resetSetup } from '../../../functions/reset/index.ts';
import { loadConfig as syncConfig } from '../../../functions/sync/config.ts';
import { syncSetup } from '../../../functions/sync/index.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { installEverestCrds } from '../../support/crds.ts';
import { rolePrefix } from '../../support/pg-roles.ts';
import { senderVerificationEnv, serviceAccounts } from '../../support/service-accounts.ts';
import {
  ensureTenantClusterRole,
  FUNCTION_TOKEN,
  masterAdmin,
  tenantFunctionEnv,
} from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);

/**
 * Keycloak's tenant marker group (KEYCLOAK_TENANT_GROUP's default), as the first provision makes it: sync
 * refuses to run while tenant namespaces exist without it, and other files of the shared environment make
 * tenant namespaces without provisioning through Keycloak.
 */
async function ensureTenantMarkerGroup(): Promise<void> {
  const kc = await masterAdmin(env);
  const realm = env.oidc.realm;
  const found = await kc.groups.find({ realm, search: 'tenants', exact: true });
  if (found.some((g) => g.name === 'tenants')) return;
  await kc.groups.create({ realm, name: 'tenants' }).catch((error: unknown) => {
    // Made meanwhile by a provision of another file.
    if ((error as { response?: { status?: number } }).response?.status !== 409) throw error;
  });
}
const admin = env.kubernetes.adminToken;
const accounts = serviceAccounts(env.kubernetes);
const suffix = Math.random().toString(36).slice(2, 8);
/** Stands in for openfaas-fn: the schedules' ServiceAccounts, and pg-reconcile's ConfigMap and Secret. */
const NS = `ofs-${suffix}`;
const P = rolePrefix();
const PG_USER = `${P}sched`;
/** Tenants for reset, which runs one namespace per call here, so that its schedule needs several calls. */
const TENANTS = ['a', 'b', 'c'].map((x) => `ofs-${suffix}-${x}`);
/** Where schedules.yaml is dry-run as it is (NS already holds the ServiceAccounts the tests use). */
const MANIFESTS_NS = `ofs-${suffix}-manifests`;

interface CronJob {
  kind: string;
  metadata: { name: string };
  spec: {
    jobTemplate: {
      spec: {
        template: {
          spec: {
            serviceAccountName: string;
            containers: { env: { name: string; value: string }[] }[];
            volumes: {
              projected?: { sources: { serviceAccountToken?: { audience: string } }[] };
            }[];
          };
        };
      };
    };
  };
}
const docs = parseAllDocuments(
  readFileSync(new URL('../../../knative/openfaas/schedules.yaml', import.meta.url), 'utf8'),
).map((d) => d.toJS() as { kind: string; data?: Record<string, string> });
const script = docs.find((d) => d.kind === 'ConfigMap')?.data?.['scheduled-call.mjs'] ?? '';

/** What a CronJob runs: its function, the path after the gateway, its environment, account and audience. */
const schedules = docs
  .filter((d): d is CronJob & { kind: string } => d.kind === 'CronJob')
  .map((job) => {
    const pod = job.spec.jobTemplate.spec.template.spec;
    const jobEnv = Object.fromEntries((pod.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    // openfaas/faas 0.27.14 gateway/pkg/middleware/resolver.go functionMatcher.
    const [, name = '', rest = ''] =
      /^\/?(?:async-)?function\/([^/?]+)([^?]*)/.exec(new URL(jobEnv.FUNCTION_URL ?? '').pathname) ?? [];
    const audience =
      pod.volumes.flatMap((v) => v.projected?.sources ?? []).find((s) => s.serviceAccountToken)
        ?.serviceAccountToken?.audience ?? '';
    return {
      job: job.metadata.name,
      name,
      path: rest === '' ? '/' : rest,
      jobEnv,
      account: pod.serviceAccountName,
      audience,
    };
  });

let db: TestDatabase;
let pgAdmin: pg.Client;
let tokenDir: string;
const running = new Map<string, RunningFunction>();

/** A token of `account` in NS for `audience`, as the kubelet projects it, written to a file. */
async function tokenFile(account: string, audience: string): Promise<string> {
  const file = join(tokenDir, `${account}-${audience.replaceAll('/', '_')}`);
  await writeFile(file, await accounts.token(NS, account, audience), { mode: 0o600 });
  return file;
}

/**
 * The cron-connector's call as the function receives it through the gateway: cron-connector 0.7.0
 * InvokeFunction (http.NewRequest(POST, url, nil); X-Topic, X-Connector; Go's transport adds
 * User-Agent, Content-Length: 0 for a POST without body, Accept-Encoding: gzip), then the gateway
 * (faas 0.27.14 handlers/forwarding_proxy.go buildUpstreamRequest; callid_middleware.go).
 */
function cronConnectorCall(
  url: string,
  extra: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          host: 'gateway.openfaas:8080',
          'user-agent': 'Go-http-client/1.1',
          'content-length': '0',
          'x-topic': 'cron-function',
          'x-connector': 'cron-connector',
          'accept-encoding': 'gzip',
          'x-call-id': '9f3c3a8e-6f33-4c8e-a5d4-0a6c8f0d1c11',
          'x-start-time': String(Date.now() * 1_000_000),
          'x-forwarded-host': 'gateway.openfaas:8080',
          'x-forwarded-for': '10.0.0.7:41234',
          ...extra,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Runs the CronJob's script with node, as its container does, against the function started here. */
async function runSchedule(
  schedule: (typeof schedules)[number],
  token: string,
): Promise<{ exitCode: number; lines: { round?: number; status?: number; answer?: string }[] }> {
  const file = join(tokenDir, 'scheduled-call.mjs');
  await writeFile(file, script);
  const fn = running.get(schedule.name);
  const childEnv = {
    ...schedule.jobEnv,
    FUNCTION_URL: `${fn?.url ?? ''}${schedule.path}`,
    TOKEN_FILE: token,
    PATH: process.env.PATH ?? '',
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { env: childEnv }, (error, stdout) => {
      resolve({
        exitCode: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
        lines: stdout
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as { round?: number; status?: number; answer?: string }),
      });
    });
  });
}

beforeAll(async () => {
  tokenDir = await mkdtemp(join(tmpdir(), 'tl-ofs-'));
  db = await createTestDatabase(env.postgres.url, 'ofs');
  pgAdmin = new pg.Client({ connectionString: env.postgres.url });
  await pgAdmin.connect();
  await ensureTenantClusterRole(env);
  await installEverestCrds(env);
  await ensureTenantMarkerGroup();
  for (const s of schedules) await accounts.ensure(NS, s.account);
  // pg-reconcile's desired state: one user, whose role it creates on PostgreSQL.
  expect(
    await api.status('POST', `/api/v1/namespaces/${NS}/configmaps`, admin, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'postgres-users-config' },
      data: { 'users.yaml': `users:\n  - username: ${PG_USER}\n    roles: [${P}reader]\n` },
    }),
  ).toBe(201);
  expect(
    await api.status('POST', `/api/v1/namespaces/${NS}/secrets`, admin, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `user-${PG_USER.replaceAll('_', '-')}-secret` },
      data: { password: Buffer.from('scheduled-password-1').toString('base64') },
    }),
  ).toBe(201);

  /** Each function accepts its schedule's ServiceAccount (stack.yml EVENT_SENDERS) and no other. */
  const senders = (name: string) =>
    senderVerificationEnv(env.kubernetes, {
      senders: [`system:serviceaccount:${NS}:${name}-schedule`],
      self: { namespace: NS, name: 'default' },
    });
  const plain = { API_TOKEN: FUNCTION_TOKEN, LOG_LEVEL: 'silent', DATABASE_URL: db.url };
  const kube = { KUBECONFIG: env.kubernetes.kubeconfigPath };
  const where = { port: 0, host: '127.0.0.1' };
  running.set(
    'reset',
    await startFunction({
      name: 'reset',
      loadConfig: resetConfig,
      env: {
        ...plain,
        ...kube,
        REQUEST_TIMEOUT_SECONDS: '600',
        RESET_MAX_NAMESPACES_PER_RUN: '1',
        ...(await senders('reset')),
      },
      ...where,
      setup: (config, log) => Promise.resolve(resetSetup(config, log)),
    }),
  );
  running.set(
    'cleanup',
    await startFunction({
      name: 'cleanup',
      loadConfig: cleanupConfig,
      env: { ...(await tenantFunctionEnv(env, db.url)), ...(await senders('cleanup')) },
      ...where,
      setup: (config, log) => Promise.resolve(cleanupSetup(config, log)),
    }),
  );
  running.set(
    'sync',
    await startFunction({
      name: 'sync',
      loadConfig: syncConfig,
      env: { ...(await tenantFunctionEnv(env, db.url)), ...(await senders('sync')) },
      ...where,
      setup: (config, log) => Promise.resolve(syncSetup(config, log)),
    }),
  );
  running.set(
    'enforce',
    await startFunction({
      name: 'enforce',
      loadConfig: enforceConfig,
      env: { ...plain, ...kube, ...(await senders('enforce')) },
      ...where,
      setup: (config, log) => Promise.resolve(enforceSetup(config, log)),
    }),
  );
  running.set(
    'pg-reconcile',
    await startFunction({
      name: 'pg-reconcile',
      loadConfig: pgReconcileConfig,
      env: { ...plain, ...kube, PG_URL: env.postgres.url, NAMESPACE: NS, ...(await senders('pg-reconcile')) },
      ...where,
      setup: (config, log) => Promise.resolve(pgReconcileSetup(config, log)),
    }),
  );
});

afterAll(async () => {
  for (const fn of running.values()) await fn.stop();
  const { rows } = await pgAdmin.query<{ name: string }>(
    'SELECT rolname AS name FROM pg_roles WHERE starts_with(rolname, $1)',
    [P],
  );
  for (const { name } of rows) {
    await pgAdmin.query(`DROP OWNED BY ${pg.escapeIdentifier(name)}`).catch(() => undefined);
    await pgAdmin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(name)}`);
  }
  await pgAdmin.end();
  for (const namespace of [NS, MANIFESTS_NS, ...TENANTS])
    await api.send('DELETE', `/api/v1/namespaces/${namespace}`, admin);
  await db.drop();
});

describe('knative/openfaas schedules, the exact requests', () => {
  it('covers the five periodic functions', () => {
    expect(schedules.map((s) => s.name).sort()).toEqual([
      'cleanup',
      'enforce',
      'pg-reconcile',
      'reset',
      'sync',
    ]);
    expect(script).toContain('node:http');
  });

  it('is made of objects the apiserver accepts, strictly (server-side dry run)', async () => {
    const collection: Record<string, string> = {
      ConfigMap: 'api/v1/namespaces/{ns}/configmaps',
      ServiceAccount: 'api/v1/namespaces/{ns}/serviceaccounts',
      CronJob: 'apis/batch/v1/namespaces/{ns}/cronjobs',
    };
    expect(
      await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: MANIFESTS_NS } }, admin),
    ).toBe(201);
    const dryRun = (object: { kind: string; metadata: { namespace?: string } }) =>
      api.send(
        'POST',
        `/${collection[object.kind] ?? 'unknown'}?dryRun=All&fieldValidation=Strict`.replace(
          '{ns}',
          MANIFESTS_NS,
        ),
        admin,
        { ...object, metadata: { ...object.metadata, namespace: MANIFESTS_NS } },
      );
    const objects = docs as unknown as { kind: string; metadata: { name: string; namespace?: string } }[];
    expect(objects.map((o) => o.kind).sort()).toEqual(
      ['ConfigMap', ...schedules.flatMap(() => ['CronJob', 'ServiceAccount'])].sort(),
    );
    for (const object of objects) {
      const answer = await dryRun(object);
      expect(answer.status, `${object.kind} ${object.metadata.name}: ${JSON.stringify(answer.json)}`).toBe(
        201,
      );
    }
    // A misspelt field of a CronJob is refused by the same request.
    const job = objects.find((o) => o.kind === 'CronJob') as { spec: object } | undefined;
    const misspelt = { ...job, spec: { ...job?.spec, timezone: 'Etc/UTC' } };
    expect((await dryRun(misspelt as unknown as (typeof objects)[number])).status).toBe(400);
  });

  it.each(schedules.map((s) => [s.name, s] as const))(
    "%s refuses the cron-connector's call (no credential) and accepts it once a credential is added",
    async (_, s) => {
      const fn = running.get(s.name);
      // The cron-connector always calls the function's root: /function/<name> becomes /.
      const refused = await cronConnectorCall(`${fn?.url ?? ''}/`);
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toMatch(/^Bearer/);
      // Beside it, the same bytes with the schedule's token: past authentication. With no body and no
      // Content-Type, the run is the PingSource's `{}` — where the function has its scheduled route at /.
      const token = await accounts.token(NS, s.account, s.audience);
      const accepted = await cronConnectorCall(`${fn?.url ?? ''}/`, { authorization: `Bearer ${token}` });
      if (s.path === '/') {
        expect(accepted.status, accepted.body).toBe(200);
      } else {
        // enforce: its scheduled operation is at POST /enforce/apply, so a call at / finds none.
        expect(accepted.status, accepted.body).toBe(404);
        expect(s.name).toBe('enforce');
      }
    },
  );

  it.each(schedules.map((s) => [s.job, s] as const))(
    "%s: the CronJob's script runs its function with its own token, and another's is refused",
    async (_, s) => {
      const own = await runSchedule(s, await tokenFile(s.account, s.audience));
      expect(own.lines.at(-1)?.status, JSON.stringify(own.lines)).toBe(200);
      expect(own.exitCode).toBe(0);
      const actor = `openfaas-schedule via system:serviceaccount:${NS}:${s.account}`;
      expect(await auditOperations(actor)).not.toEqual([]);

      // Another schedule's account, with a token for this function's audience: not an allowed sender.
      const other = schedules.find((o) => o.name !== s.name);
      const foreign = await runSchedule(s, await tokenFile(other?.account ?? '', s.audience));
      expect(foreign.lines.at(-1)?.status).toBe(401);
      expect(foreign.exitCode).toBe(2);
      // Its own account, with a token for another function's audience.
      const elsewhere = await runSchedule(s, await tokenFile(s.account, other?.audience ?? ''));
      expect(elsewhere.lines.at(-1)?.status).toBe(401);
      expect(elsewhere.exitCode).toBe(2);
    },
  );

  it("reset-monthly: a sweep cut short answers its cursor, and the CronJob's script calls on from it", async () => {
    const s = schedules.find((x) => x.name === 'reset');
    expect(s).toBeDefined();
    if (s === undefined) return;
    const notesLeft = async () =>
      (
        await Promise.all(
          TENANTS.map((t) => api.status('GET', `/api/v1/namespaces/${t}/configmaps/notes`, admin)),
        )
      ).filter((status) => status === 200).length;
    // Made here, after sync ran: sync refuses to run on tenant namespaces without Keycloak's marker group.
    for (const tenant of TENANTS) {
      const baseline = renderBaseline({
        tenant,
        createdAt: new Date(),
        plan: defaultPlan,
        access: { user: 'oidc:x', group: 'oidc:x', clusterRole: 'edit' },
      });
      for (const object of baseline) expect(await api.create(object, admin)).toBe(201);
      const notes = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'notes', namespace: tenant } };
      expect(await api.create(notes, admin)).toBe(201);
    }
    expect(await notesLeft()).toBe(TENANTS.length);
    const run = await runSchedule(s, await tokenFile(s.account, s.audience));
    expect(run.exitCode, JSON.stringify(run.lines)).toBe(0);
    // One namespace per call (RESET_MAX_NAMESPACES_PER_RUN=1): every call but the last hands on a cursor.
    const answers = run.lines.map((l) => JSON.parse(l.answer ?? '{}') as { continue?: { after?: string } });
    expect(run.lines.length).toBeGreaterThanOrEqual(TENANTS.length);
    expect(run.lines.every((l) => l.status === 200)).toBe(true);
    expect(answers.slice(0, -1).every((a) => typeof a.continue?.after === 'string')).toBe(true);
    expect(answers.at(-1)?.continue).toBeUndefined();
    expect(await notesLeft()).toBe(0);
  });
});

/** The operations the audit log records for `actor`, from the functions' platform store. */
async function auditOperations(actor: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ operation: string }>(
      'SELECT operation FROM tenant_lifecycle.audit_log WHERE actor = $1',
      [actor],
    );
    return rows.map((r) => r.operation);
  } finally {
    await client.end();
  }
}
