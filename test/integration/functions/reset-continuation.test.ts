/**
 * A scheduled reset that cannot finish in one invocation continues by itself: each invocation takes at most
 * two namespaces, sends the cursor as an event to its sink, and the sink delivers it back, until every
 * tenant namespace is reset. The sink here stands in for a Knative Broker and its Trigger (Knative's data
 * plane needs running pods, which this control plane without nodes has not): like a Broker it answers 202 at
 * once and delivers the event, unchanged but for the caller's token, to the subscriber afterwards, with the
 * token of its Trigger's OIDC service account (a real TokenRequest token with reset's audience), as
 * Knative's broker filter does under `authentication-oidc`. The schedule's event carries the PingSource's.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/reset/config.ts';
import { RESET_EVENT, resetSetup } from '../../../functions/reset/index.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { senderVerificationEnv, serviceAccounts } from '../../support/service-accounts.ts';
import { FUNCTION_TOKEN } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;
const TENANTS = ['rc-a', 'rc-b', 'rc-c', 'rc-d', 'rc-e'];
const accounts = serviceAccounts(env.kubernetes);
const FUNCTIONS_NS = 'tenant-functions';
const PING_SA = 'reset-monthly-oidc-sources.knative.dev-pingsource';
const TRIGGER_SA = 'reset-continue-oidc-eventing.knative.dev-trigger';
const AUDIENCE = 'tenant-lifecycle/reset';
/** The Trigger's token, which the Broker stand-in presents on delivery. */
let triggerToken = '';
let db: TestDatabase;
let fn: RunningFunction;
let broker: Server;
let brokerUrl = '';
const received: { type: string; data: { after?: string } }[] = [];
/** Set when a delivered invocation answered without a cursor: the sweep is complete. */
let chainDone = false;
/** Statuses of deliveries the function refused (a 401 would mean the Trigger's token was not accepted). */
const refusedDeliveries: number[] = [];

function startBroker(deliverTo: () => string): Promise<void> {
  broker = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ type: String(req.headers['ce-type']), data: JSON.parse(body) as { after?: string } });
      res.writeHead(202).end();
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers))
        if (name.startsWith('ce-') || name === 'content-type') headers[name] = String(value);
      headers.authorization = `Bearer ${triggerToken}`;
      // Like a Broker, delivery happens after the 202; its outcome is only watched for the end of the chain.
      void fetch(deliverTo(), { method: 'POST', headers, body })
        .then(async (r) => {
          const answer = (await r.json()) as { continue?: unknown };
          if (!r.ok) refusedDeliveries.push(r.status);
          else if (answer.continue === undefined) chainDone = true;
        })
        .catch(() => undefined);
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

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'reset_continuation');
  for (const tenant of TENANTS) {
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
  }
  for (const name of [PING_SA, TRIGGER_SA]) await accounts.ensure(FUNCTIONS_NS, name);
  triggerToken = await accounts.token(FUNCTIONS_NS, TRIGGER_SA, AUDIENCE);
  await startBroker(() => fn.url);
  fn = await startFunction({
    name: 'reset',
    loadConfig,
    env: {
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_URL: db.url,
      KUBECONFIG: env.kubernetes.kubeconfigPath,
      ...(await senderVerificationEnv(env.kubernetes, {
        senders: [PING_SA, TRIGGER_SA].map((sa) => `system:serviceaccount:${FUNCTIONS_NS}:${sa}`),
        self: { namespace: FUNCTIONS_NS, name: 'reset' },
      })),
      RESET_MAX_NAMESPACES_PER_RUN: '2',
      CONTINUATION_SINK: brokerUrl,
    },
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(resetSetup(config, log)),
  });
});

afterAll(async () => {
  await fn.stop();
  await new Promise((resolve) => broker.close(resolve));
  await db.drop();
});

describe('reset continuation', () => {
  it('finishes a sweep over several invocations, each handing the cursor on through the sink', async () => {
    const response = await fetch(fn.url, {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-type': 'dev.knative.sources.ping',
        'ce-source': '/apis/v1/namespaces/tenant-functions/pingsources/reset-monthly',
        'ce-id': 'ping-1',
        'content-type': 'application/json',
        authorization: `Bearer ${await accounts.token(FUNCTIONS_NS, PING_SA, AUDIENCE)}`,
      },
      body: '{}',
    });
    const first = (await response.json()) as { continuation?: string; continue?: { after: string } };
    expect(response.status).toBe(200);
    expect(first.continuation).toBe('scheduled');

    // Every tenant namespace of this file ends up reset; other files' tenants are swept along.
    for (let i = 0; i < 300; i++) {
      const left = await Promise.all(
        TENANTS.map(async (t) =>
          (await api.names(`/api/v1/namespaces/${t}/configmaps`, admin)).includes('notes'),
        ),
      );
      if (!left.includes(true)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const tenant of TENANTS)
      expect(await api.names(`/api/v1/namespaces/${tenant}/configmaps`, admin)).toEqual(['kube-root-ca.crt']);
    // The sweep goes on over the other files' tenant namespaces too: wait until the chain has ended.
    for (let i = 0; i < 600 && !chainDone; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(chainDone).toBe(true);
    expect(refusedDeliveries).toEqual([]);
    expect(received.length).toBeGreaterThanOrEqual(2);
    expect(received.every((e) => e.type === RESET_EVENT)).toBe(true);
    // Each follow-up starts after the previous one's cursor: the cursors only move forward.
    const cursors = received.map((e) => e.data.after ?? '');
    expect([...cursors].sort()).toEqual(cursors);
    expect(new Set(cursors).size).toBe(cursors.length);
  });
});
