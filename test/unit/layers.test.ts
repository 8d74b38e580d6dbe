/**
 * The layers of docs/architecture.md hold: no import in shared/ or functions/ crosses a layer the wrong way,
 * and no source outside the Kubernetes adapter spells an apiserver path (rules: test/support/layers.ts).
 * Each checker is first shown to catch what it looks for in small sources beside the allowed case next to
 * it, so that a clean tree cannot come from a checker that finds nothing.
 */
import { glob, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { apiserverPathViolations, importsOf, layerViolations, repositoryPath } from '../support/layers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

async function treeSources(): Promise<Map<string, string>> {
  const sources = new Map<string, string>();
  for await (const path of glob(['shared/**/*.ts', 'functions/**/*.ts'], { cwd: root })) {
    sources.set(repositoryPath(root, `${root}/${path}`), await readFile(`${root}/${path}`, 'utf8'));
  }
  return sources;
}

const reasonsFor = (sources: Record<string, string>) =>
  layerViolations(new Map(Object.entries(sources))).map((v) => `${v.file} -> ${v.target}: ${v.reason}`);

describe('the layer check', () => {
  it('reads value, type-only, re-exported and dynamic imports', () => {
    const edges = importsOf(
      'shared/tenancy/a.ts',
      [
        "import { x } from '../platform/errors.ts';",
        "import type { Y } from '../adapters/kubernetes/objects.ts';",
        "import { type Z } from '../adapters/kubernetes/discovery.ts';",
        "import { w, type V } from '../adapters/kubernetes/raw.ts';",
        "export { u } from './b.ts';",
        "const m = await import('../store/store.ts');",
        "import pg from 'pg';",
      ].join('\n'),
    );
    expect(edges).toEqual([
      { target: 'shared/platform/errors.ts', typeOnly: false },
      { target: 'shared/adapters/kubernetes/objects.ts', typeOnly: true },
      { target: 'shared/adapters/kubernetes/discovery.ts', typeOnly: true },
      { target: 'shared/adapters/kubernetes/raw.ts', typeOnly: false },
      { target: 'shared/tenancy/b.ts', typeOnly: false },
      { target: 'shared/store/store.ts', typeOnly: false },
    ]);
  });

  it('refuses each wrong-way import and lets the right-way one beside it through', () => {
    expect(
      reasonsFor({
        'shared/platform/event-sink.ts':
          "import { e } from './errors.ts';\nimport { r } from '../adapters/retry.ts';",
        'shared/platform/host.ts': "import { s } from '../store/store.ts';",
        'shared/adapters/kubernetes/cluster.ts':
          "import { e } from '../../platform/errors.ts';\nimport type { O } from '../../tenancy/baseline.ts';",
        'shared/adapters/grafana/client.ts': "import { k } from '../keycloak/directory.ts';",
        'shared/store/store.ts':
          "import { p } from '../adapters/postgres/pool.ts';\nimport { k } from '../adapters/kubernetes/raw.ts';",
        'shared/everest/a.ts':
          "import type { O } from '../adapters/kubernetes/objects.ts';\nimport { t } from '../tenancy/naming.ts';",
        'shared/pg-roles/b.ts':
          "import { q } from '../adapters/postgres/errors.ts';\nimport { c } from '../adapters/kubernetes/api-client.ts';",
        'shared/tenancy/c.ts':
          "import { s } from '../store/store.ts';\nimport { w } from '../wiring/tenant-systems.ts';",
        'shared/wiring/d.ts':
          "import { c } from '../adapters/kubernetes/cluster.ts';\nimport { f } from '../../functions/sync/index.ts';",
        'functions/sync/index.ts':
          "import { c } from './config.ts';\nimport { p } from '../provision/index.ts';",
        'shared/everest/e.ts': "import { t } from '../../test/support/crds.ts';",
      }),
    ).toEqual([
      'shared/platform/event-sink.ts -> shared/adapters/retry.ts: platform imports adapter',
      'shared/platform/host.ts -> shared/store/store.ts: platform imports store',
      'shared/adapters/kubernetes/cluster.ts -> shared/tenancy/baseline.ts: adapter kubernetes imports domain tenancy',
      'shared/adapters/grafana/client.ts -> shared/adapters/keycloak/directory.ts: adapter grafana imports adapter keycloak',
      'shared/store/store.ts -> shared/adapters/kubernetes/raw.ts: store imports adapter kubernetes',
      'shared/everest/a.ts -> shared/tenancy/naming.ts: everest imports tenancy',
      'shared/pg-roles/b.ts -> shared/adapters/kubernetes/api-client.ts: pg-roles imports adapter kubernetes at run time (define a port; wiring passes the adapter)',
      'shared/tenancy/c.ts -> shared/wiring/tenant-systems.ts: tenancy imports wiring',
      'shared/wiring/d.ts -> functions/sync/index.ts: imports the function sync',
      'functions/sync/index.ts -> functions/provision/index.ts: imports the function provision',
      'shared/everest/e.ts -> test/support/crds.ts: domain imports test/support/crds.ts, which is outside shared/ and functions/',
    ]);
  });

  it('refuses a function that builds an adapter itself, and lets its wiring, types and config source through', () => {
    expect(
      reasonsFor({
        'functions/enforce/index.ts': [
          "import { RawKubernetes } from '../../shared/adapters/kubernetes/raw.ts';",
          "import type { KubeConfig } from '../../shared/adapters/kubernetes/kubeconfig.ts';",
          "import { connectEnforceSystems } from '../../shared/wiring/everest-systems.ts';",
        ].join('\n'),
        'functions/enforce/config.ts':
          "import { kubeconfigSource } from '../../shared/adapters/kubernetes/kubeconfig-source.ts';",
      }),
    ).toEqual([
      'functions/enforce/index.ts -> shared/adapters/kubernetes/raw.ts: function enforce imports adapter kubernetes at run time (build it in shared/wiring)',
    ]);
  });

  it('finds no wrong-way import in shared/ and functions/', async () => {
    const sources = await treeSources();
    // The tree is really read: every layer has files, and imports between them are seen.
    expect([...sources.keys()].filter((p) => p.startsWith('shared/platform/')).length).toBeGreaterThan(10);
    expect([...sources.keys()].filter((p) => p.startsWith('functions/')).length).toBeGreaterThan(8);
    expect(importsOf('shared/store/store.ts', sources.get('shared/store/store.ts') ?? '')).toContainEqual({
      target: 'shared/adapters/postgres/errors.ts',
      typeOnly: false,
    });
    expect(reasonsFor(Object.fromEntries(sources))).toEqual([]);
  });
});

const pathsIn = (sources: Record<string, string>) =>
  apiserverPathViolations(new Map(Object.entries(sources))).map((p) => `${p.file}:${p.line} ${p.text}`);

describe('the apiserver path check', () => {
  it('finds apiserver paths in strings and templates outside the Kubernetes adapter, and allows them in it', () => {
    expect(
      pathsIn({
        'shared/everest/a.ts': [
          '// GET /api/v1/namespaces in a comment is no path',
          "const ns = '/api/v1/namespaces';",
          'const crd = `/apis/${group}/v1/namespaces/${namespace}/widgets`;',
          'const core = `/api/${version}`;',
          "const groups = '/apis';",
          "const ref = { group: '', version: 'v1', resource: 'namespaces' };",
        ].join('\n'),
        'functions/enforce/index.ts': 'list(api, `/api/v1/namespaces/${ns}/pods`);',
        'shared/adapters/kubernetes/resource-path.ts':
          "const base = `/apis/${group}/${version}`;\nconst all = '/apis';",
        'shared/adapters/grafana/client.ts':
          "call('GET', '/api/health');\ncall('POST', `/api/orgs/${id}/users`);",
      }),
    ).toEqual([
      'shared/everest/a.ts:2 /api/v1/namespaces',
      'shared/everest/a.ts:3 /apis/',
      'shared/everest/a.ts:4 /api/',
      'shared/everest/a.ts:5 /apis',
      'functions/enforce/index.ts:1 /api/v1/namespaces/',
    ]);
  });

  it('finds no apiserver path in shared/ or functions/ outside shared/adapters/kubernetes/', async () => {
    const sources = await treeSources();
    // The adapter's own paths are seen and allowed: the checker reads the tree it is given.
    expect(
      apiserverPathViolations(
        new Map([
          ['shared/everest/copy.ts', sources.get('shared/adapters/kubernetes/resource-path.ts') ?? ''],
        ]),
      ).length,
    ).toBeGreaterThan(0);
    expect(apiserverPathViolations(sources)).toEqual([]);
  });
});
