/**
 * knative/base: every event delivery has retries with backoff and the product's dead-letter sink. In
 * Knative Eventing v0.50.0 only the Broker and the Trigger carry `delivery` (config/core/resources/
 * broker.yaml and trigger.yaml; pingsource.yaml and apiserversource.yaml have none): each declares it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

interface Delivery {
  retry?: number;
  backoffPolicy?: string;
  backoffDelay?: string;
  deadLetterSink?: { ref?: { kind: string; name: string }; audience?: string };
}
interface Doc {
  kind: string;
  metadata: { name: string };
  spec?: {
    delivery?: Delivery;
    template?: { spec: { containers: { env?: { name: string; value?: string }[] }[] } };
  };
}

const base = new URL('../../../knative/base/', import.meta.url);
const all = readdirSync(base)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((file) =>
    parseAllDocuments(readFileSync(new URL(file, base), 'utf8'))
      .map((d) => d.toJS() as Doc | null)
      .filter((d): d is Doc => d !== null),
  );

/** Seconds from the first attempt to the last: Knative waits backoffDelay × 2^i before retry i+1. */
function lastRetryAfter(delivery: Delivery): number {
  const delay = Number(/^PT(\d+)S$/.exec(delivery.backoffDelay ?? '')?.[1]);
  let total = 0;
  for (let i = 0; i < (delivery.retry ?? 0); i++) total += delay * 2 ** i;
  return total;
}

describe('knative/base delivery', () => {
  it('gives the Broker and every Trigger retries, exponential backoff and the dead-letter sink', () => {
    const deliverers = all.filter((d) => d.kind === 'Broker' || d.kind === 'Trigger');
    expect(deliverers.filter((d) => d.kind === 'Trigger').length).toBeGreaterThan(5);
    const sink = all.find((d) => d.kind === 'Service' && d.metadata.name === 'dead-letter');
    const audience = sink?.spec?.template?.spec.containers[0]?.env?.find((e) => e.name === 'EVENT_AUDIENCE');
    expect(audience?.value).toBe('tenant-lifecycle/dead-letter');
    for (const d of deliverers) {
      expect(d.spec?.delivery, `${d.kind} ${d.metadata.name}`).toEqual({
        retry: 5,
        backoffPolicy: 'exponential',
        backoffDelay: 'PT2S',
        deadLetterSink: {
          ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'dead-letter' },
          audience: audience?.value,
        },
      });
      // The last retry comes about a minute after the first attempt: a rollout or a restart passes.
      expect(lastRetryAfter(d.spec?.delivery ?? {})).toBe(62);
    }
  });
});
