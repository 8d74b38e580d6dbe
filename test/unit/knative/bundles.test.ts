/**
 * What each function's bundle runs before it listens (knative/image/bundle.ts): the functions framework, the
 * configuration (zod/mini, shared/platform/env-schema.ts) and the logger, never the adapters, the host or
 * classic zod (about 20 ms). A function whose main.ts imports its
 * index.ts statically, or whose config.ts imports an adapter, fails here: import index.ts with `import()`
 * in main.ts as the others do (see shared/platform/server.ts and docs/benchmarks.md, "Function bundles").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundle, functionNames, startOutputs } from '../../../knative/image/bundle.ts';

/** Loaded on first use only: each costs tens of milliseconds or more at start. */
const HEAVY = [
  '@kubernetes/client-node',
  '@keycloak/keycloak-admin-client',
  'undici',
  'pg',
  'prom-client',
  'cloudevents',
  'any-ascii',
  'yaml',
];
const out = await mkdtemp(join(tmpdir(), 'tl-bundles-test-'));
afterAll(() => rm(out, { recursive: true, force: true }));

describe('function bundles', () => {
  it.each(functionNames())(
    '%s loads no adapter before it listens',
    async (name) => {
      const started = startOutputs(await bundle(name, out));
      const packages = new Set(
        started.flatMap((o) =>
          o.inputs.map((input) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1] ?? ''),
        ),
      );
      expect(packages.has('@google-cloud/functions-framework')).toBe(true);
      expect(HEAVY.filter((p) => packages.has(p))).toEqual([]);
      const inputs = started.flatMap((o) => o.inputs);
      expect(inputs.filter((i) => i.includes('shared/platform/host.ts'))).toEqual([]);
      expect(inputs.filter((i) => i.includes('zod/v4/classic/'))).toEqual([]);
    },
    60_000,
  );
});
