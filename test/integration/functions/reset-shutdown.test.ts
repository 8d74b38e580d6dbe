/**
 * reset stops at a safe point when it must, as a real process (functions/reset/main.ts, started as the image
 * starts it) against the real apiserver and PostgreSQL:
 * - SIGTERM mid-sweep: the process answers the running event, sends its continuation to the sink, records
 *   a partial audit record and exits 0 within SHUTDOWN_GRACE_SECONDS; the continuation covers exactly the
 *   namespaces not yet reset. Control: the same sweep without SIGTERM completes (through its continuations);
 * - the caller disconnects mid-sweep: the sweep stops, records where, sends no continuation. Control: the
 *   same request left connected completes;
 * - the sweep's lock lease is taken over by another holder: the sweep stops with a retryable problem and a
 *   failure record that says so. Control: the same sweep whose lease stays its own completes.
 *
 * Each namespace carries a ConfigMap `notes`, which a reset deletes: a namespace without it has been reset.
 * Namespaces are reset one at a time (RESET_CONCURRENCY=1), in name order, at most PER_RUN per invocation.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RESET_EVENT } from '../../../functions/reset/index.ts';
import { DEFAULT_SCHEMA } from '../../../shared/store/store.ts';
import { defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import { freePort } from '../../env/ports.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { FUNCTION_TOKEN } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;
const entrypoint = fileURLToPath(new URL('../../../functions/reset/main.ts', import.meta.url));
const GRACE_SECONDS = 20;
const COUNT = 60;
/** Namespaces one invocation resets at most: every sweep here needs more than one. */
const PER_RUN = 40;
/** Unique per run of this file, so that namespaces of an earlier run in the same environment do not count. */
const RUN = Date.now().toString(36).slice(-5);
let db: TestDatabase;
let audit: pg.Pool;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------
// The event sink. It follows the CloudEvents HTTP protocol binding (binary content mode: attributes in ce-*
// headers, the data as the body), standing in for the Knative Broker's ingress: it answers 202 at once and
// keeps the events; the tests deliver them onward themselves.
interface ReceivedEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly specversion: string;
  readonly data: { after?: string; dryRun?: boolean };
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}
const received: ReceivedEvent[] = [];
let sink: Server;
let sinkUrl = '';

function startSink(): Promise<void> {
  sink = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const header = (name: string) => String(req.headers[name] ?? '');
      received.push({
        id: header('ce-id'),
        type: header('ce-type'),
        source: header('ce-source'),
        specversion: header('ce-specversion'),
        data: JSON.parse(body) as ReceivedEvent['data'],
        headers: req.headers,
        body,
      });
      res.writeHead(202).end();
    });
  });
  return new Promise((resolve) => {
    sink.listen(0, '127.0.0.1', () => {
      const address = sink.address();
      if (address !== null && typeof address === 'object') sinkUrl = `http://127.0.0.1:${address.port}`;
      resolve();
    });
  });
}
// ---------------------------------------------------------------------------------------------------------

interface ResetProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stdout: () => string;
  readonly exited: Promise<number | null>;
}

const processes: ChildProcess[] = [];

async function startReset(overrides: Record<string, string> = {}): Promise<ResetProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [entrypoint], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      KUBECONFIG: env.kubernetes.kubeconfigPath,
      CONTINUATION_SINK: sinkUrl,
      RESET_CONCURRENCY: '1',
      RESET_MAX_NAMESPACES_PER_RUN: String(PER_RUN),
      SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS),
      ...overrides,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  processes.push(child);
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (ready === 200) return { child, url, stdout: () => out, exited };
    await sleep(50);
  }
  throw new Error(`reset did not become ready: ${out}`);
}

/** `count` tenant namespaces as provision makes them, each with a ConfigMap `notes` that a reset deletes. */
const created: string[] = [];

async function makeTenants(group: string, count = COUNT): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `rsd-${RUN}-${group}-${String(i).padStart(3, '0')}`);
  created.push(...names);
  for (let i = 0; i < names.length; i += 10) {
    await Promise.all(
      names.slice(i, i + 10).map(async (tenant) => {
        const objects = renderBaseline({
          tenant,
          createdAt: new Date(),
          plan: defaultPlan,
          access: { user: 'oidc:x', group: 'oidc:x', clusterRole: 'edit' },
        });
        for (const object of objects) expect(await api.create(object, admin)).toBe(201);
        expect(
          await api.create(
            { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'notes', namespace: tenant } },
            admin,
          ),
        ).toBe(201);
      }),
    );
  }
  return names;
}

async function isReset(namespace: string): Promise<boolean> {
  return !(await api.names(`/api/v1/namespaces/${namespace}/configmaps`, admin)).includes('notes');
}

async function resetOnes(names: readonly string[]): Promise<string[]> {
  const flags = await Promise.all(names.map(isReset));
  return names.filter((_, i) => flags[i]);
}

/** Polls until the first of `names` is reset: the sweep is under way and has more to do. */
async function untilUnderWay(names: readonly string[]): Promise<void> {
  const first = names[0] ?? '';
  for (let i = 0; i < 2000 && !(await isReset(first)); i++) await sleep(5);
  expect(await isReset(first)).toBe(true);
}

function resetEvent(data: Record<string, unknown>, id: string): RequestInit {
  return {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-type': RESET_EVENT,
      'ce-source': '/tests/reset-shutdown',
      'ce-id': id,
      'content-type': 'application/json',
      authorization: `Bearer ${FUNCTION_TOKEN}`,
    },
    body: JSON.stringify(data),
  };
}

/** The event as the sink received it, delivered onward unchanged (but for the token), as a Trigger would. */
function redeliver(event: ReceivedEvent): RequestInit {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers))
    if (name.startsWith('ce-') || name === 'content-type') headers[name] = String(value);
  headers.authorization = `Bearer ${FUNCTION_TOKEN}`;
  return { method: 'POST', headers, body: event.body };
}

interface SweepAnswer {
  readonly details: Record<string, unknown>;
  readonly continue?: { after?: string };
  readonly continuation?: string;
  readonly stopped?: { reason: string; next: string };
}

interface AuditRow {
  readonly outcome: string;
  readonly details: Record<string, unknown>;
  readonly request_id: string;
}

async function auditOf(requestId: string): Promise<AuditRow | undefined> {
  const { rows } = await audit.query<AuditRow>(
    `SELECT outcome, details, request_id FROM ${DEFAULT_SCHEMA}.audit_log WHERE request_id = $1`,
    [requestId],
  );
  return rows[0];
}

/** Delivers each continuation the sink receives to `fn` until a run answers without one; the runs' answers. */
async function followContinuations(fn: ResetProcess, from: number): Promise<SweepAnswer[]> {
  const answers: SweepAnswer[] = [];
  for (let next = from; next < received.length; next++) {
    const event = received[next];
    if (event === undefined) break;
    const response = await fetch(fn.url, redeliver(event));
    expect(response.status).toBe(200);
    answers.push((await response.json()) as SweepAnswer);
  }
  return answers;
}

/** Our namespaces among the ones an answer says it processed. */
const processedOf = (answer: SweepAnswer, ours: readonly string[]) =>
  Object.keys(answer.details).filter((n) => ours.includes(n));

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'reset_shutdown');
  audit = new pg.Pool({ connectionString: db.url, max: 2 });
  await startSink();
}, 60_000);

afterAll(async () => {
  for (const child of processes) if (child.exitCode === null) child.kill('SIGKILL');
  // Being deleted, they are left out of later sweeps of other files.
  await Promise.all(
    created.map((name) => api.status('DELETE', `/api/v1/namespaces/${name}`, admin).catch(() => undefined)),
  );
  await new Promise((resolve) => sink.close(resolve));
  await audit.end();
  await db.drop();
});

describe('reset on SIGTERM', () => {
  it('stops at a safe point, sends the continuation, records its part and exits within the grace', async () => {
    const ours = await makeTenants('term');
    const fn = await startReset();
    const before = received.length;
    const answering = fetch(fn.url, resetEvent({}, `term-${RUN}`));
    await untilUnderWay(ours);
    const signalled = Date.now();
    fn.child.kill('SIGTERM');

    const response = await answering;
    const answer = (await response.json()) as SweepAnswer;
    const code = await fn.exited;
    const exitedAfterMs = Date.now() - signalled;
    expect(response.status).toBe(200);
    expect(code).toBe(0);
    expect(exitedAfterMs).toBeLessThan(GRACE_SECONDS * 1000);
    expect(fn.stdout()).toContain('"msg":"stopped"');
    expect(fn.stdout()).not.toContain('shutdown grace over');
    expect(answer.stopped?.reason).toBe('signal');
    expect(answer.continuation).toBe('scheduled');

    // One continuation at the sink, a well-formed CloudEvent carrying the answer's cursor.
    const events = received.slice(before);
    expect(events).toHaveLength(1);
    const [continuation] = events;
    expect(continuation).toMatchObject({
      specversion: '1.0',
      type: RESET_EVENT,
      source: '/tenant-lifecycle/reset',
    });
    expect(continuation?.id).not.toBe('');
    const after = continuation?.data.after ?? '';
    expect(after).toBe(answer.continue?.after);

    // Mid-sweep: some of ours are reset, not all; exactly those up to the cursor.
    const done = await resetOnes(ours);
    expect(done.length).toBeGreaterThan(0);
    expect(done.length).toBeLessThan(ours.length);
    expect(done).toEqual(ours.filter((n) => n <= after));
    expect(processedOf(answer, ours).sort()).toEqual(done);

    const record = await auditOf(response.headers.get('x-request-id') ?? '');
    expect(record).toMatchObject({
      outcome: 'partial',
      details: { stopped: 'shutdown', continue: { after } },
    });

    // The continuation, delivered to a new instance, resets exactly the rest: nothing lost, nothing twice.
    const next = await startReset();
    const later = [answer];
    if (continuation !== undefined) {
      const response2 = await fetch(next.url, redeliver(continuation));
      expect(response2.status).toBe(200);
      later.push((await response2.json()) as SweepAnswer);
      later.push(...(await followContinuations(next, before + 1)));
    }
    const perRun = later.map((a) => processedOf(a, ours));
    expect(perRun.flat().sort()).toEqual(ours);
    expect(new Set(perRun.flat()).size).toBe(ours.length);
    expect(await resetOnes(ours)).toEqual(ours);
    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 120_000);

  it('control: without SIGTERM the same sweep completes through its continuations', async () => {
    const ours = await makeTenants('full');
    const fn = await startReset();
    const before = received.length;
    const response = await fetch(fn.url, resetEvent({}, `full-${RUN}`));
    expect(response.status).toBe(200);
    const first = (await response.json()) as SweepAnswer;
    // Larger than one run: the first stops at the per-run limit and hands on.
    expect(first.stopped?.reason).toBe('limit');
    expect(first.continuation).toBe('scheduled');
    const answers = [first, ...(await followContinuations(fn, before))];
    expect(answers.at(-1)?.continue).toBeUndefined();
    const perRun = answers.map((a) => processedOf(a, ours));
    expect(perRun.flat().sort()).toEqual(ours);
    expect(new Set(perRun.flat()).size).toBe(ours.length);
    expect(await resetOnes(ours)).toEqual(ours);
    expect(await auditOf(response.headers.get('x-request-id') ?? '')).toMatchObject({
      outcome: 'partial',
      details: { stopped: 'limit' },
    });
    expect(fn.child.exitCode).toBeNull();
    fn.child.kill('SIGTERM');
    expect(await fn.exited).toBe(0);
  }, 120_000);
});

describe('reset whose caller goes away', () => {
  it('stops at a safe point, records where, and sends no continuation; the same request left connected completes', async () => {
    const ours = await makeTenants('gone');
    const fn = await startReset({ RESET_MAX_NAMESPACES_PER_RUN: '1000' });
    const before = received.length;
    const requestId = `gone-${RUN}`;
    const caller = new AbortController();
    const cancelled = fetch(fn.url, {
      method: 'POST',
      signal: caller.signal,
      headers: {
        authorization: `Bearer ${FUNCTION_TOKEN}`,
        'content-type': 'application/json',
        'x-request-id': requestId,
      },
      body: '{}',
    }).catch((error: unknown) => error);
    await untilUnderWay(ours);
    caller.abort();
    expect(await cancelled).toBeInstanceOf(Error);

    let record: AuditRow | undefined;
    for (let i = 0; i < 600 && record === undefined; i++) {
      record = await auditOf(requestId);
      if (record === undefined) await sleep(50);
    }
    expect(record).toMatchObject({ outcome: 'partial', details: { stopped: 'caller_gone' } });
    const after = (record?.details.continue as { after?: string } | undefined)?.after ?? '';
    const done = await resetOnes(ours);
    expect(done.length).toBeGreaterThan(0);
    expect(done.length).toBeLessThan(ours.length);
    expect(done).toEqual(ours.filter((n) => n <= after));
    expect(received.slice(before)).toEqual([]);
    expect((await fetch(`${fn.url}/healthz`)).status).toBe(200);

    // Control: the same request, left connected, from the recorded cursor on, resets the rest.
    const resumed = await fetch(fn.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${FUNCTION_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ after }),
    });
    expect(resumed.status).toBe(200);
    const rest = (await resumed.json()) as SweepAnswer;
    expect(rest.stopped).toBeUndefined();
    expect(processedOf(rest, ours).sort()).toEqual(ours.filter((n) => n > after));
    expect(await resetOnes(ours)).toEqual(ours);
    fn.child.kill('SIGTERM');
    expect(await fn.exited).toBe(0);
  }, 120_000);
});

describe('reset whose lock lease is lost', () => {
  it('stops with a retryable problem recorded as such; with its lease kept, the same sweep completes', async () => {
    const ours = await makeTenants('lease');
    // A lease of 1 s, renewed every third of it: a takeover is noticed within about 0.4 s.
    const fn = await startReset({ LOCK_LEASE_SECONDS: '1', RESET_MAX_NAMESPACES_PER_RUN: '1000' });
    const requestId = `lease-${RUN}`;
    const answering = fetch(fn.url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${FUNCTION_TOKEN}`,
        'content-type': 'application/json',
        'x-request-id': requestId,
      },
      body: '{}',
    });
    await untilUnderWay(ours);
    // Another instance takes the lock over, as it would after this one's lease ran out.
    const taken = await audit.query(
      `UPDATE ${DEFAULT_SCHEMA}.lock_leases SET owner = gen_random_uuid(), expires_at = now() + interval '1 hour'
        WHERE name = 'reset:sweep'`,
    );
    expect(taken.rowCount).toBe(1);
    const response = await answering;
    expect(response.status).toBe(409);
    expect(response.headers.get('retry-after')).not.toBeNull();
    const problem = (await response.json()) as {
      type: string;
      retryable: boolean;
      lockLost?: boolean;
      continue?: { after?: string };
    };
    expect(problem).toMatchObject({ retryable: true, lockLost: true });
    const after = problem.continue?.after ?? '';
    const done = await resetOnes(ours);
    expect(done.length).toBeLessThan(ours.length);
    expect(done).toEqual(ours.filter((n) => n <= after));
    expect(await auditOf(requestId)).toMatchObject({
      outcome: 'failure',
      details: { lockLost: true, reason: 'conflict', continue: { after } },
    });

    // Control: once the lock is free again, the same sweep, keeping its lease, completes.
    await audit.query(`DELETE FROM ${DEFAULT_SCHEMA}.lock_leases WHERE name = 'reset:sweep'`);
    const control = await fetch(fn.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${FUNCTION_TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(control.status).toBe(200);
    const completed = (await control.json()) as SweepAnswer;
    expect(completed.stopped).toBeUndefined();
    expect(await resetOnes(ours)).toEqual(ours);
    fn.child.kill('SIGTERM');
    expect(await fn.exited).toBe(0);
  }, 120_000);
});
