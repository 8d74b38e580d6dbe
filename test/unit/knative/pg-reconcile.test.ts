/** knative/base/pg-reconcile.yaml: its sources send what the function accepts, its rights are read-only. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { APISERVER_EVENTS, reconcileRequest } from '../../../functions/pg-reconcile/index.ts';

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  rules?: { resources: string[]; verbs: string[]; resourceNames?: string[] }[];
}

const docs = parseAllDocuments(
  readFileSync(new URL('../../../knative/base/pg-reconcile.yaml', import.meta.url), 'utf8'),
).map((d) => d.toJS() as Doc);
const one = (kind: string, name?: string) => {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0] as Doc;
};

describe('knative/base/pg-reconcile.yaml', () => {
  it('pings the function with a body its request schema accepts, in UTC', () => {
    const ping = one('PingSource');
    expect(ping.spec).toMatchObject({ timezone: 'UTC', contentType: 'application/json' });
    expect(reconcileRequest.safeParse(JSON.parse(ping.spec?.data as string)).success).toBe(true);
  });

  it('watches ConfigMaps and Secrets in Reference mode (no Secret data in events), whose types the function handles', () => {
    const source = one('ApiServerSource');
    expect(source.spec?.mode).toBe('Reference');
    expect(source.spec?.resources).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap' },
      { apiVersion: 'v1', kind: 'Secret' },
    ]);
    for (const verb of ['add', 'update', 'delete'])
      expect(APISERVER_EVENTS).toContain(`dev.knative.apiserver.ref.${verb}`);
  });

  it('gives the function read-only rights: its ConfigMap, and listing Secrets', () => {
    expect(one('Role', 'pg-reconcile').rules).toEqual([
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: ['postgres-users-config'],
        verbs: ['get'],
      },
      { apiGroups: [''], resources: ['secrets'], verbs: ['list'] },
    ]);
    const verbs = docs
      .filter((d) => d.kind === 'Role')
      .flatMap((d) => d.rules ?? [])
      .flatMap((r) => r.verbs);
    expect(new Set(verbs)).toEqual(new Set(['get', 'list', 'watch']));
  });
});
