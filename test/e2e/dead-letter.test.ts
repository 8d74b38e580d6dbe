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
 * A retryable failure (5xx, 409 busy) would take the Trigger's 5 retries (2 + 4 + 8 + 16 + 32 s) first; it is
 * not run here.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
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

afterAll(async () => {
  await p.removeSender(sender);
  if (await p.namespaceExists(goodTenant))
    await p.deprovisionTenant(goodEmail).catch((error: unknown) => {
      console.error(error);
    });
});

describe('the dead-letter sink', () => {
  it('keeps an event its function refuses for good, and counts it; a valid event beside it is delivered', async () => {
    const counted = { type: PROVISION_EVENT, destination: 'provision' };
    const before = await p.counter('dead-letter', 'tenant_lifecycle_dead_letters_total', counted);
    const { token } = await p.allowedSender(sender, [PROVISION_EVENT]);
    const bearer = await token();

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
});
