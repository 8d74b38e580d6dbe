/**
 * `make bundle`: each function (functions/<name>/main.ts) bundled with esbuild into dist/<name>/, ES modules
 * for Node.js 24 holding only the code that function imports, plus a package.json. The entry is main.mjs;
 * what main.ts (or the modules it loads) reaches through a dynamic `import()` is split into chunks/*.mjs,
 * read only when first imported, so that /healthz answers before the adapters are loaded (see
 * docs/benchmarks.md, "Function bundles"). The image (knative/image/Dockerfile) copies the whole folder.
 * FUNCTIONS=provision,sync bundles a few.
 */
import { readdirSync, existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
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
