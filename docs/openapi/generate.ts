/**
 * `make openapi`: docs/openapi/<function>.json, one OpenAPI 3.1 document per function (each is its own
 * service), rendered from its FunctionSpec by shared/platform/openapi.ts. test/unit/docs/openapi.test.ts
 * fails when a committed document differs from what this renders.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bootstrapSpec } from '../../functions/bootstrap/index.ts';
import { cleanupSpec } from '../../functions/cleanup/index.ts';
import { deadLetterSpec } from '../../functions/dead-letter/index.ts';
import { deprovisionSpec } from '../../functions/deprovision/index.ts';
import { enforceSpec } from '../../functions/enforce/index.ts';
import { pgReconcileSpec } from '../../functions/pg-reconcile/index.ts';
import { provisionSpec } from '../../functions/provision/index.ts';
import { resetSpec } from '../../functions/reset/index.ts';
import { syncSpec } from '../../functions/sync/index.ts';
import { openApiDocument } from '../../shared/platform/openapi.ts';
import type { FunctionSpec } from '../../shared/platform/operation.ts';

/**
 * Each function's spec. Only routes and input schemas are read, never an operation run, so the
 * dependencies are left empty (pg-reconcile reads where its ConfigMap is while building its spec).
 */
const none = (value: unknown = {}): never => value as never;
export const specs: Readonly<Record<string, () => FunctionSpec>> = {
  bootstrap: () => bootstrapSpec(none()),
  cleanup: () => cleanupSpec(none()),
  'dead-letter': () => deadLetterSpec(none()),
  deprovision: () => deprovisionSpec(none()),
  enforce: () => enforceSpec(none()),
  'pg-reconcile': () =>
    pgReconcileSpec(none({ reconcile: { settings: { source: 'postgres/postgres-users-config' } } })),
  provision: () => provisionSpec(none()),
  reset: () => resetSpec(none()),
  sync: () => syncSpec(none()),
};

const root = fileURLToPath(new URL('../../', import.meta.url));
export const documentPath = (name: string): string => `${root}docs/openapi/${name}.json`;

export function render(name: string): string {
  const spec = specs[name];
  if (spec === undefined) throw new Error(`no spec for ${name}`);
  const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string };
  return `${JSON.stringify(openApiDocument(spec(), version), null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  for (const name of Object.keys(specs)) {
    writeFileSync(documentPath(name), render(name));
    console.log(documentPath(name));
  }
}
