/**
 * `make bundle`: each function (functions/<name>/main.ts) bundled with esbuild into dist/<name>/, ES modules
 * for Node.js 24 holding only the code that function imports, plus a package.json. The entry is main.mjs;
 * what main.ts (or the modules it loads) reaches through a dynamic `import()` is split into chunks/*.mjs,
 * read only when first imported, so that /healthz answers before the adapters are loaded (see
 * docs/benchmarks.md, "Function bundles"). The image (knative/image/Dockerfile) copies the whole folder.
 * FUNCTIONS=provision,sync bundles a few.
 */
import { readdirSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Every function with a process entrypoint. */
export function functionNames(): string[] {
  return readdirSync(`${root}functions`, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(`${root}functions/${d.name}/main.ts`))
    .map((d) => d.name)
    .sort();
}

/**
 * zod re-exports all its locales (about 250 KiB minified) as `z.locales`, which the functions never use; the
 * configuration needs zod before the function listens, so leaving the others out saves compiling them at
 * start (about 10 ms). English, zod's default, stays.
 */
const zodWithoutLocales: Plugin = {
  name: 'zod-without-locales',
  setup(build) {
    build.onLoad({ filter: /zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: "export { default as en } from './en.js';",
      resolveDir: dirname(args.path),
    }));
  },
};

export interface Bundle {
  readonly dir: string;
  /** Size of main.mjs, what is loaded before the function listens. */
  readonly bytes: number;
  /** Size of all JavaScript files, main.mjs and its chunks. */
  readonly totalBytes: number;
  /** What esbuild put where (inputs per output file). */
  readonly metafile: Metafile;
}

export async function bundle(name: string, outRoot = `${root}dist`): Promise<Bundle> {
  const dir = `${outRoot}/${name}`;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const { metafile } = await build({
    entryPoints: { main: `${root}functions/${name}/main.ts` },
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
    // pg's optional native binding is not used; leaving it out keeps the bundle pure JavaScript.
    external: ['pg-native'],
    plugins: [zodWithoutLocales],
    // Some dependencies are CommonJS and call require() for Node built-ins (every chunk gets its own).
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  await warmCompileCache(dir);
  await writeFile(
    `${dir}/package.json`,
    `${JSON.stringify({ name: `tenant-lifecycle-${name}`, private: true, type: 'module', main: 'main.mjs', engines: { node: '>=24' } }, null, 2)}\n`,
  );
  const js = Object.entries(metafile.outputs).filter(([file]) => file.endsWith('.mjs'));
  return {
    dir,
    bytes: js.find(([file]) => file.endsWith('/main.mjs'))?.[1].bytes ?? 0,
    totalBytes: js.reduce((sum, [, output]) => sum + output.bytes, 0),
    metafile,
  };
}

/** Where the bundle keeps V8's compiled code; the image sets NODE_COMPILE_CACHE to it. */
export const COMPILE_CACHE = '.compile-cache';

/** The environment that makes Node.js use a bundle's compile cache (relative to the bundle's folder). */
export const compileCacheEnv = {
  NODE_COMPILE_CACHE: COMPILE_CACHE,
  NODE_COMPILE_CACHE_PORTABLE: '1',
} as const;

/**
 * Fills `dir`/.compile-cache with V8's code for main.mjs and the chunks it imports statically, so that a
 * cold start reads compiled code instead of compiling about 1 MiB of JavaScript (Node.js' module compile
 * cache, portable: valid wherever the folder is copied, for the same Node.js version; another version
 * ignores it). It runs the bundle once with an empty environment: all is compiled before any code runs,
 * then loadConfig refuses to start (no API_TOKEN) and the process exits, writing the cache. The files are
 * made readable to all (the image runs as an unprivileged user). Exported for bench/bundles.ts.
 */
export async function warmCompileCache(dir: string, env: Record<string, string> = {}): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['main.mjs'], {
      cwd: dir,
      env: { ...env, ...compileCacheEnv },
      stdio: 'ignore',
      timeout: 20_000,
    });
    child.once('error', reject);
    child.once('exit', () => {
      resolve();
    });
  });
  for (const entry of await readdir(`${dir}/${COMPILE_CACHE}`, { recursive: true, withFileTypes: true }))
    await chmod(`${entry.parentPath}/${entry.name}`, entry.isDirectory() ? 0o755 : 0o644);
}

/**
 * The output files read and run before the function listens: main.mjs and the chunks it imports statically
 * (the rest is reached through dynamic imports), with the input files each holds.
 */
export function startOutputs({ dir, metafile }: Bundle): { file: string; bytes: number; inputs: string[] }[] {
  const outputs = metafile.outputs;
  const seen = new Set<string>();
  const visit = (file: string): void => {
    const output = outputs[file];
    if (seen.has(file) || output === undefined) return;
    seen.add(file);
    for (const i of output.imports) if (i.kind === 'import-statement') visit(i.path);
  };
  visit(Object.keys(outputs).find((file) => resolve(file) === `${dir}/main.mjs`) ?? '');
  return [...seen].map((file) => ({
    file,
    bytes: outputs[file]?.bytes ?? 0,
    inputs: Object.keys(outputs[file]?.inputs ?? {}),
  }));
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const wanted = process.env.FUNCTIONS?.split(',').filter(Boolean) ?? functionNames();
  for (const name of wanted) {
    const { dir, bytes, totalBytes } = await bundle(name);
    console.log(
      `${name}: ${dir}/main.mjs ${(bytes / 1024).toFixed(0)} KiB (with its chunks ${(totalBytes / 1024).toFixed(0)} KiB)`,
    );
  }
}
