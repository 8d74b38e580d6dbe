/**
 * Images of Knative's components and Traefik for the test cluster, assembled without a Docker engine or ko:
 * each is the binary that build-servers.sh --knative built from the Go module proxy, at /ko-app/<name> as
 * ko would put it, on a static base (the CA bundle of the machine's Debian ca-certificates, /etc/passwd
 * naming the nonroot user 65532, /tmp), user 65532:65532, pushed by crane to the loopback registry.
 *
 * ko itself is not used: it would rebuild and push every binary at every start, while these binaries are
 * cached by key (TL_CACHE_DIR/bin) and their compressed layers too (TL_CACHE_DIR/images), so a warm start
 * only uploads layers to the loopback registry. The images hold what ko's would, minus its SBOM: the
 * binary, its entrypoint and KO_DATA_PATH (Knative's commands ship no kodata).
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { writeLayer } from '../../knative/image/base.ts';
import { REGISTRY_HOST } from './node-images.ts';
import { run } from './process.ts';

/** The ko:// import path of each binary build-servers.sh --knative builds, by its file name. */
export const KNATIVE_BINARIES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  serving: {
    controller: 'knative.dev/serving/cmd/controller',
    webhook: 'knative.dev/serving/cmd/webhook',
    activator: 'knative.dev/serving/cmd/activator',
    autoscaler: 'knative.dev/serving/cmd/autoscaler',
    queue: 'knative.dev/serving/cmd/queue',
  },
  eventing: {
    controller: 'knative.dev/eventing/cmd/controller',
    webhook: 'knative.dev/eventing/cmd/webhook',
    mtping: 'knative.dev/eventing/cmd/mtping',
    apiserver_receive_adapter: 'knative.dev/eventing/cmd/apiserver_receive_adapter',
    broker_ingress: 'knative.dev/eventing/cmd/broker/ingress',
    broker_filter: 'knative.dev/eventing/cmd/broker/filter',
    mtchannel_broker: 'knative.dev/eventing/cmd/mtchannel_broker',
    channel_controller: 'knative.dev/eventing/cmd/in_memory/channel_controller',
    channel_dispatcher: 'knative.dev/eventing/cmd/in_memory/channel_dispatcher',
    auth_proxy: 'knative.dev/eventing/cmd/auth_proxy',
    jobsink: 'knative.dev/eventing/cmd/jobsink',
    requestreply: 'knative.dev/eventing/cmd/requestreply',
  },
};

const NONROOT = 65532;
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

function cacheDir(): string {
  return process.env.TL_CACHE_DIR ?? fileURLToPath(new URL('../../.cache', import.meta.url));
}

async function tarLayer(root: string, out: string): Promise<void> {
  await writeLayer(root, out);
  await run('gzip', ['-n', '-1', '-f', out]);
}

/** The static base's layer, made once per run (a few hundred KiB). */
async function baseLayer(dir: string): Promise<string> {
  if (!existsSync(CA_BUNDLE))
    throw new Error(`${CA_BUNDLE} not found: install the Debian package ca-certificates`);
  const root = join(dir, 'static-base');
  await mkdir(join(root, 'etc', 'ssl', 'certs'), { recursive: true });
  await copyFile(CA_BUNDLE, join(root, 'etc', 'ssl', 'certs', 'ca-certificates.crt'));
  await writeFile(
    join(root, 'etc', 'passwd'),
    `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`,
  );
  await writeFile(join(root, 'etc', 'group'), `root:x:0:\nnonroot:x:${NONROOT}:\n`);
  await mkdir(join(root, 'tmp'));
  await chmod(join(root, 'tmp'), 0o1777);
  await mkdir(join(root, 'home', 'nonroot'), { recursive: true });
  const layer = join(dir, 'static-base.tar');
  await tarLayer(root, layer);
  await rm(root, { recursive: true, force: true });
  return `${layer}.gz`;
}

/**
 * The binary's compressed layer, cached beside the binaries' cache key (their folder's name holds it), so
 * a warm start compresses nothing.
 */
async function binaryLayer(dir: string, binDir: string, binary: string): Promise<string> {
  const cached = join(cacheDir(), 'images', `${basename(binDir)}-${binary}.tar.gz`);
  if (existsSync(cached)) return cached;
  const root = join(dir, `layer-${binary}`);
  await mkdir(join(root, 'ko-app'), { recursive: true });
  await copyFile(join(binDir, binary), join(root, 'ko-app', binary));
  await chmod(join(root, 'ko-app', binary), 0o755);
  const layer = join(dir, `${basename(binDir)}-${binary}.tar`);
  await tarLayer(root, layer);
  await rm(root, { recursive: true, force: true });
  await mkdir(join(cacheDir(), 'images'), { recursive: true });
  await copyFile(`${layer}.gz`, `${cached}.part`);
  await rename(`${cached}.part`, cached);
  await rm(`${layer}.gz`);
  return cached;
}

/** Pushes one image and answers the reference pods pull it by (by digest). */
async function pushImage(options: {
  readonly crane: string;
  readonly registry: string;
  readonly repository: string;
  readonly layers: readonly string[];
  readonly entrypoint: string;
}): Promise<string> {
  const ref = `${options.registry}/${options.repository}:latest`;
  await run(options.crane, [
    'append',
    '--oci-empty-base',
    ...options.layers.flatMap((layer) => ['--new_layer', layer]),
    '--new_tag',
    ref,
    '--insecure',
  ]);
  const digest = (
    await run(options.crane, [
      'mutate',
      ref,
      '--insecure',
      `--user=${NONROOT}:${NONROOT}`,
      '--env=PATH=/ko-app',
      '--env=KO_DATA_PATH=/var/run/ko',
      '--env=SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
      '--set-platform=linux/amd64',
      `--entrypoint=${options.entrypoint}`,
      '--tag',
      ref,
    ])
  ).trim();
  // The last line is the pushed reference; the lines before it log blobs.
  const sha = /@(sha256:[0-9a-f]{64})$/.exec(digest)?.[1];
  if (sha === undefined) throw new Error(`crane mutate answered no digest for ${ref}: ${digest}`);
  return `${REGISTRY_HOST}/${options.repository}@${sha}`;
}

export interface KnativeImages {
  /** ko:// import path -> image reference by digest under REGISTRY_HOST. */
  readonly byImportPath: ReadonlyMap<string, string>;
  readonly traefik: string;
}

/** Builds and pushes the images of Knative Serving, Eventing and Traefik; at most 3 at once. */
export async function pushKnativeImages(options: {
  readonly crane: string;
  /** 127.0.0.1:<port> of the loopback registry. */
  readonly registry: string;
  readonly dir: string;
  readonly servingBinDir: string;
  readonly eventingBinDir: string;
  readonly traefikBinDir: string;
}): Promise<KnativeImages> {
  await mkdir(options.dir, { recursive: true });
  const base = await baseLayer(options.dir);
  const limit = pLimit(3);
  const binDirs: Record<string, string> = {
    serving: options.servingBinDir,
    eventing: options.eventingBinDir,
  };
  const jobs = Object.entries(KNATIVE_BINARIES).flatMap(([project, binaries]) =>
    Object.entries(binaries).map(([binary, importPath]) =>
      limit(async () => {
        const binDir = binDirs[project] ?? '';
        const layer = await binaryLayer(options.dir, binDir, binary);
        const ref = await pushImage({
          crane: options.crane,
          registry: options.registry,
          repository: `knative/${project}-${binary.replace(/_/g, '-')}`,
          layers: [base, layer],
          entrypoint: `/ko-app/${binary}`,
        });
        return [importPath, ref] as const;
      }),
    ),
  );
  const traefik = limit(async () =>
    pushImage({
      crane: options.crane,
      registry: options.registry,
      repository: 'traefik/traefik',
      layers: [base, await binaryLayer(options.dir, options.traefikBinDir, 'traefik')],
      entrypoint: '/ko-app/traefik',
    }),
  );
  return { byImportPath: new Map(await Promise.all(jobs)), traefik: await traefik };
}
