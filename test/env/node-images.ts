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
 * - nodejs: the base of the function images (knative/image/base.ts: Debian's C and C++ runtime and CA
 *   certificates, user 1000, Node.js 24 of this environment, no shell) with `node` as its entrypoint. Its
 *   layer is the one the function images are built on (knative/image/build-images.ts), cached the same.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  baseLayer,
  basePackages,
  IMAGE_PATH,
  IMAGE_USER,
  NODE_PATH,
  writeLayer,
} from '../../knative/image/base.ts';
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

interface ImageRecipe {
  readonly name: string;
  readonly tag?: string;
  /** Fills the root directory of the image's only layer, or gives a ready layer. */
  readonly fill: ((root: string) => Promise<void>) | { readonly layer: () => Promise<string> };
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

function binaryRoot(binary: string, as: string): (root: string) => Promise<void> {
  return async (root) => {
    await copyFile(binary, join(root, as));
    await chmod(join(root, as), 0o755);
  };
}

/** The image's layer as a tar. */
async function layerOf(dir: string, recipe: ImageRecipe): Promise<string> {
  if (typeof recipe.fill !== 'function') return recipe.fill.layer();
  const root = join(dir, recipe.name, 'root');
  await mkdir(root, { recursive: true });
  await recipe.fill(root);
  const layer = join(dir, recipe.name, 'layer.tar');
  await writeLayer(root, layer);
  await rm(root, { recursive: true, force: true });
  return layer;
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
      fill: { layer: async () => baseLayer(await basePackages()) },
      user: `${IMAGE_USER.uid}:${IMAGE_USER.gid}`,
      path: IMAGE_PATH,
      entrypoint: [NODE_PATH],
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
