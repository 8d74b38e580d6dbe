/**
 * The dead-letter sink on the real servers (PostgreSQL store, kube-apiserver tokens). Events are posted as
 * Knative Eventing v0.50.0 dead-letters them: the original event in binary mode with the extensions
 * `knativeerrordest`, `knativeerrorcode` and `knativeerrordata` (base64 of the last answer's body)
 * added by pkg/kncloudevents/event_dispatcher.go (`dispatchExecutionInfoTransformers`, names in
 * pkg/kncloudevents/attributes/knative_error.go), proxied by the Broker's filter, which adds
 * `Kn-Namespace` (pkg/broker/filter/filter_handler.go, `send`), with a token of the Trigger's OIDC
 * service account for the dead-letter sink's audience (`createRequest`: `deadLetterSink.audience`).
 * Replays go to a receiver standing in for the Broker's ingress that follows the CloudEvents HTTP protocol
 * binding (binary and structured mode, decoded by the CloudEvents SDK) and answers 202 as the ingress does.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/dead-letter/config.ts';
import { deadLetterSetup } from '../../../functions/dead-letter/index.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { senderVerificationEnv, serviceAccounts } from '../../support/service-accounts.ts';
import { FUNCTION_TOKEN } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const accounts = serviceAccounts(env.kubernetes);
const NS = 'tenant-functions';
const AUDIENCE = 'tenant-lifecycle/dead-letter';
const BROKER_AUDIENCE = 'eventing.knative.dev/broker/tenant-functions/tenant-lifecycle';
const TRIGGER_SA = 'provision-oidc-eventing.knative.dev-trigger';
const INTRUDER_SA = 'dl-intruder';
const PROVISION_EVENT = 'dev.tenantlifecycle.tenant.provision.requested';

let db: TestDatabase;
let fn: RunningFunction;
let broker: Server;
let brokerUrl = '';
let triggerToken = '';
let replayToken = '';
/** What the Broker stand-in received: the decoded event and the token it came with. */
const brokerReceived: { event: CloudEventV1<unknown>; authorization: string | undefined }[] = [];

/**
 * The Broker's ingress, as far as a replay sees it: it follows the CloudEvents HTTP protocol binding
 * (binary and structured mode, decoded by the CloudEvents SDK) and answers 202 Accepted, as Knative's
 * broker ingress does once it has taken an event.
 */
function startBroker(): Promise<void> {
  broker = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const decoded = HTTP.toEvent<unknown>({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      const event = Array.isArray(decoded) ? decoded[0] : decoded;
      if (event === undefined) {
        res.writeHead(400).end();
        return;
      }
      brokerReceived.push({ event, authorization: req.headers.authorization });
      res.writeHead(202).end();
    });
  });
  return new Promise((resolve) => {
    broker.listen(0, '127.0.0.1', () => {
      const address = broker.address();
      if (address !== null && typeof address === 'object') brokerUrl = `http://127.0.0.1:${address.port}`;
      resolve();
    });
  });
}

/** The problem a function answered, as Knative carries it in `knativeerrordata`. */
const refusal = {
  type: 'urn:tenant-lifecycle:problem:conflict',
  title: 'Conflict',
  status: 422,
  httpStatus: 409,
  detail: 'tenant lena-event exists',
  retryable: false,
};

/** An event as Knative's Broker filter delivers it to the dead-letter sink. */
function deadLettered(
  event: CloudEvent<unknown>,
  token: string | undefined,
  errorCode = 422,
): { headers: Record<string, string>; body: string } {
  const message = HTTP.binary(
    event.cloneWith({
      knativeerrordest: 'http://provision.tenant-functions.svc.cluster.local',
      knativeerrorcode: String(errorCode),
      knativeerrordata: Buffer.from(JSON.stringify(refusal)).toString('base64'),
      knativearrivaltime: new Date().toISOString(),
    }),
  );
  const headers: Record<string, string> = { 'kn-namespace': NS };
  for (const [name, value] of Object.entries(message.headers)) headers[name] = String(value);
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return { headers, body: message.body as string };
}

async function post(event: CloudEvent<unknown>, token: string | undefined): Promise<Response> {
  const { headers, body } = deadLettered(event, token);
  return fetch(`${fn.url}/`, { method: 'POST', headers, body });
}

interface Listed {
  id: string;
  eventId: string;
  eventType: string;
  eventSource: string;
  destination: string;
  errorCode?: number;
  errorData?: string;
  attempts: number;
  redacted: boolean;
  replayedAt?: string;
  event: { attributes: Record<string, unknown>; data?: unknown };
}

async function list(query = 'state=all'): Promise<Listed[]> {
  const response = await fetch(`${fn.url}/dead-letters?${query}`, {
    headers: { authorization: `Bearer ${FUNCTION_TOKEN}` },
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { items: Listed[] }).items;
}

async function replay(id: string, body: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${fn.url}/dead-letters/${id}/replay`, {
    method: 'POST',
    headers: { authorization: `Bearer ${FUNCTION_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

function provisionEvent(data: Record<string, unknown>): CloudEvent<unknown> {
  return new CloudEvent<unknown>({
    type: PROVISION_EVENT,
    source: '/platform/signup',
    subject: 'lena-event',
    datacontenttype: 'application/json',
    data,
  });
}

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'dead_letter');
  for (const name of [TRIGGER_SA, INTRUDER_SA]) await accounts.ensure(NS, name);
  triggerToken = await accounts.token(NS, TRIGGER_SA, AUDIENCE);
  await accounts.ensure(NS, 'dead-letter');
  replayToken = await accounts.token(NS, 'dead-letter', BROKER_AUDIENCE);
  const dir = await mkdtemp(join(tmpdir(), 'tl-dl-'));
  await writeFile(join(dir, 'token'), replayToken, { mode: 0o600 });
  await startBroker();
  fn = await startFunction({
    name: 'dead-letter',
    loadConfig,
    env: {
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_URL: db.url,
      REPLAY_SINK: brokerUrl,
      EVENT_SINK_TOKEN_FILE: join(dir, 'token'),
      ...(await senderVerificationEnv(env.kubernetes, {
        senders: [`system:serviceaccount:${NS}:${TRIGGER_SA}`],
        self: { namespace: NS, name: 'dead-letter' },
      })),
    },
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(deadLetterSetup(config, log)),
  });
}, 120_000);

afterAll(async () => {
  await fn.stop();
  await new Promise((resolve) => broker.close(resolve));
  await db.drop();
});

describe('dead-letter', () => {
  it('records an event Knative dead-lettered, counts it, lists it, and replays it once', async () => {
    const event = provisionEvent({ full_name: 'Lena Event', plan: 'default' });
    const answer = await post(event, triggerToken);
    expect(answer.status).toBe(200);
    // Through the Broker's filter the answer has no body (a body would turn into a 502 there).
    expect(await answer.text()).toBe('');

    const [record] = (await list()).filter((r) => r.eventId === event.id);
    expect(record).toMatchObject({
      eventType: PROVISION_EVENT,
      eventSource: '/platform/signup',
      destination: 'http://provision.tenant-functions.svc.cluster.local',
      errorCode: 422,
      attempts: 1,
      redacted: false,
      event: { data: { full_name: 'Lena Event', plan: 'default' } },
    });
    expect(JSON.parse(record?.errorData ?? '{}')).toEqual(refusal);
    expect(record?.event.attributes).not.toHaveProperty('knativeerrorcode');
    expect(record?.replayedAt).toBeUndefined();

    const metrics = await (await fetch(`${fn.url}/metrics`)).text();
    expect(metrics).toMatch(
      /tenant_lifecycle_dead_letters_total\{[^}]*type="dev\.tenantlifecycle\.tenant\.provision\.requested"[^}]*destination="provision"[^}]*\} 1\b/,
    );

    const id = record?.id ?? '';
    const dry = await replay(id, { dryRun: true });
    expect(dry.status).toBe(200);
    expect(await dry.json()).toMatchObject({ dryRun: true, wouldSend: true, event: { id: event.id } });
    expect(brokerReceived).toHaveLength(0);

    const first = await replay(id);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ replayed: true, eventId: event.id });
    expect(brokerReceived).toHaveLength(1);
    const sent = brokerReceived[0];
    expect(sent?.authorization).toBe(`Bearer ${replayToken}`);
    expect(sent?.event).toMatchObject({
      id: event.id,
      type: PROVISION_EVENT,
      source: '/platform/signup',
      subject: 'lena-event',
      data: { full_name: 'Lena Event', plan: 'default' },
    });
    // Knative's error extensions and the Broker's bookkeeping are not sent again.
    for (const extension of ['knativeerrorcode', 'knativeerrordata', 'knativearrivaltime'])
      expect(sent?.event).not.toHaveProperty(extension);
    expect((await list('state=pending')).map((r) => r.id)).not.toContain(id);

    // The same replay again sends nothing; with force it sends once more.
    const second = await replay(id);
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ replayed: false });
    expect(brokerReceived).toHaveLength(1);
    const forced = await replay(id, { force: true });
    expect(await forced.json()).toMatchObject({ replayed: true });
    expect(brokerReceived).toHaveLength(2);

    // Each replay that sent has its audit record, naming the operator.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ actor: string; outcome: string }>(
        `SELECT actor, outcome FROM tenant_lifecycle.audit_log WHERE target = $1`,
        [`dead-letter:${id}`],
      );
      expect(rows).toEqual([
        { actor: 'token#0', outcome: 'success' },
        { actor: 'token#0', outcome: 'success' },
      ]);
    } finally {
      await admin.end();
    }
  });

  it('counts a second dead-lettering of the same event as an attempt and makes it pending again', async () => {
    const event = provisionEvent({ full_name: 'Otto Again' });
    expect((await post(event, triggerToken)).status).toBe(200);
    const [record] = (await list()).filter((r) => r.eventId === event.id);
    expect((await replay(record?.id ?? '')).status).toBe(200);
    expect((await post(event, triggerToken)).status).toBe(200);
    const again = (await list()).filter((r) => r.eventId === event.id);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ id: record?.id, attempts: 2 });
    expect(again[0]?.replayedAt).toBeUndefined();
  });

  it('sends once when two replays of the same record arrive together', async () => {
    const event = provisionEvent({ full_name: 'Twin Replay' });
    expect((await post(event, triggerToken)).status).toBe(200);
    const [record] = (await list()).filter((r) => r.eventId === event.id);
    const sentBefore = brokerReceived.length;
    const answers = await Promise.all([replay(record?.id ?? ''), replay(record?.id ?? '')]);
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as { replayed: boolean }[];
    expect(bodies.map((b) => b.replayed).sort()).toEqual([false, true]);
    expect(brokerReceived.slice(sentBefore).map((r) => r.event.id)).toEqual([event.id]);
  });

  it('stores no secret-looking value of an event’s data', async () => {
    const event = provisionEvent({
      full_name: 'Sid Secret',
      password: 'hunter2-hunter2',
      nested: { token: 'x' },
    });
    expect((await post(event, triggerToken)).status).toBe(200);
    const [record] = (await list()).filter((r) => r.eventId === event.id);
    expect(record?.redacted).toBe(true);
    expect(record?.event.data).toEqual({
      full_name: 'Sid Secret',
      password: '[redacted]',
      nested: { token: '[redacted]' },
    });
    expect(JSON.stringify(record)).not.toContain('hunter2');
  });

  it('refuses an event without a token or from a sender it does not allow; the Trigger’s is accepted', async () => {
    const before = (await list()).length;
    const anonymous = await post(provisionEvent({ full_name: 'No Token' }), undefined);
    expect(anonymous.status).toBe(401);
    const intruder = await post(
      provisionEvent({ full_name: 'Wrong Sender' }),
      await accounts.token(NS, INTRUDER_SA, AUDIENCE),
    );
    expect(intruder.status).toBe(401);
    const wrongAudience = await post(
      provisionEvent({ full_name: 'Wrong Audience' }),
      await accounts.token(NS, TRIGGER_SA, 'tenant-lifecycle/provision'),
    );
    expect(wrongAudience.status).toBe(401);
    expect(await list()).toHaveLength(before);

    const accepted = await post(provisionEvent({ full_name: 'Right Sender' }), triggerToken);
    expect(accepted.status).toBe(200);
    expect(await list()).toHaveLength(before + 1);
  });

  it('lists and replays only for a caller with a credential', async () => {
    const refused = await fetch(`${fn.url}/dead-letters`);
    expect(refused.status).toBe(401);
    const [record] = await list('state=pending&limit=1');
    const refusedReplay = await fetch(`${fn.url}/dead-letters/${record?.id ?? ''}/replay`, {
      method: 'POST',
    });
    expect(refusedReplay.status).toBe(401);
    const sentBefore = brokerReceived.length;
    expect(sentBefore).toBeGreaterThan(0);
    const allowed = await replay(record?.id ?? '');
    expect(await allowed.json()).toMatchObject({ replayed: true });
    expect(brokerReceived).toHaveLength(sentBefore + 1);
  });
});
