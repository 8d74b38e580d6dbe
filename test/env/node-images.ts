/**
 * The test node's images, assembled without a Docker engine: each is one layer (a tar of a directory made
 * here, with numeric owners and fixed times) on an empty base, its user numeric, put together and pushed to
 * the loopback registry by crane (go-containerregistry). Pods name them under REGISTRY_HOST, which the node's
 * containerd maps to the loopback registry.
 *
 * - pause: the sandbox process of every pod (test/env/go/node-tools/pause), as user 65535.
 * - busybox: Debian's busybox-static with a link per applet, kubeapi (an in-cluster API client,
 *   test/env/go/node-tools/kubeapi), /etc/passwd naming user 1000, /tmp; user 1000.
 * - coredns: the cluster DNS (test/env/go/coredns), as user 1000.
 * - nodejs: the base of the function images: Debian's libc6, libgcc-s1, libstdc++6 and ca-certificates
 *   (downloaded with `apt-get download`, unpacked with `dpkg-deb -x`, the CA bundle concatenated as
 *   update-ca-certificates would), /etc/passwd naming user 1000, /tmp, and the Node.js 24 binary that runs
 *   the environment (the one that bundles the functions, so their compile cache is valid); user 1000, no
 *   shell. Its layer is cached under $TL_CACHE_DIR/images/, keyed on the packages' and Node.js' versions.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './process.ts';

/** The registry name pods use; containerd pulls it from the loopback registry over plain HTTP. */
export const REGISTRY_HOST = 'registry.tenant-lifecycle.test';
const BUSYBOX = '/bin/busybox';

export interface NodeImages {
  readonly pause: string;
  readonly busybox: string;
  readonly coredns: string;
  /** Node.js 24 on Debian's C and C++ runtime and CA certificates, user 1000, no shell. */
  readonly nodejs: string;
}

/** The Debian packages under the Node.js binary: what it links against, and the CA certificates. */
const BASE_PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6', 'ca-certificates'];

interface ImageRecipe {
  readonly name: string;
  readonly tag?: string;
  /** Fills the root directory of the image's only layer. */
  readonly fill: (root: string) => Promise<void>;
  /** Keep the compressed layer under $TL_CACHE_DIR/images/<name>-<key>.tar.gz. */
  readonly cacheKey?: () => Promise<string>;
  readonly user: string;
  /** PATH of the image (default /bin). */
  readonly path?: string;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
}

function busyboxRoot(kubeapiBinary: string): (root: string) => Promise<void> {
  return async (root) => {
    if (!existsSync(BUSYBOX))
      throw new Error(`${BUSYBOX} not found: install the Debian package busybox-static (.ci/run does)`);
    await mkdir(join(root, 'bin'), { recursive: true });
    await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
    await chmod(join(root, 'bin', 'busybox'), 0o755);
    const applets = (await run(BUSYBOX, ['--list'])).split('\n').filter((a) => /^[\w.[-]+$/.test(a));
    for (const applet of applets) {
      if (applet !== 'busybox') await symlink('busybox', join(root, 'bin', applet));
    }
    await mkdir(join(root, 'etc'));
    await writeFile(
      join(root, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n',
    );
    await writeFile(join(root, 'etc', 'group'), 'root:x:0:\napp:x:1000:\n');
    await mkdir(join(root, 'tmp'));
    await chmod(join(root, 'tmp'), 0o1777);
    await copyFile(kubeapiBinary, join(root, 'bin', 'kubeapi'));
    await chmod(join(root, 'bin', 'kubeapi'), 0o755);
  };
}

function cacheDir(): string {
  return process.env.TL_CACHE_DIR ?? fileURLToPath(new URL('../../.cache', import.meta.url));
}

/** The newest candidate .deb of each base package, downloaded once into $TL_CACHE_DIR/debs/. */
async function basePackages(): Promise<string[]> {
  const dir = join(cacheDir(), 'debs');
  await mkdir(dir, { recursive: true });
  const versions = await run('apt-cache', ['policy', ...BASE_PACKAGES]);
  const candidates = BASE_PACKAGES.map((name) => {
    const section = versions.split(/^(?=\S)/m).find((s) => s.startsWith(`${name}:`)) ?? '';
    const candidate = /Candidate: (\S+)/.exec(section)?.[1];
    if (candidate === undefined || candidate === '(none)')
      throw new Error(`apt knows no ${name}: run apt-get update (.ci/run does)`);
    return `${name}=${candidate}`;
  });
  const files = await readdir(dir);
  const wanted = candidates.map((c) => {
    const [name = '', version = ''] = c.split('=');
    const prefix = `${name}_${version.replace(/^\d+:/, '').replace(/:/g, '%3a')}_`;
    return files.find((f) => f.startsWith(prefix) && f.endsWith('.deb'));
  });
  if (wanted.some((f) => f === undefined)) await run('apt-get', ['download', ...candidates], { cwd: dir });
  const after = await readdir(dir);
  return candidates.map((c) => {
    const [name = '', version = ''] = c.split('=');
    const prefix = `${name}_${version.replace(/^\d+:/, '').replace(/:/g, '%3a')}_`;
    const file = after.find((f) => f.startsWith(prefix) && f.endsWith('.deb'));
    if (file === undefined) throw new Error(`apt-get download left no ${prefix}*.deb in ${dir}`);
    return join(dir, file);
  });
}

async function nodejsRoot(root: string): Promise<void> {
  for (const deb of await basePackages()) await run('dpkg-deb', ['-x', deb, root]);
  const mozilla = join(root, 'usr', 'share', 'ca-certificates', 'mozilla');
  const certificates = (await readdir(mozilla)).filter((f) => f.endsWith('.crt')).sort();
  await mkdir(join(root, 'etc', 'ssl', 'certs'), { recursive: true });
  await writeFile(
    join(root, 'etc', 'ssl', 'certs', 'ca-certificates.crt'),
    (await Promise.all(certificates.map((f) => readFile(join(mozilla, f), 'utf8')))).join(''),
  );
  await writeFile(
    join(root, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000:app:/tmp:/sbin/nologin\n',
  );
  await writeFile(join(root, 'etc', 'group'), 'root:x:0:\napp:x:1000:\n');
  await mkdir(join(root, 'tmp'), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  await mkdir(join(root, 'usr', 'local', 'bin'), { recursive: true });
  await copyFile(process.execPath, join(root, 'usr', 'local', 'bin', 'node'));
  await chmod(join(root, 'usr', 'local', 'bin', 'node'), 0o755);
}

async function nodejsCacheKey(): Promise<string> {
  const debs = (await basePackages()).map((deb) => deb.split('/').pop() ?? '');
  return createHash('sha256')
    .update([...debs, process.version, process.execPath].join('\n'))
    .digest('hex')
    .slice(0, 16);
}

function binaryRoot(binary: string, as: string): (root: string) => Promise<void> {
  return async (root) => {
    await copyFile(binary, join(root, as));
    await chmod(join(root, as), 0o755);
  };
}

/** The image's layer as a tar, or a cached gzipped tar (crane uses a compressed layer as it is). */
async function layerOf(dir: string, recipe: ImageRecipe): Promise<string> {
  const key = await recipe.cacheKey?.();
  const cached = key === undefined ? undefined : join(cacheDir(), 'images', `${recipe.name}-${key}.tar.gz`);
  if (cached !== undefined && existsSync(cached)) return cached;
  const root = join(dir, recipe.name, 'root');
  await mkdir(root, { recursive: true });
  await recipe.fill(root);
  const layer = join(dir, recipe.name, 'layer.tar');
  await run('tar', [
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-C',
    root,
    '-cf',
    layer,
    '.',
  ]);
  await rm(root, { recursive: true, force: true });
  if (cached === undefined) return layer;
  await run('gzip', ['-n', layer]);
  await mkdir(join(cacheDir(), 'images'), { recursive: true });
  await copyFile(`${layer}.gz`, `${cached}.part`);
  await rename(`${cached}.part`, cached);
  return cached;
}

async function buildAndPush(
  crane: string,
  dir: string,
  registry: string,
  recipe: ImageRecipe,
): Promise<void> {
  const layer = await layerOf(dir, recipe);
  const ref = `${registry}/test/${recipe.name}:${recipe.tag ?? '1'}`;
  await run(crane, ['append', '--oci-empty-base', '--new_layer', layer, '--new_tag', ref, '--insecure']);
  await run(crane, [
    'mutate',
    ref,
    '--insecure',
    `--user=${recipe.user}`,
    `--env=PATH=${recipe.path ?? '/bin'}`,
    '--set-platform=linux/amd64',
    ...(recipe.entrypoint === undefined ? [] : [`--entrypoint=${recipe.entrypoint.join(',')}`]),
    ...(recipe.cmd === undefined ? [] : [`--cmd=${recipe.cmd.join(',')}`]),
    '--tag',
    ref,
  ]);
}

/** Builds the node's images and pushes them to the registry at `registry` (127.0.0.1:<port>). */
export async function pushNodeImages(options: {
  readonly crane: string;
  readonly pauseBinary: string;
  readonly kubeapiBinary: string;
  readonly corednsBinary: string;
  readonly dir: string;
  readonly registry: string;
}): Promise<NodeImages> {
  const recipes: ImageRecipe[] = [
    {
      name: 'pause',
      fill: binaryRoot(options.pauseBinary, 'pause'),
      user: '65535:65535',
      entrypoint: ['/pause'],
    },
    { name: 'busybox', fill: busyboxRoot(options.kubeapiBinary), user: '1000:1000', cmd: ['sh'] },
    {
      name: 'coredns',
      fill: binaryRoot(options.corednsBinary, 'coredns'),
      user: '1000:1000',
      entrypoint: ['/coredns'],
    },
    {
      name: 'nodejs',
      tag: process.versions.node,
      fill: nodejsRoot,
      cacheKey: nodejsCacheKey,
      user: '1000:1000',
      path: '/usr/local/bin:/usr/bin:/bin',
      entrypoint: ['/usr/local/bin/node'],
    },
  ];
  await Promise.all(
    recipes.map((recipe) => buildAndPush(options.crane, options.dir, options.registry, recipe)),
  );
  const ref = (name: string, tag = '1'): string => `${REGISTRY_HOST}/test/${name}:${tag}`;
  return {
    pause: ref('pause'),
    busybox: ref('busybox'),
    coredns: ref('coredns'),
    nodejs: ref('nodejs', process.versions.node),
  };
}
