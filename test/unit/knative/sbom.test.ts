/**
 * The function images' SBOM (knative/image/sbom.ts) from a real esbuild metafile of provision: valid against
 * the CycloneDX library's own JSON schema, listing each bundled npm package once with the version, licence
 * and purl of its package.json, Node.js and the Debian packages, and nothing that is not bundled.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as CDX from '@cyclonedx/cyclonedx-library';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { functionSbom, packageFolderOf, SBOM_SPEC } from '../../../knative/image/sbom.ts';

const root = new URL('../../../', import.meta.url);
const versionOf = (name: string): string =>
  (
    JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, root), 'utf8')) as {
      version: string;
    }
  ).version;

const debianPackages = [
  { name: 'libc6', version: '2.36-9+deb12u14', architecture: 'amd64', file: '/nowhere/libc6.deb' },
  { name: 'libstdc++6', version: '12.2.0-14+deb12u1', architecture: 'amd64', file: '/nowhere/l.deb' },
];

interface Component {
  readonly type: string;
  readonly name: string;
  readonly group?: string;
  readonly version: string;
  readonly purl: string;
  readonly licenses?: readonly { license?: { id?: string; name?: string }; expression?: string }[];
}

let metafile: Metafile;
let json: string;
let components: Component[];

beforeAll(async () => {
  const out = await mkdtemp(join(tmpdir(), 'tl-sbom-'));
  try {
    ({ metafile } = await build({
      entryPoints: { main: new URL('functions/provision/main.ts', root).pathname },
      outdir: out,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node24',
      write: false,
      metafile: true,
      external: ['pg-native'],
      logLevel: 'silent',
    }));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
  json = await functionSbom({
    name: 'provision',
    version: '1.2.3',
    metafile,
    workingDir: process.cwd(),
    debianPackages,
    nodeVersion: '24.21.0',
  });
  components = (JSON.parse(json) as { components: Component[] }).components;
}, 60_000);

describe('the function image SBOM', () => {
  it('is CycloneDX that the library’s JSON schema accepts', async () => {
    const validator = new CDX.Validation.JsonStrictValidator(SBOM_SPEC.version);
    expect(await validator.validate(json)).toBeNull();
    expect(JSON.parse(json)).toMatchObject({
      bomFormat: 'CycloneDX',
      specVersion: '1.7',
      metadata: { component: { type: 'container', name: 'tenant-lifecycle-provision', version: '1.2.3' } },
    });
    // The same validator refuses a broken document (a component without its name).
    const broken = JSON.parse(json) as { components: Record<string, unknown>[] };
    delete broken.components[0]?.name;
    expect(await validator.validate(JSON.stringify(broken))).not.toBeNull();
  });

  it('lists every bundled npm package once, with the version, licence and purl of its package.json', () => {
    const npm = components.filter((c) => c.purl.startsWith('pkg:npm/'));
    const folders = new Set(
      Object.keys(metafile.inputs)
        .map(packageFolderOf)
        .filter((f) => f !== undefined),
    );
    expect(folders.size).toBeGreaterThan(20);
    expect(npm.length).toBeLessThanOrEqual(folders.size);
    expect(new Set(npm.map((c) => c.purl)).size).toBe(npm.length);
    for (const [name, purl] of [
      ['zod', `pkg:npm/zod@${versionOf('zod')}`],
      ['pg', `pkg:npm/pg@${versionOf('pg')}`],
      [
        '@kubernetes/client-node',
        `pkg:npm/%40kubernetes/client-node@${versionOf('@kubernetes/client-node')}`,
      ],
    ] as const)
      expect(
        npm.find((c) => c.purl === purl),
        name,
      ).toBeDefined();
    expect(npm.find((c) => c.purl.startsWith('pkg:npm/zod@'))?.licenses).toEqual([
      { license: { id: 'MIT' } },
    ]);
    expect(npm.find((c) => c.name === 'client-node')).toMatchObject({
      group: '@kubernetes',
      type: 'library',
    });
    expect(npm.filter((c) => (c.licenses ?? []).length === 0).map((c) => c.name)).toEqual([]);
  });

  it('lists nothing that is not bundled: no development tools', () => {
    const names = components.map((c) => c.name);
    // Positive control: a runtime dependency of provision is there.
    expect(names).toContain('keycloak-admin-client');
    for (const tool of ['vitest', 'esbuild', 'typescript', 'eslint', 'prettier', 'cyclonedx-library'])
      expect(names).not.toContain(tool);
  });

  it('lists Node.js and the Debian packages of the base', () => {
    expect(components.find((c) => c.name === 'node')).toMatchObject({
      type: 'platform',
      version: '24.21.0',
      licenses: [{ license: { id: 'MIT' } }],
    });
    const debs = components.filter((c) => c.purl.startsWith('pkg:deb/debian/'));
    expect(debs.map((c) => [c.name, c.version])).toEqual([
      ['libc6', '2.36-9+deb12u14'],
      ['libstdc++6', '12.2.0-14+deb12u1'],
    ]);
    expect(debs[1]?.purl).toMatch(/^pkg:deb\/debian\/libstdc%2B%2B6@12\.2\.0-14\+deb12u1\?arch=amd64/);
  });
});
