/**
 * An event its function refuses for good ends in the dead-letter sink, on real Knative Eventing: a platform
 * tool allowed to post provision events (a test ServiceAccount and EventPolicy, as knative/README.md asks
 * users to add) posts one whose data provision refuses (400, an invalid e-mail address). The Broker accepts
 * it (202), the Trigger `provision` delivers it, provision answers 400, which Knative does not retry
 * (SelectiveRetry: docs/architecture.md, "Event answers"), so the Trigger's delivery sends it to its
 * deadLetterSink, the `dead-letter` Service: the record is listed by GET /dead-letters?state=pending (with
 * dead-letter's API token, through the ingress) with provision's answer, dead-lettered once, and
 * tenant_lifecycle_dead_letters_total{type, destination="provision"} grows.
 *
 * Beside it, the same sender's valid event is delivered: the tenant exists and no dead letter carries its id.
 *
 * An event whose function keeps failing retryably: the tenant's lock is held in the platform store (a lease
 * row, as a provision still running would hold it), so each delivery waits for it for half of provision's
 * request timeout (30 s) and is answered 409 busy, which Knative retries: after 6 attempts and the Trigger's
 * backoff (2 + 4 + 8 + 16 + 32 s, about 4 min in all) the event is a dead letter with errorCode 409, and
 * provision counted at least 6 failed event requests. Once the lock is free, the operator's replay
 * (POST /dead-letters/<id>/replay) sends the same event again through the Broker and the tenant is made.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../env/provided.ts';
import './provided.ts';
import { eventually as poll } from '../support/eventually.ts';
import { increased, letters, productOn } from '../support/knative-product.ts';

const env = inject('testEnv');
const product = inject('product');
const p = productOn(env, product);

const PROVISION_EVENT = 'dev.tenantlifecycle.tenant.provision.requested';
const suffix = letters(6);
const sender = `e2e-dead-letter-${suffix}`;
const goodEmail = `dl.${suffix}@example.org`;
const goodTenant = `dl-${suffix}`;
const busyEmail = `dl.busy.${suffix}@example.org`;
const busyTenant = `dl-busy-${suffix}`;
const busyLock = `tenant:${busyTenant}`;

/** This file's waits: at most 120 s, polling every second. */
const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> =>
  poll(what, probe, timeoutMs, 1000);

interface ListedDeadLetter {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly destination: string;
  readonly errorCode?: number;
  readonly attempts: number;
}

async function pendingDeadLetters(): Promise<ListedDeadLetter[]> {
  const answer = await p.call('dead-letter', {
    method: 'GET',
    path: `/dead-letters?state=pending&type=${encodeURIComponent(PROVISION_EVENT)}&limit=500`,
    token: p.token('dead-letter'),
  });
  if (answer.status !== 200)
    throw new Error(`GET /dead-letters: HTTP ${String(answer.status)} ${answer.body}`);
  return (JSON.parse(answer.body) as { items: ListedDeadLetter[] }).items;
}

/** Tokens of the test sender allowed to post provision events to the Broker. */
let senderToken: () => Promise<string> = () => Promise.reject(new Error('no test sender'));

beforeAll(async () => {
  senderToken = (await p.allowedSender(sender, [PROVISION_EVENT])).token;
});

afterAll(async () => {
  await p.removeSender(sender);
  await p.store('DELETE FROM tenant_lifecycle.lock_leases WHERE name = $1', [busyLock]);
  for (const [tenant, email] of [
    [goodTenant, goodEmail],
    [busyTenant, busyEmail],
  ] as const)
    if (await p.namespaceExists(tenant))
      await p.deprovisionTenant(email).catch((error: unknown) => {
        console.error(error);
      });
});

/** The sum over pods of how much a counter grew (a pod started since counts from 0). */
function growth(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): number {
  return [...after].reduce((sum, [pod, value]) => sum + value - (before.get(pod) ?? 0), 0);
}

describe('the dead-letter sink', () => {
  it('keeps an event its function refuses for good, and counts it; a valid event beside it is delivered', async () => {
    const counted = { type: PROVISION_EVENT, destination: 'provision' };
    const before = await p.counter('dead-letter', 'tenant_lifecycle_dead_letters_total', counted);
    const bearer = await senderToken();

    // The Broker's ingress takes the policy a moment after it is made: until then it answers 403.
    const refused = await eventually('the Broker to accept the test sender', async () => {
      const answer = await p.postToBroker(
        { type: PROVISION_EVENT, data: { email: `not-an-address-${suffix}` } },
        bearer,
      );
      return answer.status === 202 ? answer : undefined;
    });
    const sentAt = Date.now();
    const letter = await eventually('the refused event to be a dead letter', async () =>
      (await pendingDeadLetters()).find((l) => l.eventId === refused.id),
    );
    console.log(
      `dead letter ${letter.id} listed ${String(Date.now() - sentAt)} ms after the Broker took the event`,
    );
    expect(letter).toMatchObject({
      eventType: PROVISION_EVENT,
      destination: `http://${product.hosts.provision ?? ''}`,
      errorCode: 400,
    });
    // Not retried: a 400 is final, so it was dead-lettered once, right after the one delivery.
    expect(letter.attempts).toBe(1);
    const after = await eventually('the dead-letter counter to grow', async () => {
      const now = await p.counter('dead-letter', 'tenant_lifecycle_dead_letters_total', counted);
      return increased(before, now) ? now : undefined;
    });
    console.log(
      `tenant_lifecycle_dead_letters_total${JSON.stringify(counted)} per pod ${JSON.stringify(Object.fromEntries(before))} -> ${JSON.stringify(Object.fromEntries(after))}`,
    );

    // The positive control: the same sender's valid event reaches provision and is no dead letter.
    const accepted = await p.postToBroker({ type: PROVISION_EVENT, data: { email: goodEmail } }, bearer);
    expect(accepted.status).toBe(202);
    await eventually(`tenant ${goodTenant} to be provisioned`, async () =>
      (await p.namespaceExists(goodTenant)) ? true : undefined,
    );
    expect((await pendingDeadLetters()).some((l) => l.eventId === accepted.id)).toBe(false);
  });

  it('keeps an event whose function keeps failing, after Knative retried it, and replays it once the failure is gone', async () => {
    const failed = { operation: 'provision', trigger: 'cloudevent', outcome: 'client_error' };
    const before = await p.counter('provision', 'tenant_function_requests_total', failed);
    // As a provision of this tenant still running would: the lease, renewed by nobody, held for 10 min.
    await p.store(
      `INSERT INTO tenant_lifecycle.lock_leases (name, owner, expires_at)
         VALUES ($1, gen_random_uuid(), now() + interval '10 minutes')`,
      [busyLock],
    );
    const bearer = await senderToken();
    // The Broker answers the sender once its channel has the event (async-handler, knative/README.md
    // "Delivery"), not once the delivery, retries included, has ended: the answer comes before the dead
    // letter. When it answered is taken as it arrives.
    const sent = { id: randomUUID() };
    const sentAt = Date.now();
    let answeredMs: number | undefined;
    const posted = p
      .postToBroker({ id: sent.id, type: PROVISION_EVENT, data: { email: busyEmail } }, bearer, 480_000)
      .then((answer) => {
        answeredMs = Date.now() - sentAt;
        return answer;
      });
    const letter = await eventually(
      'the retried event to be a dead letter',
      async () => (await pendingDeadLetters()).find((l) => l.eventId === sent.id),
      420_000,
    );
    const deadLetteredMs = Date.now() - sentAt;
    const ingressAnswer = await posted;
    expect(ingressAnswer.status).toBe(202);
    expect(answeredMs).toBeLessThan(deadLetteredMs);
    expect(letter).toMatchObject({ eventType: PROVISION_EVENT, errorCode: 409, attempts: 1 });
    const after = await p.counter('provision', 'tenant_function_requests_total', failed);
    // The first delivery and Knative's 5 retries, each answered 409 busy.
    expect(growth(before, after)).toBeGreaterThanOrEqual(6);
    expect(await p.namespaceExists(busyTenant)).toBe(false);
    console.log(
      `retried event dead-lettered ${String(Math.round(deadLetteredMs / 1000))} s after it was posted; ` +
        `the Broker's ingress answered ${String(ingressAnswer.status)} ${String(answeredMs)} ms after the post; ` +
        `provision's failed event requests grew by ${String(growth(before, after))}`,
    );

    // The failure is gone: the operator's replay delivers the same event, and the tenant is made.
    await p.store('DELETE FROM tenant_lifecycle.lock_leases WHERE name = $1', [busyLock]);
    const replay = await p.call('dead-letter', {
      path: `/dead-letters/${letter.id}/replay`,
      token: p.token('dead-letter'),
      body: {},
    });
    expect(replay.status, replay.body).toBe(200);
    expect(JSON.parse(replay.body)).toMatchObject({ replayed: true, eventId: sent.id });
    await eventually(`tenant ${busyTenant} to be provisioned by the replay`, async () =>
      (await p.namespaceExists(busyTenant)) ? true : undefined,
    );
    expect((await pendingDeadLetters()).some((l) => l.eventId === sent.id)).toBe(false);
  }, 600_000);
});
