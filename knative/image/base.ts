/**
 * The base of the function images, made without a Docker engine: Debian's libc6, libgcc-s1, libstdc++6 and
 * ca-certificates (downloaded with `apt-get download`, unpacked with `dpkg-deb -x`, the CA bundle
 * concatenated as update-ca-certificates would), /etc/passwd and /etc/group naming the image's user
 * (IMAGE_USER), /tmp, and the Node.js 24 binary that runs this build (the one that bundles the functions, so
 * that their compile cache is valid in the image); no shell. It is one layer, kept gzipped under
 * $TL_CACHE_DIR/images/ and keyed on the packages' and Node.js' versions. build-images.ts puts each
 * function on it; the test node (test/env/node-images.ts) runs it as its `nodejs` image.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The image's unprivileged user, numeric so that the kubelet can check runAsNonRoot. */
export const IMAGE_USER = { uid: 1000, gid: 1000 } as const;

/** The Debian packages under the Node.js binary: what it links against, and the CA certificates. */
export const BASE_PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6', 'ca-certificates'] as const;

/** Where Node.js is in the image; PATH names its folder first. */
export const NODE_PATH = '/usr/local/bin/node';
export const IMAGE_PATH = '/usr/local/bin:/usr/bin:/bin';

const execFileAsync = promisify(execFile);

/** Runs a program; resolves its standard output, or fails with the end of what it printed. */
export async function run(command: string, args: readonly string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${`${stdout}${stderr}`.slice(-4000)}`, {
      cause: error,
    });
  }
}

/** $TL_CACHE_DIR, or .cache/ in the repository. */
export function cacheDir(): string {
  return process.env.TL_CACHE_DIR ?? fileURLToPath(new URL('../../.cache', import.meta.url));
}

/** One Debian package of the base, as its .deb's control file names it. */
export interface DebianPackage {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
  readonly file: string;
}

/** The newest candidate .deb of each base package, downloaded once into $TL_CACHE_DIR/debs/. */
export async function basePackages(): Promise<DebianPackage[]> {
  const dir = join(cacheDir(), 'debs');
  await mkdir(dir, { recursive: true });
  const policy = await run('apt-cache', ['policy', ...BASE_PACKAGES]);
  const candidates = BASE_PACKAGES.map((name) => {
    const section = policy.split(/^(?=\S)/m).find((s) => s.startsWith(`${name}:`)) ?? '';
    const candidate = /Candidate: (\S+)/.exec(section)?.[1];
    if (candidate === undefined || candidate === '(none)')
      throw new Error(`apt knows no ${name}: run apt-get update (.ci/run does)`);
    return { name, version: candidate };
  });
  // apt-get download names a file <name>_<version without epoch, ':' escaped>_<arch>.deb.
  const prefix = ({ name, version }: { name: string; version: string }): string =>
    `${name}_${version.replace(/^\d+:/, '').replace(/:/g, '%3a')}_`;
  const find = (files: string[], c: { name: string; version: string }): string | undefined =>
    files.find((f) => f.startsWith(prefix(c)) && f.endsWith('.deb'));
  const present = await readdir(dir);
  if (candidates.some((c) => find(present, c) === undefined))
    await run('apt-get', ['download', ...candidates.map((c) => `${c.name}=${c.version}`)], dir);
  const after = await readdir(dir);
  return Promise.all(
    candidates.map(async (c) => {
      const file = find(after, c);
      if (file === undefined) throw new Error(`apt-get download left no ${prefix(c)}*.deb in ${dir}`);
      const path = join(dir, file);
      const [name = '', version = '', architecture = ''] = (
        await run('dpkg-deb', ['--showformat=${Package}\\n${Version}\\n${Architecture}\\n', '--show', path])
      ).split('\n');
      return { name, version, architecture, file: path };
    }),
  );
}

/** Fills `root` with the base: the packages unpacked, the CA bundle, the user, /tmp and Node.js. */
export async function fillBaseRoot(root: string, packages: readonly DebianPackage[]): Promise<void> {
  for (const deb of packages) await run('dpkg-deb', ['-x', deb.file, root]);
  const mozilla = join(root, 'usr', 'share', 'ca-certificates', 'mozilla');
  const certificates = (await readdir(mozilla)).filter((f) => f.endsWith('.crt')).sort();
  await mkdir(join(root, 'etc', 'ssl', 'certs'), { recursive: true });
  await writeFile(
    join(root, 'etc', 'ssl', 'certs', 'ca-certificates.crt'),
    (await Promise.all(certificates.map((f) => readFile(join(mozilla, f), 'utf8')))).join(''),
  );
  const { uid, gid } = IMAGE_USER;
  await writeFile(
    join(root, 'etc', 'passwd'),
    `root:x:0:0:root:/root:/sbin/nologin\napp:x:${uid}:${gid}:app:/tmp:/sbin/nologin\n`,
  );
  await writeFile(join(root, 'etc', 'group'), `root:x:0:\napp:x:${gid}:\n`);
  await mkdir(join(root, 'tmp'), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  await mkdir(join(root, 'usr', 'local', 'bin'), { recursive: true });
  await copyFile(process.execPath, join(root, NODE_PATH));
  await chmod(join(root, NODE_PATH), 0o755);
}

/**
 * Writes `root` as an uncompressed layer tar at `layer`: sorted, times at 0, every file owned by root
 * (numerically), modes as they are.
 */
export async function writeLayer(root: string, layer: string): Promise<void> {
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
}

/** The base layer (gzipped tar) for these packages and this Node.js, made once and kept in the cache. */
export async function baseLayer(packages: readonly DebianPackage[]): Promise<string> {
  const key = createHash('sha256')
    .update([...packages.map((p) => basename(p.file)), process.version, process.execPath].join('\n'))
    .digest('hex')
    .slice(0, 16);
  const cached = join(cacheDir(), 'images', `nodejs-${key}.tar.gz`);
  if (existsSync(cached)) return cached;
  const scratch = await mkdtemp(join(tmpdir(), 'tl-base-'));
  try {
    const root = join(scratch, 'root');
    await mkdir(root);
    await fillBaseRoot(root, packages);
    const layer = join(scratch, 'layer.tar');
    await writeLayer(root, layer);
    await run('gzip', ['-n', layer]);
    await mkdir(join(cacheDir(), 'images'), { recursive: true });
    await copyFile(`${layer}.gz`, `${cached}.part`);
    await rename(`${cached}.part`, cached);
    return cached;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
