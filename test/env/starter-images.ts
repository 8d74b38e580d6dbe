/**
 * Images of the plans' starter workloads for the test node, which cannot pull from Docker Hub: built
 * without a Docker engine (one layer on the node's Node.js base image, put together and pushed to the
 * loopback registry by crane), named as pods pull them (`<registry host>/test/<name>:<tag>`).
 *
 * - webide-standin: test/env/webide-standin.ts on Node.js 24, user 1000, HOME=/home/coder; it stands in
 *   for code-server (the webide plan's image, WEBIDE_IMAGE) and keeps the contract the starter relies on
 *   (see that file). Tagged with a hash of the script, so a changed script is a new tag.
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeLayer } from '../../knative/image/base.ts';
import type { NodeInfo } from './node.ts';
import { run } from './process.ts';

const WEBIDE_STANDIN_SOURCE = fileURLToPath(new URL('webide-standin.ts', import.meta.url));
const WEBIDE_STANDIN_PATH = '/usr/lib/webide-standin/server.ts';

/** Builds the webide stand-in on the node's Node.js image and pushes it; resolves the name pods pull. */
export async function pushWebIdeStandin(node: NodeInfo): Promise<string> {
  const source = await readFile(WEBIDE_STANDIN_SOURCE);
  const base = node.images.nodejs;
  const tag = createHash('sha256').update(base).update(source).digest('hex').slice(0, 12);
  const repository = 'test/webide-standin';
  const pushed = `${node.registry.address}/${repository}:${tag}`;
  const dir = await mkdtemp(join(tmpdir(), 'webide-standin-'));
  try {
    const root = join(dir, 'root');
    await mkdir(join(root, 'usr', 'lib', 'webide-standin'), { recursive: true });
    await copyFile(WEBIDE_STANDIN_SOURCE, join(root, WEBIDE_STANDIN_PATH));
    await chmod(join(root, WEBIDE_STANDIN_PATH), 0o644);
    const layer = join(dir, 'layer.tar');
    await writeLayer(root, layer);
    // The base as the registry serves it on loopback (pods name it by the registry host instead).
    const baseOnLoopback = base.replace(node.registry.host, node.registry.address);
    await run(node.crane, [
      'append',
      '--base',
      baseOnLoopback,
      '--new_layer',
      layer,
      '--new_tag',
      pushed,
      '--insecure',
    ]);
    await run(node.crane, [
      'mutate',
      pushed,
      '--insecure',
      '--user=1000:1000',
      '--env=HOME=/home/coder',
      `--entrypoint=/usr/local/bin/node,${WEBIDE_STANDIN_PATH}`,
      '--cmd=--auth,password,--bind-addr,0.0.0.0:8080',
      '--tag',
      pushed,
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return `${node.registry.host}/${repository}:${tag}`;
}
