/**
 * knative/image/build-images.ts and knative/image/Dockerfile describe the same image: the engine-free build
 * of provision is pushed to the test node's registry, and its configuration (crane config) and files (its
 * layers, crane export) are compared with the Dockerfile's final stage, parsed: user, working directory,
 * entrypoint and command, environment, exposed port, and the bundle folder at /app, root-owned and
 * read-only to the user. The image also holds its SBOM, valid against the CycloneDX schema.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import * as CDX from '@cyclonedx/cyclonedx-library';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildFunctionImages, SBOM_PATH, type BuiltImage } from '../../../knative/image/build-images.ts';
import { SBOM_SPEC } from '../../../knative/image/sbom.ts';
import '../../env/provided.ts';

const env = inject('testEnv');
const node = env.node;
if (node === undefined)
  throw new Error('this test needs the test node: run it with test/vitest.node.config.ts (`make test-node`)');
const execFileAsync = promisify(execFile);
const FUNCTION = 'provision';
const dockerfile = readFileSync(new URL('../../../knative/image/Dockerfile', import.meta.url), 'utf8');

/** What an image is, as far as the Dockerfile can say. */
interface ImageDescription {
  readonly user: string;
  readonly workdir: string;
  readonly entrypoint: readonly string[] | undefined;
  readonly cmd: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly exposedPorts: readonly string[];
  /** The source folder copied to the working directory, and the owner it is given. */
  readonly copy: { readonly source: string; readonly destination: string; readonly chown: string };
}

/**
 * The final stage of a Dockerfile, for the instructions this project's Dockerfile uses (ARG, ENV k=v,
 * WORKDIR, COPY --from --chown, USER, EXPOSE, CMD/ENTRYPOINT in JSON form). `${FUNCTION}` is replaced by
 * the build argument. Anything else in the final stage is refused, so that a new instruction gets compared.
 */
function finalStage(text: string, buildArgs: Record<string, string>): ImageDescription {
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stage = instructions.slice(instructions.findLastIndex((line) => /^FROM\s/i.test(line)) + 1);
  const substitute = (value: string): string =>
    value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => {
      const name = a ?? b ?? '';
      const value = buildArgs[name];
      if (value === undefined)
        throw new Error(`the Dockerfile uses \${${name}}, which no build argument sets`);
      return value;
    });
  let user = 'root';
  let workdir = '/';
  let entrypoint: string[] | undefined;
  let cmd: string[] = [];
  const environment: Record<string, string> = {};
  const exposedPorts: string[] = [];
  let copy: ImageDescription['copy'] | undefined;
  for (const line of stage) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const argument = line.slice(keyword.length).trim();
    switch (keyword.toUpperCase()) {
      case 'ARG':
        break;
      case 'ENV':
        for (const pair of rest) {
          const [key = '', ...value] = pair.split('=');
          environment[key] = substitute(value.join('='));
        }
        break;
      case 'WORKDIR':
        workdir = substitute(argument);
        break;
      case 'USER':
        user = substitute(argument);
        break;
      case 'EXPOSE':
        exposedPorts.push(...rest.map((port) => (port.includes('/') ? port : `${port}/tcp`)));
        break;
      case 'CMD':
        cmd = JSON.parse(argument) as string[];
        break;
      case 'ENTRYPOINT':
        entrypoint = JSON.parse(argument) as string[];
        break;
      case 'COPY': {
        const flags = Object.fromEntries(
          rest.filter((r) => r.startsWith('--')).map((r) => r.slice(2).split('=') as [string, string]),
        );
        const [source = '', destination = ''] = rest.filter((r) => !r.startsWith('--')).map(substitute);
        if (copy !== undefined)
          throw new Error('the final stage copies more than one folder: compare it too');
        copy = { source, destination, chown: flags.chown ?? '' };
        break;
      }
      default:
        throw new Error(`the final stage has an instruction this test does not compare: ${line}`);
    }
  }
  if (copy === undefined) throw new Error('the final stage copies no bundle');
  return { user, workdir, entrypoint, cmd, env: environment, exposedPorts, copy };
}

interface ImageConfig {
  readonly config: {
    readonly User?: string;
    readonly WorkingDir?: string;
    readonly Entrypoint?: string[] | null;
    readonly Cmd?: string[];
    readonly Env?: string[];
    readonly ExposedPorts?: Record<string, unknown>;
  };
}

/**
 * The differences between what the Dockerfile says and the image's configuration. The image's PATH is its
 * base's (the Dockerfile's base sets its own); the Dockerfile's base (node:24) has an entrypoint that runs
 * the command it is given, so the Dockerfile not setting one means the image runs its command as it is.
 */
function configDifferences(described: ImageDescription, image: ImageConfig): string[] {
  const config = image.config;
  const differences: string[] = [];
  const differ = (what: string, expected: unknown, actual: unknown): void => {
    if (JSON.stringify(expected) !== JSON.stringify(actual))
      differences.push(`${what}: Dockerfile ${JSON.stringify(expected)}, image ${JSON.stringify(actual)}`);
  };
  differ('user', described.user, config.User);
  differ('workdir', described.workdir, config.WorkingDir);
  differ('entrypoint', described.entrypoint ?? null, config.Entrypoint ?? null);
  differ('cmd', described.cmd, config.Cmd);
  const imageEnv = Object.fromEntries(
    (config.Env ?? [])
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const)
      .filter(([key]) => key !== 'PATH'),
  );
  differ('env', described.env, imageEnv);
  differ('exposed ports', described.exposedPorts, Object.keys(config.ExposedPorts ?? {}).sort());
  return differences;
}

/** One entry of a layer listing (GNU tar -tv --numeric-owner). */
interface TarEntry {
  readonly mode: string;
  readonly owner: string;
  readonly path: string;
}

function parseListing(listing: string): TarEntry[] {
  return listing
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match = /^(\S{10})\s+(\d+\/\d+)\s+\d+\s+\S+\s+\S+\s+(.+?)(?: -> .*)?$/.exec(line);
      if (match === null) throw new Error(`unexpected tar listing line: ${line}`);
      return { mode: match[1] ?? '', owner: match[2] ?? '', path: (match[3] ?? '').replace(/^\.\//, '') };
    });
}

/** Every file, folder and link under `dir` (links not followed), relative, with its type (d, l or -). */
async function folderEntries(dir: string, prefix = ''): Promise<string[]> {
  const entries: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    entries.push(`${entry.isDirectory() ? 'd' : entry.isSymbolicLink() ? 'l' : '-'} ${path}`);
    if (entry.isDirectory()) entries.push(...(await folderEntries(dir, path)));
  }
  return entries.sort();
}

let out: string;
let image: BuiltImage;
let config: ImageConfig;
let files: TarEntry[];

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'tl-images-'));
  const { images } = await buildFunctionImages({
    registry: node.registry.address,
    crane: node.crane,
    functions: [FUNCTION],
    tag: `parity-${randomBytes(4).toString('hex')}`,
    insecure: true,
    outRoot: out,
  });
  image = images[0] ?? expect.unreachable('no image built');
  config = JSON.parse(
    (await execFileAsync(node.crane, ['config', image.digest, '--insecure'])).stdout,
  ) as ImageConfig;
  await execFileAsync(node.crane, ['export', image.digest, join(out, 'image.tar'), '--insecure']);
  files = parseListing(
    (
      await execFileAsync('tar', ['--numeric-owner', '-tvf', join(out, 'image.tar')], {
        maxBuffer: 64 * 1024 * 1024,
      })
    ).stdout,
  );
}, 240_000);

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('the engine-free function image and the Dockerfile', () => {
  const described = finalStage(dockerfile, { FUNCTION });

  it('have the same user, working directory, command, environment and port', () => {
    expect(described).toMatchObject({ user: '1000:1000', workdir: '/app', cmd: ['node', 'main.mjs'] });
    expect(configDifferences(described, config)).toEqual([]);
    // The image's own PATH finds the node of its command.
    expect(config.config.Env).toContain('PATH=/usr/local/bin:/usr/bin:/bin');
    expect(files.find((f) => f.path === 'usr/local/bin/node')?.mode).toBe('-rwxr-xr-x');
    // The comparison sees a difference: the Dockerfile as it was (a named user) would not match.
    const named = finalStage(dockerfile.replace(/^USER .*$/m, 'USER node'), { FUNCTION });
    expect(configDifferences(named, config)).toEqual(['user: Dockerfile "node", image "1000:1000"']);
  });

  it('hold the bundle folder at /app, root-owned and writable by no one but root', async () => {
    expect(described.copy).toEqual({
      source: `/src/dist/${FUNCTION}/`,
      destination: './',
      chown: 'root:root',
    });
    const bundleDir = join(out, FUNCTION);
    const expected = (await folderEntries(bundleDir)).map((entry) => entry.replace(' ', ' app/'));
    const app = files.filter((f) => f.path.startsWith('app/'));
    expect(
      app.map((f) => `${f.mode[0] === '-' ? '-' : (f.mode[0] ?? '')} ${f.path.replace(/\/$/, '')}`).sort(),
    ).toEqual(expected);
    expect(app.length).toBeGreaterThan(10);
    for (const file of [...app, ...files.filter((f) => f.path === 'app/' || f.path === 'app')]) {
      expect(file.owner, file.path).toBe('0/0');
      if (file.mode[0] !== 'l') expect(file.mode.slice(4).replace(/[^w]/g, ''), file.path).toBe('');
    }
    // Node.js' compile cache is in the folder of the image's uid (Node.js cannot make one on a read-only /app).
    const uid = described.user.split(':')[0] ?? '';
    expect(
      app.some((f) => f.mode[0] === 'd' && new RegExp(`^app/\\.compile-cache/v[^/]+-${uid}/?$`).test(f.path)),
    ).toBe(true);
  });

  it('holds its SBOM, the one written next to the bundle, valid CycloneDX', async () => {
    const inImage = (
      await execFileAsync('tar', ['-xOf', join(out, 'image.tar'), SBOM_PATH.slice(1)], {
        maxBuffer: 16 * 1024 * 1024,
      })
    ).stdout;
    expect(inImage).toBe(await readFile(image.sbom, 'utf8'));
    expect(relative(out, image.sbom)).toBe(`${FUNCTION}.cdx.json`);
    expect(await new CDX.Validation.JsonStrictValidator(SBOM_SPEC.version).validate(inImage)).toBeNull();
    const components = (JSON.parse(inImage) as { components: { purl: string }[] }).components;
    expect(components.some((c) => c.purl.startsWith('pkg:npm/%40kubernetes/client-node@'))).toBe(true);
    expect(
      components.some(
        (c) =>
          c.purl ===
          `pkg:generic/node@${process.versions.node}?download_url=https%3A%2F%2Fnodejs.org%2Fdist%2Fv${process.versions.node}%2F`,
      ),
    ).toBe(true);
    expect(components.filter((c) => c.purl.startsWith('pkg:deb/debian/')).length).toBe(4);
  });
});
