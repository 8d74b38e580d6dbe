/**
 * The software bill of materials of a function image, CycloneDX JSON (the newest specification the
 * CycloneDX library serialises): the npm packages esbuild put into the bundle (the package.json of each
 * package its metafile names an input of: name, version, licence, purl), Node.js, and the Debian packages
 * of the base (base.ts). Built and serialised by @cyclonedx/cyclonedx-library.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as CDX from '@cyclonedx/cyclonedx-library';
import type { Metafile } from 'esbuild';
import { PackageURL } from 'packageurl-js';
import type { DebianPackage } from './base.ts';

/** The specification the SBOM is written in. */
export const SBOM_SPEC = CDX.Spec.Spec1dot7;

/** The folder of the npm package an esbuild input belongs to (the innermost node_modules/<name>). */
export function packageFolderOf(input: string): string | undefined {
  const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  return match?.[1];
}

/**
 * Accepts an SPDX licence expression made of licence identifiers the library knows, joined by AND, OR and
 * WITH, in parentheses or not; throws otherwise (the library then records the text as a named licence).
 */
function validateSpdxExpression(expression: string): void {
  const tokens = expression.replace(/[()]/g, ' ').split(/\s+/).filter(Boolean);
  const valid = tokens.every(
    (token, i) =>
      (i % 2 === 1 && ['AND', 'OR', 'WITH'].includes(token)) ||
      (i % 2 === 0 && (CDX.SPDX.isSupportedSpdxId(token) || tokens[i - 1] === 'WITH')),
  );
  if (!valid || tokens.length % 2 === 0) throw new RangeError(`not an SPDX expression: ${expression}`);
}

const licenceFactory = new CDX.Contrib.License.Factories.LicenseFactory(validateSpdxExpression);

interface PackageJson {
  readonly name?: unknown;
  readonly version?: unknown;
  readonly license?: unknown;
  readonly licenses?: unknown;
}

function licencesOf(json: PackageJson): CDX.Models.LicenseRepository {
  const texts: string[] = [];
  if (typeof json.license === 'string') texts.push(json.license);
  else if (typeof (json.license as { type?: unknown } | undefined)?.type === 'string')
    texts.push((json.license as { type: string }).type);
  else if (Array.isArray(json.licenses))
    for (const entry of json.licenses as unknown[])
      if (typeof (entry as { type?: unknown } | null)?.type === 'string')
        texts.push((entry as { type: string }).type);
  return new CDX.Models.LicenseRepository(texts.map((text) => licenceFactory.makeFromString(text)));
}

/** The npm packages of the bundle, one component per package folder (name and version from it). */
export async function npmComponents(metafile: Metafile, workingDir: string): Promise<CDX.Models.Component[]> {
  const folders = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const folder = packageFolderOf(input);
    if (folder !== undefined) folders.add(resolve(workingDir, folder));
  }
  const components = new Map<string, CDX.Models.Component>();
  for (const folder of [...folders].sort()) {
    const json = JSON.parse(await readFile(join(folder, 'package.json'), 'utf8')) as PackageJson;
    if (typeof json.name !== 'string' || typeof json.version !== 'string')
      throw new Error(`${folder}/package.json names no package name and version`);
    const slash = json.name.indexOf('/');
    const scope = json.name.startsWith('@') && slash > 0 ? json.name.slice(0, slash) : undefined;
    const name = scope === undefined ? json.name : json.name.slice(slash + 1);
    const purl = new PackageURL('npm', scope, name, json.version).toString();
    if (components.has(purl)) continue;
    components.set(
      purl,
      new CDX.Models.Component(CDX.Enums.ComponentType.Library, name, {
        group: scope,
        version: json.version,
        licenses: licencesOf(json),
        purl,
        bomRef: purl,
      }),
    );
  }
  return [...components.values()];
}

/** The Debian distribution this machine is (`debian-12`), as /etc/os-release names it. */
async function debianDistro(): Promise<string | undefined> {
  const release = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const id = /^ID=(\S+)$/m.exec(release)?.[1]?.replace(/"/g, '');
  const version = /^VERSION_ID=(\S+)$/m.exec(release)?.[1]?.replace(/"/g, '');
  return id === undefined || version === undefined ? undefined : `${id}-${version}`;
}

function debianComponent(deb: DebianPackage, distro: string | undefined): CDX.Models.Component {
  const purl = new PackageURL('deb', 'debian', deb.name, deb.version, {
    arch: deb.architecture,
    ...(distro === undefined ? {} : { distro }),
  }).toString();
  return new CDX.Models.Component(CDX.Enums.ComponentType.Library, deb.name, {
    version: deb.version,
    purl,
    bomRef: purl,
  });
}

function nodejsComponent(version: string): CDX.Models.Component {
  const purl = new PackageURL('generic', undefined, 'node', version, {
    download_url: `https://nodejs.org/dist/v${version}/`,
  }).toString();
  return new CDX.Models.Component(CDX.Enums.ComponentType.Platform, 'node', {
    version,
    licenses: new CDX.Models.LicenseRepository([licenceFactory.makeFromString('MIT')]),
    purl,
    bomRef: purl,
  });
}

/** The SBOM of function `name`'s image, as CycloneDX JSON text. */
export async function functionSbom(options: {
  readonly name: string;
  readonly version: string;
  readonly metafile: Metafile;
  /** The folder esbuild's metafile paths are relative to. */
  readonly workingDir: string;
  readonly debianPackages: readonly DebianPackage[];
  readonly nodeVersion: string;
}): Promise<string> {
  const bom = new CDX.Models.Bom();
  bom.metadata.component = new CDX.Models.Component(
    CDX.Enums.ComponentType.Container,
    `tenant-lifecycle-${options.name}`,
    { version: options.version, bomRef: `tenant-lifecycle-${options.name}` },
  );
  const distro = await debianDistro();
  const components = [
    ...(await npmComponents(options.metafile, options.workingDir)),
    nodejsComponent(options.nodeVersion),
    ...options.debianPackages.map((deb) => debianComponent(deb, distro)),
  ];
  for (const component of components) {
    bom.components.add(component);
    bom.metadata.component.dependencies.add(component.bomRef);
  }
  const serializer = new CDX.Serialize.JsonSerializer(new CDX.Serialize.JSON.Normalize.Factory(SBOM_SPEC));
  return `${serializer.serialize(bom, { sortLists: true, space: 2 })}\n`;
}
