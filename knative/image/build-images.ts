/**
 * `make images REGISTRY=host:port` (node knative/image/build-images.ts --registry host:port [--crane path]
 * [--functions a,b] [--tag t] [--insecure]): every function's image without a Docker engine, pushed with
 * crane (go-containerregistry). Each is the image knative/image/Dockerfile describes: the function's bundle
 * (bundle.ts, dist/<name>/) at /app, root-owned and read-only to the user, on the base of base.ts (Debian's
 * C and C++ runtime and CA certificates, and the Node.js that bundled it, so the compile cache is valid),
 * user IMAGE_USER by number, WORKDIR /app, and the Dockerfile's environment, command and port
 * (test/integration/image/images.node.test.ts keeps the two equal). The SBOM (sbom.ts) is written to
 * dist/<name>.cdx.json and put in the image at SBOM_PATH. Prints `<registry>/tenant-lifecycle-<name>@sha256:…`
 * per image.
 */
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  baseLayer,
  basePackages,
  IMAGE_PATH,
  IMAGE_USER,
  run,
  writeLayer,
  type DebianPackage,
} from './base.ts';
import { bundle, functionNames } from './bundle.ts';
import { functionSbom } from './sbom.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** What the image's configuration holds besides PATH and the user (the Dockerfile's runtime stage). */
export const FUNCTION_IMAGE = {
  workdir: '/app',
  env: {
    NODE_ENV: 'production',
    PORT: '8080',
    NODE_COMPILE_CACHE: '/app/.compile-cache',
    NODE_COMPILE_CACHE_PORTABLE: '1',
  },
  cmd: ['node', 'main.mjs'],
  exposedPort: '8080/tcp',
} as const;

/** Where the image holds its SBOM. */
export const SBOM_PATH = '/usr/share/doc/tenant-lifecycle/sbom.cdx.json';

export interface BuiltImage {
  readonly name: string;
  /** <registry>/tenant-lifecycle-<name>:<tag> */
  readonly tagged: string;
  /** <registry>/tenant-lifecycle-<name>@sha256:… */
  readonly digest: string;
  /** dist/<name>.cdx.json */
  readonly sbom: string;
  /** How long bundling (with the compile cache's warm-up) and assembling and pushing took. */
  readonly bundleMs: number;
  readonly pushMs: number;
}

/** The layer of the function's own files: /app (the bundle) and the SBOM, root-owned, read-only to others. */
async function appLayer(bundleDir: string, sbom: string, scratch: string): Promise<string> {
  const stage = join(scratch, 'root');
  await cp(bundleDir, join(stage, 'app'), { recursive: true, verbatimSymlinks: true });
  await mkdir(dirname(join(stage, SBOM_PATH)), { recursive: true });
  await writeFile(join(stage, SBOM_PATH), sbom);
  await chmod(stage, 0o755);
  await run('chmod', ['-R', 'u+rwX,go+rX,go-w', stage]);
  const layer = join(scratch, 'app.tar');
  await writeLayer(stage, layer);
  return layer;
}

/** Bundles function `name`, writes its SBOM, assembles its image on the base layer and pushes it. */
export async function buildFunctionImage(options: {
  readonly name: string;
  readonly registry: string;
  readonly crane: string;
  readonly tag: string;
  /** The registry speaks plain HTTP (a loopback registry). */
  readonly insecure: boolean;
  readonly base: { readonly layer: string; readonly packages: readonly DebianPackage[] };
  readonly outRoot?: string;
  /** The module bundled, functions/<name>/main.ts unless given (bench/knative.ts' hello world). */
  readonly entry?: string;
}): Promise<BuiltImage> {
  const { name, crane } = options;
  const outRoot = options.outRoot ?? join(root, 'dist');
  const bundledAt = Date.now();
  const built = await bundle(name, outRoot, options.entry);
  const version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string })
    .version;
  const sbom = await functionSbom({
    name,
    version,
    metafile: built.metafile,
    workingDir: process.cwd(),
    debianPackages: options.base.packages,
    nodeVersion: process.versions.node,
  });
  const sbomFile = join(outRoot, `${name}.cdx.json`);
  await writeFile(sbomFile, sbom);
  const bundleMs = Date.now() - bundledAt;
  const pushedAt = Date.now();
  const scratch = await mkdtemp(join(tmpdir(), `tl-image-${name}-`));
  try {
    const tagged = `${options.registry}/tenant-lifecycle-${name}:${options.tag}`;
    const insecure = options.insecure ? ['--insecure'] : [];
    const layer = await appLayer(built.dir, sbom, scratch);
    await run(crane, [
      'append',
      '--oci-empty-base',
      '--new_layer',
      options.base.layer,
      '--new_layer',
      layer,
      '--new_tag',
      tagged,
      ...insecure,
    ]);
    await run(crane, [
      'mutate',
      tagged,
      ...insecure,
      `--user=${String(IMAGE_USER.uid)}:${String(IMAGE_USER.gid)}`,
      `--workdir=${FUNCTION_IMAGE.workdir}`,
      `--env=PATH=${IMAGE_PATH}`,
      ...Object.entries(FUNCTION_IMAGE.env).map(([key, value]) => `--env=${key}=${value}`),
      `--cmd=${FUNCTION_IMAGE.cmd.join(',')}`,
      `--exposed-ports=${FUNCTION_IMAGE.exposedPort}`,
      '--set-platform=linux/amd64',
      '--tag',
      tagged,
    ]);
    const digest = (await run(crane, ['digest', tagged, ...insecure])).trim();
    return {
      name,
      tagged,
      digest: `${options.registry}/tenant-lifecycle-${name}@${digest}`,
      sbom: sbomFile,
      bundleMs,
      pushMs: Date.now() - pushedAt,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Every function's image (or those of `functions`), one after the other (bundling is CPU-bound). */
export async function buildFunctionImages(options: {
  readonly registry: string;
  readonly crane: string;
  readonly functions?: readonly string[];
  readonly tag?: string;
  readonly insecure?: boolean;
  readonly outRoot?: string;
  readonly onBuilt?: (image: BuiltImage) => void;
}): Promise<{ images: BuiltImage[]; baseMs: number }> {
  const baseAt = Date.now();
  const packages = await basePackages();
  const base = { layer: await baseLayer(packages), packages };
  const baseMs = Date.now() - baseAt;
  const images: BuiltImage[] = [];
  for (const name of options.functions ?? functionNames()) {
    const image = await buildFunctionImage({
      name,
      registry: options.registry,
      crane: options.crane,
      tag: options.tag ?? 'latest',
      insecure: options.insecure ?? isLoopback(options.registry),
      base,
      outRoot: options.outRoot,
    });
    options.onBuilt?.(image);
    images.push(image);
  }
  return { images, baseMs };
}

/** A registry on loopback is spoken to over plain HTTP. */
function isLoopback(registry: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(registry);
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const { values } = parseArgs({
    options: {
      registry: { type: 'string' },
      crane: { type: 'string', default: 'crane' },
      functions: { type: 'string' },
      tag: { type: 'string', default: 'latest' },
      insecure: { type: 'boolean' },
    },
  });
  if (values.registry === undefined) {
    console.error(
      'usage: node knative/image/build-images.ts --registry host:port [--crane path] [--functions a,b] [--tag t] [--insecure]',
    );
    process.exit(2);
  }
  const known = functionNames();
  const functions = values.functions?.split(',').filter(Boolean);
  const unknown = functions?.filter((name) => !known.includes(name)) ?? [];
  if (unknown.length > 0) {
    console.error(`no such function: ${unknown.join(', ')} (functions: ${known.join(', ')})`);
    process.exit(2);
  }
  const { baseMs } = await buildFunctionImages({
    registry: values.registry,
    crane: values.crane,
    functions,
    tag: values.tag,
    insecure: values.insecure,
    onBuilt: (image) => {
      console.log(image.digest);
      console.error(
        `${image.name}: ${image.tagged} (bundle ${String(image.bundleMs)} ms, image ${String(image.pushMs)} ms, SBOM ${image.sbom})`,
      );
    },
  });
  console.error(`base layer: ${String(baseMs)} ms`);
}
