/** knative/openfaas/stack.yml deploys every function, with the same schedules as the Knative PingSources. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { functionNames } from '../../../knative/image/bundle.ts';
import { pingTarget } from '../../support/knative-routes.ts';

const read = (path: string) => readFileSync(new URL(`../../../knative/${path}`, import.meta.url), 'utf8');
const stack = parse(read('openfaas/stack.yml')) as {
  functions: Record<
    string,
    { image: string; environment_file?: string[]; annotations?: { topic?: string; schedule?: string } }
  >;
};
const pings = ['base/schedules.yaml', 'base/pg-reconcile.yaml'].flatMap((file) =>
  parseAllDocuments(read(file))
    .map(
      (d) =>
        d.toJS() as {
          kind: string;
          metadata: { name: string; namespace: string };
          spec: { schedule?: string };
        },
    )
    .filter((o) => o.kind === 'PingSource'),
);

describe('knative/openfaas/stack.yml', () => {
  it('deploys every function', () => {
    expect(Object.keys(stack.functions).sort()).toEqual(functionNames());
  });

  it('schedules through the cron-connector exactly what the PingSources schedule', () => {
    const cron = Object.fromEntries(
      Object.entries(stack.functions)
        .filter(([, f]) => f.annotations?.topic === 'cron-function')
        .map(([name, f]) => [name, f.annotations?.schedule]),
    );
    expect(cron).toEqual(
      Object.fromEntries(
        pings.map((p) => [pingTarget(p.metadata.name, p.metadata.namespace), p.spec.schedule]),
      ),
    );
  });

  it('gives every function its own credentials file besides the shared settings', () => {
    for (const [name, f] of Object.entries(stack.functions))
      expect(f.environment_file, name).toEqual(['tenant-lifecycle.env', `tenant-lifecycle-${name}.env`]);
  });
});
