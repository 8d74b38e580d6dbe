/** knative/base/events.yaml routes every product CloudEvent type a function accepts to that function, and only there. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { specs } from '../../../docs/openapi/generate.ts';

interface Trigger {
  kind: string;
  metadata?: { annotations?: Record<string, string> };
  spec?: { broker: string; filter: { attributes: { type: string } }; subscriber: { ref: { name: string } } };
}
const objects = parseAllDocuments(
  readFileSync(new URL('../../../knative/base/events.yaml', import.meta.url), 'utf8'),
).map((d) => d.toJS() as Trigger);
const triggers = objects.filter((o) => o.kind === 'Trigger');

describe('knative/base/events.yaml', () => {
  it('has a Trigger for every event type of every function, to that function', () => {
    const accepted = Object.entries(specs).flatMap(([name, spec]) =>
      spec().operations.flatMap((op) =>
        (op.events ?? [])
          // Knative's own source events (ApiServerSource) have their Trigger in pg-reconcile.yaml.
          .filter((type) => !type.startsWith('dev.knative.'))
          .map((type) => `${type} -> ${name}`),
      ),
    );
    const routed = triggers.map(
      (t) => `${t.spec?.filter.attributes.type ?? ''} -> ${t.spec?.subscriber.ref.name ?? ''}`,
    );
    expect(routed.sort()).toEqual(accepted.sort());
    expect(new Set(triggers.map((t) => t.spec?.broker))).toEqual(new Set(['tenant-lifecycle']));
  });

  it("has the Broker's channel answer a sender at once, not after the delivery", () => {
    const brokers = objects.filter((o) => o.kind === 'Broker');
    expect(brokers).toHaveLength(1);
    expect(brokers[0]?.metadata?.annotations?.['messaging.knative.dev/async-handler']).toBe('true');
  });
});
