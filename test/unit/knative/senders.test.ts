/**
 * knative/base: every event a function receives is authenticated. Each PingSource, ApiServerSource and
 * Trigger names its function's audience, and the function's EVENT_SENDERS lists exactly the OIDC
 * identities Knative Eventing gives those senders (a ServiceAccount named by kmeta.ChildName(<name>,
 * "-oidc-<group>-<kind>") in the sender's namespace: knative.dev/eventing v0.50.0 pkg/auth/serviceaccount.go).
 * Each function reads its own Secret; nothing accepts an unauthenticated event.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { functionNames } from '../../../knative/image/bundle.ts';

interface Reference {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}
interface Filter {
  exact?: Record<string, string>;
  prefix?: Record<string, string>;
  any?: Filter[];
}
interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: {
    sink?: { ref: Reference; audience?: string };
    subscriber?: { ref: Reference; audience?: string };
    broker?: string;
    filter?: { attributes: Record<string, string | undefined> };
    delivery?: { deadLetterSink?: { ref: Reference; audience?: string } };
    to?: { ref: Reference }[];
    from?: { sub?: string }[];
    filters?: Filter[];
    template?: {
      spec: {
        containers: {
          env?: { name: string; value?: string }[];
          envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
        }[];
      };
    };
  };
}

const base = new URL('../../../knative/base/', import.meta.url);
const read = (file: string): Doc[] =>
  parseAllDocuments(readFileSync(new URL(file, base), 'utf8'))
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
const all = readdirSync(base)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap(read);
const services = all.filter((d) => d.kind === 'Service' && d.apiVersion === 'serving.knative.dev/v1');

/** knative.dev/pkg kmeta.ChildName: parent + suffix, or, past 63 characters, parent[:31] + md5 (padded). */
function childName(parent: string, suffix: string): string {
  const longest = 63;
  const head = longest - 32;
  if (parent.length <= longest - suffix.length) return parent + suffix;
  if (head - suffix.length <= 0) {
    let name =
      parent.slice(0, head) +
      createHash('md5')
        .update(parent + suffix)
        .digest('hex');
    if (name.length < longest) name += suffix.slice(0, longest - name.length);
    return name.replace(/[^a-zA-Z0-9]+$/, '');
  }
  return parent.slice(0, head - suffix.length) + createHash('md5').update(parent).digest('hex') + suffix;
}

/** The OIDC identity Knative Eventing sends with for `sender` (a source or a Trigger). */
function identity(sender: Doc): string {
  const group = sender.apiVersion.split('/')[0] ?? '';
  const name = childName(sender.metadata.name, `-oidc-${group}-${sender.kind}`).toLowerCase();
  return `system:serviceaccount:${sender.metadata.namespace ?? ''}:${name}`;
}

const env = (service: Doc, name: string): string | undefined =>
  service.spec?.template?.spec.containers[0]?.env?.find((e) => e.name === name)?.value;

describe('knative/base senders and audiences', () => {
  it('ports kmeta.ChildName faithfully (short names as they are, long ones hashed)', () => {
    expect(childName('reset', '-oidc-eventing.knative.dev-trigger')).toBe(
      'reset-oidc-eventing.knative.dev-trigger',
    );
    const long = childName('a-source-name-long-enough-to-overflow', '-oidc-sources.knative.dev-pingsource');
    expect(long).toHaveLength(63);
    expect(long.startsWith('a-source-name-long-enough-to-ov')).toBe(true);
  });

  it('sends every event with the receiving function’s audience, which the function accepts', () => {
    const senders = all.filter((d) => d.spec?.sink !== undefined || d.kind === 'Trigger');
    expect(senders.map((s) => s.kind)).toEqual(
      expect.arrayContaining(['PingSource', 'ApiServerSource', 'Trigger']),
    );
    for (const sender of senders) {
      const target = sender.spec?.sink ?? sender.spec?.subscriber;
      if (target?.ref.kind === 'Broker') {
        // A source posting to the Broker: the Broker announces its audience, an EventPolicy admits it.
        expect(target.audience, `${sender.kind} ${sender.metadata.name}`).toBeUndefined();
        const admitted = all
          .filter((d) => d.kind === 'EventPolicy')
          .flatMap((p) => p.spec?.from?.map((f) => f.sub) ?? []);
        expect(admitted, `${sender.kind} ${sender.metadata.name}`).toContain(identity(sender));
        continue;
      }
      const fn = target?.ref.name ?? '';
      const service = services.find((s) => s.metadata.name === fn);
      expect(service, `${sender.kind} ${sender.metadata.name} -> ${fn}`).toBeDefined();
      expect(target?.audience, `${sender.kind} ${sender.metadata.name}`).toBe(`tenant-lifecycle/${fn}`);
      expect(env(service as Doc, 'EVENT_AUDIENCE')).toBe(target?.audience);
    }
  });

  it('lets each function accept exactly the identities of its own sources and Trigger', () => {
    for (const service of services) {
      const fn = service.metadata.name;
      // A dead letter comes with the identity of the Trigger whose delivery failed.
      const expected = all
        .filter(
          (d) =>
            (d.spec?.sink ?? d.spec?.subscriber)?.ref.name === fn ||
            (d.kind === 'Trigger' && d.spec?.delivery?.deadLetterSink?.ref.name === fn),
        )
        .filter((d) => d.kind !== 'Service')
        .map(identity)
        .sort();
      const listed = (env(service, 'EVENT_SENDERS') ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
        .sort();
      expect(listed, fn).toEqual(expected);
      // Unhashed names: the identities an operator reads in the manifest are the ones Knative creates.
      for (const sender of listed) expect(sender, fn).not.toMatch(/[0-9a-f]{32}/);
    }
    // Every function but bootstrap (HTTP only) receives events.
    expect(services.filter((s) => env(s, 'EVENT_SENDERS') === undefined).map((s) => s.metadata.name)).toEqual(
      ['bootstrap'],
    );
  });

  it('accepts no unauthenticated event anywhere in knative/', () => {
    const files = (dir: URL): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(new URL(`${e.name}/`, dir)) : [readFileSync(new URL(e.name, dir), 'utf8')],
      );
    const texts = files(new URL('../../../knative/', import.meta.url));
    expect(texts.length).toBeGreaterThan(10);
    for (const text of texts) expect(text).not.toContain('TRUST_UNAUTHENTICATED_EVENTS');
  });

  it('lets only the product’s senders post to the Broker, each only its own event types', () => {
    const policies = all.filter((d) => d.kind === 'EventPolicy');
    const routed = all
      .filter(
        (d) => d.kind === 'Trigger' && d.spec?.filter?.attributes.type?.startsWith('dev.tenantlifecycle.'),
      )
      .map((t) => t.spec?.filter?.attributes.type);
    const types = (filter: Filter): (string | undefined)[] =>
      filter.any?.flatMap(types) ?? [filter.exact?.type ?? `${filter.prefix?.type ?? ''}*`];
    const sa = (name: string, namespace = 'tenant-functions') => `system:serviceaccount:${namespace}:${name}`;
    const pings = ['reset-monthly', 'cleanup-daily', 'sync-hourly', 'enforce-every-10-minutes'];
    expect(
      Object.fromEntries(
        policies.map((p) => {
          expect(p.spec?.to?.map((t) => `${t.ref.kind}/${t.ref.name}`)).toEqual(['Broker/tenant-lifecycle']);
          return [
            p.metadata.name,
            { from: p.spec?.from?.map((f) => f.sub), types: p.spec?.filters?.flatMap(types) },
          ];
        }),
      ),
    ).toEqual({
      'reset-continuation': { from: [sa('reset')], types: ['dev.tenantlifecycle.tenant.reset.requested'] },
      'bootstrap-limits-changed': {
        from: [sa('bootstrap')],
        types: ['dev.tenantlifecycle.everest.limits.changed'],
      },
      'dead-letter-replay': { from: [sa('dead-letter')], types: routed },
      schedules: {
        from: pings.map((p) => sa(`${p}-oidc-sources.knative.dev-pingsource`)),
        types: ['dev.knative.sources.ping'],
      },
      'pg-reconcile-ping': {
        from: [sa('pg-reconcile-5-minutes-oidc-sources.knative.dev-pingsource')],
        types: ['dev.knative.sources.ping'],
      },
      'pg-reconcile-desired': {
        from: [sa('pg-reconcile-desired-oidc-sources.knative.dev-apiserversource', 'postgres')],
        types: ['dev.knative.apiserver.ref.*'],
      },
    });
  });

  it('gives every function a Secret of its own and the shared ConfigMap', () => {
    expect(services.map((s) => s.metadata.name).sort()).toEqual(functionNames());
    for (const service of services) {
      const from = service.spec?.template?.spec.containers[0]?.envFrom ?? [];
      expect(from, service.metadata.name).toEqual([
        { configMapRef: { name: 'tenant-lifecycle-config' } },
        { secretRef: { name: `tenant-lifecycle-${service.metadata.name}` } },
      ]);
    }
  });

  it('deploys every manifest of knative/base', () => {
    const kustomization = readFileSync(new URL('kustomization.yaml', base), 'utf8');
    for (const file of readdirSync(base).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml'))
      expect(kustomization, file).toContain(`  - ${file}\n`);
  });
});
