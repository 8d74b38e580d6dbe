/**
 * make bench BENCH=bench/load.ts: mixed concurrent operations on the local real stack (kube-apiserver,
 * Keycloak, PostgreSQL, the test environment's Grafana API), the checked-out code side by side with a base
 * commit (by default 3ef231b, the code as issue 14 found it), one instance of each function and two
 * instances sharing the store, each at 8 operations in flight and at the manifests' containerConcurrency.
 *
 * The base runs from a `git worktree` of its commit under the system's temp dir (node_modules linked to
 * this checkout's), and every function instance runs in its own process (bench/load-instance.ts) with the
 * code, configuration and test wiring of its own checkout; both talk to the same servers, each run to a
 * fresh database. A run: warm-up (one provision and deprovision per instance), 10 tenants seeded, then one
 * queue of operations driven N in flight, spread round-robin over the instances: provisions of 50 distinct
 * tenants, a burst of 10 identical provisions of one tenant, deprovisions of the 10 seeded tenants, and a
 * full sync run started once a third of the queue is issued. Every request carries its own X-Request-ID, and
 * the audit log is read back by those ids: each operation that ran must have exactly one record, and one
 * turned away at the tenant's lock (busy 409 with Retry-After, or the store failing at the lock) none.
 *
 * Reported per run: answers per status, p50/p95/max latency by kind and overall, when the 50th distinct
 * provision answered, total wall time, 5xx count, audit rows against operations, and where the time went
 * (each instance's outbound calls per server with latency and most in flight, pg pool waits, lock and audit
 * statements, CPU; the test servers' CPU). Figures go to docs/benchmarks.md by hand; the goals (issue 14:
 * 50 tenants in <= 30 s at 8 in flight, p95 <= 1 s) are not asserted. The bench exits non-zero when a run of
 * the checked-out code answered a 5xx (or nothing), when its audit rows differ from that, or when
 * cleaning up left something behind; the base's runs are the comparison and fail nothing.
 *
 * Cleanup: every tenant a run may have made is deprovisioned through the run's own function, anything left
 * (a half tenant of a failed run) is removed with the servers' admin APIs, then the run's Keycloak clients
 * and database are deleted; the base's worktree is removed at the end if this run added it.
 *
 * Settings: BENCH_LOAD_BASE (commit), BENCH_LOAD_TENANTS (50), BENCH_LOAD_SAME (10), BENCH_LOAD_SEEDED (10),
 * BENCH_LOAD_IN_FLIGHT (e.g. "8,50"; default 8 and containerConcurrency), BENCH_LOAD_INSTANCES ("1,2"),
 * BENCH_LOAD_VARIANTS ("base,head"), TL_TESTENV_FILE (use a running test environment).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, realpathSync, symlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import pLimit from 'p-limit';
import YAML from 'yaml';
import { GrafanaAdmin } from '../shared/adapters/grafana/client.ts';
import { createTestDatabase, type TestDatabase } from '../test/env/databases.ts';
import { startTestEnv, type RunningTestEnv } from '../test/env/environment.ts';
import type { TestEnv } from '../test/env/provided.ts';
import { apiserver } from '../test/support/apiserver.ts';
import { ensureTenantClusterRole, FUNCTION_TOKEN, masterAdmin } from '../test/support/tenant-functions.ts';
import type {
  BenchFunction,
  CallTimes,
  InstanceAnswer,
  InstanceProfile,
  InstanceRequest,
} from './load-instance.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const BASE = process.env.BENCH_LOAD_BASE ?? '3ef231b';
const TENANTS = Number(process.env.BENCH_LOAD_TENANTS ?? 50);
const SAME = Number(process.env.BENCH_LOAD_SAME ?? 10);
const SEEDED = Number(process.env.BENCH_LOAD_SEEDED ?? 10);
const list = (value: string | undefined): string[] | undefined =>
  value
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
/** How long the bench waits for one answer before counting it as none. */
const ANSWER_TIMEOUT_MS = 180_000;

// ---------------------------------------------------------------------------------------------------------
// What the manifests say: containerConcurrency and REQUEST_TIMEOUT_SECONDS of each function's Service.

interface ServiceSettings {
  readonly containerConcurrency: number;
  readonly requestTimeoutSeconds: string;
}

function manifestSettings(): Map<string, ServiceSettings> {
  const settings = new Map<string, ServiceSettings>();
  const text = readFileSync(join(repoRoot, 'knative/base/services.yaml'), 'utf8');
  for (const document of YAML.parseAllDocuments(text)) {
    const service = document.toJS() as {
      kind?: string;
      metadata?: { name?: string };
      spec?: {
        template?: {
          spec?: {
            containerConcurrency?: number;
            containers?: { env?: { name: string; value?: string }[] }[];
          };
        };
      };
    } | null;
    const spec = service?.spec?.template?.spec;
    const name = service?.metadata?.name;
    if (service?.kind !== 'Service' || name === undefined || spec?.containerConcurrency === undefined)
      continue;
    const timeout = spec.containers?.[0]?.env?.find((e) => e.name === 'REQUEST_TIMEOUT_SECONDS')?.value;
    settings.set(name, {
      containerConcurrency: spec.containerConcurrency,
      requestTimeoutSeconds: timeout ?? '300',
    });
  }
  return settings;
}

// ---------------------------------------------------------------------------------------------------------
// The two checkouts.

interface Variant {
  readonly key: 'base' | 'head';
  readonly label: string;
  readonly root: string;
}

const git = (args: readonly string[], cwd = repoRoot): string =>
  execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

/** The base commit's checkout: a worktree under the temp dir, added now unless a previous run left it. */
function baseCheckout(): { variant: Variant; remove: () => void } {
  const sha = git(['rev-parse', '--verify', `${BASE}^{commit}`]);
  const dir = join(tmpdir(), `tenant-lifecycle-load-${sha.slice(0, 12)}`);
  let added = false;
  if (!existsSync(dir)) {
    git(['worktree', 'add', '--detach', dir, sha]);
    added = true;
  } else if (git(['rev-parse', 'HEAD'], dir) !== sha) {
    throw new Error(`${dir} exists but is not a checkout of ${sha}: remove it (git worktree remove)`);
  }
  if (!existsSync(join(dir, 'node_modules')))
    symlinkSync(realpathSync(join(repoRoot, 'node_modules')), join(dir, 'node_modules'));
  return {
    variant: { key: 'base', label: `base ${sha.slice(0, 7)}`, root: dir },
    remove: () => {
      if (added && process.env.BENCH_LOAD_KEEP_BASE !== '1') git(['worktree', 'remove', '--force', dir]);
    },
  };
}

function headVariant(): Variant {
  const changed = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  return {
    key: 'head',
    label: `HEAD ${git(['rev-parse', '--short=7', 'HEAD'])}${changed ? '+changes' : ''}`,
    root: repoRoot,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Function instances: one process each (bench/load-instance.ts).

interface Instance {
  readonly url: string;
  profile(): Promise<InstanceProfile>;
  stop(): Promise<void>;
}

function nextAnswer(child: ChildProcess, kind: InstanceAnswer['kind']): Promise<InstanceAnswer> {
  return new Promise((resolve, reject) => {
    const onMessage = (answer: InstanceAnswer) => {
      if (answer.kind !== kind && answer.kind !== 'failed') return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (answer.kind === 'failed') reject(new Error(answer.message));
      else resolve(answer);
    };
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      reject(new Error(`instance process exited (${String(code)}) before answering ${kind}`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

const instanceScript = fileURLToPath(new URL('./load-instance.ts', import.meta.url));

function forkInstance(): ChildProcess {
  return fork(instanceScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

async function functionEnvs(
  variant: Variant,
  testEnv: TestEnv,
  databaseUrl: string,
): Promise<Readonly<Record<string, Record<string, string>>>> {
  const child = forkInstance();
  const answer = nextAnswer(child, 'env');
  const request: InstanceRequest = {
    kind: 'env',
    root: variant.root,
    testEnv,
    databaseUrl,
    functions: ['provision', 'deprovision', 'sync'],
  };
  child.send(request);
  const { envs } = (await answer) as Extract<InstanceAnswer, { kind: 'env' }>;
  return envs;
}

async function startInstance(
  variant: Variant,
  name: BenchFunction,
  functionEnv: Record<string, string>,
): Promise<Instance> {
  const child = forkInstance();
  const ready = nextAnswer(child, 'ready');
  const request: InstanceRequest = { kind: 'serve', root: variant.root, name, functionEnv };
  child.send(request);
  const { url } = (await ready) as Extract<InstanceAnswer, { kind: 'ready' }>;
  return {
    url,
    profile: async () => {
      const answer = nextAnswer(child, 'profile');
      child.send({ kind: 'profile' } satisfies InstanceRequest);
      return ((await answer) as Extract<InstanceAnswer, { kind: 'profile' }>).profile;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ kind: 'stop' } satisfies InstanceRequest);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// CPU time of the test servers' processes (Linux /proc), to see where the machine's time went.

const CLOCK_TICKS = 100;
const cores = availableParallelism();

function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime are fields 14-17 of stat(5); fields[0] here is field 3.
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

function children(pid: number): number[] {
  try {
    return readdirSync(`/proc/${String(pid)}/task`).flatMap((task) =>
      readFileSync(`/proc/${String(pid)}/task/${task}/children`, 'utf8')
        .split(' ')
        .filter((s) => s !== '')
        .map(Number),
    );
  } catch {
    return [];
  }
}

/** CPU of a process and its descendants (exited ones are in their parent's cutime/cstime). */
function treeCpuMs(pid: number): number {
  return processCpuMs(pid) + children(pid).reduce((sum, child) => sum + treeCpuMs(child), 0);
}

function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The test servers' process trees, found by the environment's work dir in their command lines. */
function serverProcesses(workDir: string): Map<string, number> {
  const found = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (!cmdline.includes(workDir)) continue;
    const name = ['keycloak', 'kube-apiserver', 'kube-controller-manager', 'etcd', 'postgres'].find((n) =>
      cmdline.includes(n),
    );
    if (name !== undefined) found.set(Number(entry), name);
  }
  const roots = new Map<string, number>();
  for (const [pid, name] of found) {
    let parent: number;
    try {
      parent = parentPid(pid);
    } catch {
      continue;
    }
    if (!found.has(parent)) roots.set(name, pid);
  }
  return roots;
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: total - idle, total };
}

// ---------------------------------------------------------------------------------------------------------
// Operations.

type Kind = 'provision' | 'provision-same' | 'deprovision' | 'sync';

interface Operation {
  readonly kind: Kind;
  readonly url: string;
  readonly method: 'POST' | 'DELETE';
  readonly body: unknown;
  readonly requestId: string;
}

interface Outcome {
  readonly kind: Kind;
  readonly requestId: string;
  /** 0: no answer (connection error or the bench's own timeout). */
  readonly status: number;
  /** The answer said when to retry (Retry-After): a busy lock or store. */
  readonly retryAfter: boolean;
  readonly ms: number;
  readonly endedAt: number;
  readonly detail?: string;
}

async function send(operation: Operation, startOfLoad: number): Promise<Outcome> {
  const started = performance.now();
  const done = (status: number, detail?: string, retryAfter = false): Outcome => {
    const ended = performance.now();
    return {
      kind: operation.kind,
      requestId: operation.requestId,
      status,
      retryAfter,
      ms: ended - started,
      endedAt: ended - startOfLoad,
      ...(detail === undefined ? {} : { detail }),
    };
  };
  try {
    const response = await fetch(operation.url, {
      method: operation.method,
      headers: {
        authorization: FUNCTION_TOKEN,
        'content-type': 'application/json',
        'x-request-id': operation.requestId,
      },
      body: JSON.stringify(operation.body),
      signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
    });
    const text = await response.text();
    const retryAfter = response.headers.has('retry-after');
    if (response.ok) return done(response.status);
    let detail = text.slice(0, 200);
    try {
      const problem = JSON.parse(text) as { detail?: unknown };
      if (typeof problem.detail === 'string') detail = problem.detail;
    } catch {
      // not a problem document: keep the text
    }
    return done(response.status, detail, retryAfter);
  } catch (error) {
    return done(0, error instanceof Error ? error.message : String(error));
  }
}

/** A tenant's full name; its tenant name is the slug: "Load ab12 7" -> "load-ab12-7". */
const fullName = (run: string, suffix: string): string => `Load ${run} ${suffix}`;
const tenant = (run: string, suffix: string): string => `load-${run}-${suffix}`;

// ---------------------------------------------------------------------------------------------------------
// One run.

interface RunResult {
  readonly variant: Variant;
  readonly instances: number;
  readonly inFlight: number;
  readonly outcomes: readonly Outcome[];
  readonly provisionedInMs: number;
  readonly wallMs: number;
  readonly auditRows: number;
  /**
   * Operations whose audit records are not what they should be (exactly one for an operation that ran,
   * none for one turned away at the lock): request kind, answer status, records found.
   */
  readonly auditMismatches: readonly { kind: Kind; status: number; rows: number }[];
  readonly profiles: Readonly<Record<string, InstanceProfile[]>>;
  readonly serverCpuMs: Readonly<Record<string, number>>;
  readonly machineBusyCores: number;
  readonly cleanup: { readonly deprovisioned: number; readonly removedDirectly: readonly string[] };
}

async function auditCounts(databaseUrl: string, requestIds: readonly string[]): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ request_id: string; n: string }>(
      `SELECT request_id, count(*) AS n FROM tenant_lifecycle.audit_log
        WHERE request_id = ANY($1::text[]) GROUP BY request_id`,
      [requestIds],
    );
    return new Map(rows.map((r) => [r.request_id, Number(r.n)]));
  } finally {
    await client.end();
  }
}

async function run(
  testEnv: TestEnv,
  variant: Variant,
  instances: number,
  inFlight: number,
  runTag: string,
  settings: Map<string, ServiceSettings>,
): Promise<RunResult> {
  const db: TestDatabase = await createTestDatabase(testEnv.postgres.url, 'bench_load');
  const envs = await functionEnvs(variant, testEnv, db.url);
  const withTimeout = (name: BenchFunction) => ({
    ...envs[name],
    REQUEST_TIMEOUT_SECONDS: settings.get(name)?.requestTimeoutSeconds ?? '300',
  });
  const started: { name: BenchFunction; instance: Instance }[] = [];
  const start = async (name: BenchFunction): Promise<Instance> => {
    const instance = await startInstance(variant, name, withTimeout(name));
    started.push({ name, instance });
    return instance;
  };
  const names: string[] = [];
  try {
    const provisions: Instance[] = [];
    const deprovisions: Instance[] = [];
    for (let i = 0; i < instances; i++) {
      provisions.push(await start('provision'));
      deprovisions.push(await start('deprovision'));
    }
    const syncer = await start('sync');
    let requestNumber = 0;
    const operation = (kind: Kind, target: Instance, body: unknown): Operation => ({
      kind,
      url: `${target.url}/${kind === 'sync' ? 'sync' : 'provisioner'}`,
      method: kind === 'deprovision' ? 'DELETE' : 'POST',
      body,
      requestId: `load-${runTag}-${String(requestNumber++)}`,
    });
    const mustSucceed = async (op: Operation): Promise<void> => {
      const outcome = await send(op, performance.now());
      if (outcome.status !== 200)
        throw new Error(
          `${op.kind} before the load answered ${String(outcome.status)} ${outcome.detail ?? ''}`,
        );
    };

    // Warm-up: each instance's first call (Keycloak token, pool, schema); the seeded tenants.
    for (let i = 0; i < instances; i++) {
      const body = { full_name: fullName(runTag, `warm-${String(i)}`) };
      names.push(tenant(runTag, `warm-${String(i)}`));
      await mustSucceed(operation('provision', provisions[i] as Instance, body));
      await mustSucceed(operation('deprovision', deprovisions[i] as Instance, body));
    }
    await mustSucceed(operation('sync', syncer, { dryRun: true }));
    for (let i = 0; i < SEEDED; i++) {
      names.push(tenant(runTag, `seed-${String(i)}`));
      await mustSucceed(
        operation('provision', provisions[i % instances] as Instance, {
          full_name: fullName(runTag, `seed-${String(i)}`),
        }),
      );
    }

    // The queue: distinct provisions, deprovisions of the seeded tenants among them, the identical burst.
    const queue: Operation[] = [];
    const every = Math.max(1, Math.floor(TENANTS / Math.max(1, SEEDED)));
    let seeded = 0;
    for (let i = 0; i < TENANTS; i++) {
      names.push(tenant(runTag, String(i)));
      queue.push(
        operation('provision', provisions[i % instances] as Instance, {
          full_name: fullName(runTag, String(i)),
        }),
      );
      if (i % every === every - 1 && seeded < SEEDED) {
        queue.push(
          operation('deprovision', deprovisions[seeded % instances] as Instance, {
            full_name: fullName(runTag, `seed-${String(seeded)}`),
          }),
        );
        seeded++;
      }
      if (i === Math.floor(TENANTS * 0.4)) {
        names.push(tenant(runTag, 'same'));
        for (let j = 0; j < SAME; j++)
          queue.push(
            operation('provision-same', provisions[j % instances] as Instance, {
              full_name: fullName(runTag, 'same'),
            }),
          );
      }
    }
    for (; seeded < SEEDED; seeded++)
      queue.push(
        operation('deprovision', deprovisions[seeded % instances] as Instance, {
          full_name: fullName(runTag, `seed-${String(seeded)}`),
        }),
      );
    const syncOperation = operation('sync', syncer, {});

    for (const { instance } of started) await instance.profile(); // start the profiles here
    const servers = serverProcesses(testEnv.workDir);
    const cpuBefore = new Map([...servers].map(([name, pid]) => [name, treeCpuMs(pid)]));
    const machineBefore = machineTicks();

    const startOfLoad = performance.now();
    const outcomes: Outcome[] = [];
    let next = 0;
    let syncRun: Promise<Outcome> | undefined;
    const worker = async (): Promise<void> => {
      for (let op = queue[next]; op !== undefined; op = queue[next]) {
        next++;
        if (syncRun === undefined && next >= queue.length / 3) syncRun = send(syncOperation, startOfLoad);
        outcomes.push(await send(op, startOfLoad));
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    outcomes.push(await (syncRun ?? send(syncOperation, startOfLoad)));
    const wallMs = performance.now() - startOfLoad;

    const machineAfter = machineTicks();
    const serverCpuMs = Object.fromEntries(
      [...servers].map(([name, pid]) => [name, treeCpuMs(pid) - (cpuBefore.get(name) ?? 0)]),
    );
    const profiles: Record<string, InstanceProfile[]> = {};
    for (const { name, instance } of started) (profiles[name] ??= []).push(await instance.profile());
    const provisionedInMs = Math.max(
      0,
      ...outcomes.filter((o) => o.kind === 'provision').map((o) => o.endedAt),
    );

    const counts = await auditCounts(
      db.url,
      outcomes.map((o) => o.requestId),
    );
    const auditMismatches = outcomes
      .filter((o) => (counts.get(o.requestId) ?? 0) !== (turnedAway(o) ? 0 : 1))
      .map((o) => ({ kind: o.kind, status: o.status, rows: counts.get(o.requestId) ?? 0 }));

    const cleanup = await removeTenants(testEnv, deprovisions[0] as Instance, runTag, names);
    return {
      variant,
      instances,
      inFlight,
      outcomes,
      provisionedInMs,
      wallMs,
      auditRows: [...counts.values()].reduce((a, b) => a + b, 0),
      auditMismatches,
      profiles,
      serverCpuMs,
      machineBusyCores:
        (machineAfter.busy - machineBefore.busy) / ((machineAfter.total - machineBefore.total) / 2),
      cleanup,
    };
  } finally {
    for (const { instance } of started) await instance.stop();
    await deleteServiceClients(
      testEnv,
      Object.values(envs).map((e) => e.KEYCLOAK_CLIENT_ID ?? ''),
    );
    await db.drop();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Cleanup.

/**
 * Deprovisions every tenant the run may have made (4 at a time) through the run's own function, then
 * removes whatever is left under the run's prefix (a half tenant of a failed operation) with the servers'
 * admin APIs: Keycloak users and tenant groups, Grafana users, namespaces.
 */
async function removeTenants(
  testEnv: TestEnv,
  deprovision: Instance,
  runTag: string,
  names: readonly string[],
): Promise<RunResult['cleanup']> {
  const limit = pLimit(4);
  const answers = await Promise.all(
    names.map((name) =>
      limit(() => {
        const suffix = name.slice(`load-${runTag}-`.length);
        return send(
          {
            kind: 'deprovision',
            url: `${deprovision.url}/provisioner`,
            method: 'DELETE',
            body: { full_name: fullName(runTag, suffix) },
            requestId: `load-${runTag}-cleanup-${suffix}`,
          },
          performance.now(),
        );
      }),
    ),
  );
  const deprovisioned = answers.filter((a) => a.status === 200).length;
  return { deprovisioned, removedDirectly: await removeLeftovers(testEnv, `load-${runTag}-`) };
}

/** Removes, and names, everything left under `prefix`; namespaces being deleted count as gone. */
async function removeLeftovers(testEnv: TestEnv, prefix: string): Promise<string[]> {
  const removed: string[] = [];
  const realm = testEnv.oidc.realm;
  const kc = await masterAdmin(testEnv);
  for (const user of await kc.users.find({ realm, search: prefix, max: 1000 })) {
    if (user.id === undefined || user.username?.startsWith(prefix) !== true) continue;
    await kc.users.del({ realm, id: user.id });
    removed.push(`keycloak user ${user.username}`);
  }
  for (const marker of await kc.groups.find({ realm, search: 'tenants', exact: true })) {
    if (marker.id === undefined) continue;
    for (const group of await kc.groups.listSubGroups({
      realm,
      parentId: marker.id,
      search: prefix,
      max: 1000,
    })) {
      if (group.id === undefined || group.name?.startsWith(`tenant-${prefix}`) !== true) continue;
      await kc.groups.del({ realm, id: group.id });
      removed.push(`keycloak group ${group.name}`);
    }
  }
  const grafana = new GrafanaAdmin({
    url: testEnv.grafana.url,
    adminUser: testEnv.grafana.adminUser,
    adminPassword: testEnv.grafana.adminPassword,
  });
  try {
    for await (const page of grafana.searchUsers(prefix))
      for (const user of page) {
        if (!user.login.startsWith(prefix)) continue;
        await grafana.deleteUser(user.id);
        removed.push(`grafana user ${user.login}`);
      }
  } finally {
    await grafana.close();
  }
  const api = apiserver(testEnv.kubernetes);
  const token = testEnv.kubernetes.adminToken;
  const answer = await api.send('GET', '/api/v1/namespaces', token);
  const namespaces =
    (answer.json as { items?: { metadata: { name: string; deletionTimestamp?: string } }[] } | undefined)
      ?.items ?? [];
  for (const ns of namespaces) {
    if (!ns.metadata.name.startsWith(prefix) || ns.metadata.deletionTimestamp !== undefined) continue;
    await api.send('DELETE', `/api/v1/namespaces/${ns.metadata.name}`, token);
    removed.push(`namespace ${ns.metadata.name}`);
  }
  return removed;
}

async function deleteServiceClients(testEnv: TestEnv, clientIds: readonly string[]): Promise<void> {
  const kc = await masterAdmin(testEnv);
  for (const clientId of clientIds) {
    for (const client of await kc.clients.find({ realm: testEnv.oidc.realm, clientId })) {
      if (client.id !== undefined) await kc.clients.del({ realm: testEnv.oidc.realm, id: client.id });
    }
  }
}

/** Waits until no namespace under `prefix` exists any more (the namespace controller finishes deletions). */
async function namespacesGone(testEnv: TestEnv, prefix: string, timeoutMs: number): Promise<string[]> {
  const api = apiserver(testEnv.kubernetes);
  const until = Date.now() + timeoutMs;
  for (;;) {
    const left = (await api.names('/api/v1/namespaces', testEnv.kubernetes.adminToken)).filter((n) =>
      n.startsWith(prefix),
    );
    if (left.length === 0 || Date.now() > until) return left;
    await sleep(2000);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Report.

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

const ms = (value: number): string =>
  Number.isNaN(value) ? '-' : value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(0)} ms`;
const seconds = (value: number): string => `${(value / 1000).toFixed(1)} s`;

function latencies(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${ms(percentile(sorted, 50))} / ${ms(percentile(sorted, 95))} / ${ms(sorted.at(-1) ?? Number.NaN)}`;
}

function statuses(outcomes: readonly Outcome[]): string {
  const label = (o: Outcome): string =>
    o.status === 0 ? 'none' : `${String(o.status)}${o.status === 409 && o.retryAfter ? ' busy' : ''}`;
  const counts = new Map<string, number>();
  for (const o of [...outcomes].sort((a, b) => a.status - b.status))
    counts.set(label(o), (counts.get(label(o)) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${status} ×${String(n)}`).join(', ');
}

/** Each distinct item once, with how often it came: "a ×2". */
function counted(items: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return [...counts].map(([item, n]) => `${item} ×${String(n)}`);
}

const failed = (o: Outcome): boolean => o.status === 0 || o.status >= 500;
/**
 * Turned away before the operation ran, so nothing changed and there is nothing to record: the tenant's
 * lock stayed busy past the wait bound (409 with Retry-After), or the store failed while taking the lock.
 */
const turnedAway = (o: Outcome): boolean =>
  (o.status === 409 && o.retryAfter) || (o.status >= 500 && (o.detail ?? '').startsWith('postgres: lock '));

/** Not the answer the tenant's state calls for: only the identical provisions may be refused (409). */
const unexpected = (o: Outcome): boolean =>
  o.status !== 200 && !(o.kind === 'provision-same' && o.status === 409 && !o.retryAfter);

function merge(times: readonly CallTimes[]): CallTimes {
  return {
    count: times.reduce((n, t) => n + t.count, 0),
    errors: times.reduce((n, t) => n + t.errors, 0),
    latenciesMs: times.flatMap((t) => t.latenciesMs),
    maxInFlight: Math.max(0, ...times.map((t) => t.maxInFlight)),
  };
}

function callLine(label: string, times: CallTimes): string {
  const errors = times.errors > 0 ? `, ${String(times.errors)} failed` : '';
  return `${label} ${String(times.count)} (p50/p95/max ${latencies(times.latenciesMs)}, most in flight ${String(times.maxInFlight)}${errors})`;
}

function describeProfile(testEnv: TestEnv, name: string, profiles: readonly InstanceProfile[]): string {
  const server = (origin: string): string => {
    if (origin === new URL(testEnv.keycloak.url).origin) return 'keycloak';
    if (origin === new URL(testEnv.kubernetes.server).origin) return 'apiserver';
    if (origin === new URL(testEnv.grafana.url).origin) return 'grafana';
    return origin;
  };
  const byServer = new Map<string, CallTimes[]>();
  for (const profile of profiles)
    for (const [origin, times] of Object.entries(profile.http)) {
      const key = server(origin);
      byServer.set(key, [...(byServer.get(key) ?? []), times]);
    }
  const statements = new Map<string, CallTimes[]>();
  for (const profile of profiles)
    for (const [kind, times] of Object.entries(profile.statements))
      statements.set(kind, [...(statements.get(kind) ?? []), times]);
  const calls = new Map<string, CallTimes[]>();
  for (const profile of profiles)
    for (const [call, times] of Object.entries(profile.httpCalls)) {
      const [origin = '', ...rest] = call.split(' ');
      const key = `${server(origin)} ${rest.join(' ')}`;
      calls.set(key, [...(calls.get(key) ?? []), times]);
    }
  const busiest = [...calls]
    .map(([call, times]) => [call, merge(times)] as const)
    .filter(([, times]) => times.count > 0)
    .map(([call, times]) => [call, times, times.latenciesMs.reduce((a, b) => a + b, 0)] as const)
    .sort(([, , a], [, , b]) => b - a)
    .slice(0, 6);
  const cpu = profiles.reduce((sum, p) => sum + p.cpuMs, 0);
  const loop = Math.max(0, ...profiles.map((p) => p.eventLoopDelayP99Ms));
  return [
    `    ${name} (${String(profiles.length)}): cpu ${seconds(cpu)}, event loop delay p99 ${ms(loop)}`,
    ...[...byServer].map(([key, times]) => `      ${callLine(`${key} calls`, merge(times))}`),
    `      calls with the most time: ${busiest.map(([call, times, total]) => `${call} ×${String(times.count)} ${seconds(total)} (p50/p95 ${latencies(times.latenciesMs).split(' / ').slice(0, 2).join(' / ')})`).join('; ')}`,
    `      ${callLine('pool waits', merge(profiles.map((p) => p.poolWaits)))}; most open ${String(Math.max(0, ...profiles.map((p) => p.poolPeak.total)))}, most queued ${String(Math.max(0, ...profiles.map((p) => p.poolPeak.waiting)))}`,
    `      ${callLine('new connections', merge(profiles.map((p) => p.connectionOpens)))}`,
    ...[...statements]
      .map(([kind, times]) => [kind, merge(times)] as const)
      .filter(([, times]) => times.count > 0)
      .map(([kind, times]) => `      ${callLine(`pg ${kind} statements`, times)}`),
  ].join('\n');
}

function describeRun(testEnv: TestEnv, r: RunResult): string {
  const of = (kind: Kind) => r.outcomes.filter((o) => o.kind === kind);
  const kinds: [Kind, string][] = [
    ['provision', `provision, ${String(TENANTS)} tenants`],
    ['provision-same', `provision, one tenant ×${String(SAME)}`],
    ['deprovision', `deprovision ×${String(SEEDED)}`],
    ['sync', 'sync'],
  ];
  const fives = r.outcomes.filter(failed);
  const stackCpuMs =
    Object.values(r.serverCpuMs).reduce((a, b) => a + b, 0) +
    Object.values(r.profiles)
      .flat()
      .reduce((sum, p) => sum + p.cpuMs, 0);
  return [
    `== ${r.variant.label}, ${String(r.instances)} instance(s), ${String(r.inFlight)} in flight`,
    ...kinds.map(
      ([kind, label]) =>
        `  ${label}: ${statuses(of(kind))}; p50/p95/max ${latencies(of(kind).map((o) => o.ms))}`,
    ),
    `  all ${String(r.outcomes.length)}: ${statuses(r.outcomes)}; p50/p95/max ${latencies(r.outcomes.map((o) => o.ms))}`,
    `  ${String(TENANTS)} provisions answered after ${seconds(r.provisionedInMs)}; wall ${seconds(r.wallMs)}; 5xx or none: ${String(fives.length)}; answers other than the tenant's state calls for:`,
    ...counted(
      r.outcomes
        .filter(unexpected)
        .map(
          (o) => `${o.kind} ${String(o.status)}: ${(o.detail ?? '').replace(/load-[a-z0-9-]+/g, '{tenant}')}`,
        ),
    ).map((line) => `    ${line}`),
    `  audit rows ${String(r.auditRows)} for ${String(r.outcomes.filter((o) => !turnedAway(o)).length)} operations that ran (${String(r.outcomes.filter(turnedAway).length)} turned away at the lock)${
      r.auditMismatches.length === 0
        ? ''
        : `; without exactly one: ${counted(r.auditMismatches.map((m) => `${m.kind} ${String(m.status)} with ${String(m.rows)} rows`)).join(', ')}`
    }`,
    `  cleanup: ${String(r.cleanup.deprovisioned)} deprovisioned${
      r.cleanup.removedDirectly.length === 0
        ? ''
        : `; removed directly: ${r.cleanup.removedDirectly.join(', ')}`
    }`,
    `  where the time went (${seconds(r.wallMs)} of wall; machine busy ${r.machineBusyCores.toFixed(2)} of ${String(cores)} cores, this stack ${(stackCpuMs / r.wallMs).toFixed(2)}, CPU per operation ${ms(stackCpuMs / r.outcomes.length)}):`,
    `    servers' cpu: ${Object.entries(r.serverCpuMs)
      .map(([name, cpu]) => `${name} ${seconds(cpu)}`)
      .join(', ')}`,
    ...Object.entries(r.profiles).map(([name, profiles]) => describeProfile(testEnv, name, profiles)),
  ].join('\n');
}

function summaryTable(results: readonly RunResult[]): string {
  const header =
    '| code | instances | in flight | answers | not what the state calls for | provision p50 / p95 / max | all p50 / p95 / max | 50 provisioned | wall | 5xx | audit rows / ops run |';
  const rows = results.map((r) => {
    const provisions = r.outcomes.filter((o) => o.kind === 'provision').map((o) => o.ms);
    return `| ${r.variant.label} | ${String(r.instances)} | ${String(r.inFlight)} | ${statuses(r.outcomes)} | ${String(r.outcomes.filter(unexpected).length)} | ${latencies(provisions)} | ${latencies(r.outcomes.map((o) => o.ms))} | ${seconds(r.provisionedInMs)} | ${seconds(r.wallMs)} | ${String(r.outcomes.filter(failed).length)} | ${String(r.auditRows)} / ${String(r.outcomes.filter((o) => !turnedAway(o)).length)} |`;
  });
  return [header, `|${' --- |'.repeat(11)}`, ...rows].join('\n');
}

// ---------------------------------------------------------------------------------------------------------

const settings = manifestSettings();
const containerConcurrency = settings.get('provision')?.containerConcurrency;
if (containerConcurrency === undefined) throw new Error('knative/base/services.yaml: no provision Service');
const inFlights = (list(process.env.BENCH_LOAD_IN_FLIGHT) ?? ['8', String(containerConcurrency)]).map(Number);
const topologies = (list(process.env.BENCH_LOAD_INSTANCES) ?? ['1', '2']).map(Number);
const wanted = list(process.env.BENCH_LOAD_VARIANTS) ?? ['base', 'head'];

const base = wanted.includes('base') ? baseCheckout() : undefined;
const variants = [
  ...(base === undefined ? [] : [base.variant]),
  ...(wanted.includes('head') ? [headVariant()] : []),
];
const provided = process.env.TL_TESTENV_FILE;
const running: RunningTestEnv | undefined = provided === undefined ? await startTestEnv() : undefined;
const testEnv: TestEnv = running?.env ?? (JSON.parse(await readFile(provided ?? '', 'utf8')) as TestEnv);
const benchTag = randomBytes(3)
  .toString('hex')
  .replace(/[0-9]/g, (d) => 'ghijklmnop'[Number(d)] ?? 'g');
const results: RunResult[] = [];
const problems: string[] = [];
try {
  await ensureTenantClusterRole(testEnv);
  console.log(
    `bench/load.ts ${new Date().toISOString()}: ${variants.map((v) => v.label).join(' vs ')}; containerConcurrency ${String(containerConcurrency)}; ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`,
  );
  let runNumber = 0;
  for (const inFlight of inFlights)
    for (const instances of topologies)
      for (const variant of variants) {
        const runTag = `${benchTag}${String(runNumber++)}`;
        const result = await run(testEnv, variant, instances, inFlight, runTag, settings);
        results.push(result);
        console.log(describeRun(testEnv, result));
        console.log(`  load average after: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
        if (variant.key === 'head') {
          const fives = result.outcomes.filter(failed).length;
          if (fives > 0)
            problems.push(`${variant.label} ${String(instances)}x${String(inFlight)}: ${String(fives)} 5xx`);
          if (result.auditMismatches.length > 0)
            problems.push(
              `${variant.label} ${String(instances)}x${String(inFlight)}: audit rows ${String(result.auditRows)} != operations that ran ${String(result.outcomes.filter((o) => !turnedAway(o)).length)}`,
            );
        }
      }
  const left = await namespacesGone(testEnv, `load-${benchTag}`, 120_000);
  if (left.length > 0) problems.push(`namespaces still there after cleanup: ${left.join(', ')}`);
  console.log(`\n${summaryTable(results)}`);
} finally {
  if (running !== undefined) await running.stop();
  base?.remove();
}
if (problems.length > 0) {
  console.error(`\nFAILED:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  process.exitCode = 1;
}
