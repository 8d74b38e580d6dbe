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
import { chmod, mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';
import { IMAGE_USER } from './base.ts';
import { eagerModuleFunctions } from './eager.ts';

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

/**
 * Node.js' built-in modules as CommonJS, for the bundle's ES `import`s of them (ours, and those of ES module
 * packages such as @kubernetes/client-node). An ES import of a built-in builds its ES module facade, which
 * reads every export, lazy getters included: for `node:http` that loads Node's internal undici for
 * `http.WebSocket` (15-45 ms), for `node:tls` it parses the root certificates (about 6 ms). Each import
 * resolves instead to a module that takes the built-in with `process.getBuiltinModule` and exports what
 * the facade exports, read once, except those costly lazy getters (LAZY); the default export is the module
 * itself, so `http.WebSocket` still works on it. A named import of a left-out getter fails the build
 * (esbuild: no matching export). Built-ins are the same in the build and the image (same Node.js, see the
 * Dockerfile). `require()` of built-ins (CommonJS packages) is untouched: it never builds a facade.
 */
const LAZY: Readonly<Record<string, readonly string[]>> = {
  http: ['WebSocket', 'CloseEvent', 'MessageEvent'],
  tls: ['rootCertificates'],
};
const builtinsAsCommonJs: Plugin = {
  name: 'builtins-as-commonjs',
  setup(build) {
    build.onResolve({ filter: /^[a-z:_/]+$/ }, (args) =>
      (args.kind === 'import-statement' || args.kind === 'dynamic-import') && isBuiltin(args.path)
        ? { path: args.path.replace(/^node:/, ''), namespace: 'builtin' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, ({ path }) => {
      const specifier = `node:${path}`;
      const lazy = LAZY[path] ?? [];
      const keys = Object.keys(process.getBuiltinModule(specifier) ?? {}).filter(
        (key) => !lazy.includes(key),
      );
      return {
        contents: [
          `const m = process.getBuiltinModule(${JSON.stringify(specifier)});`,
          'export default m;',
          ...keys.map((key, i) => `const e${i} = m[${JSON.stringify(key)}];`),
          `export { ${keys.map((key, i) => `e${i} as ${JSON.stringify(key)}`).join(', ')} };`,
        ].join('\n'),
        loader: 'js',
      };
    });
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

/**
 * Bundles function `name` into `outRoot`/`name`/. `entry` is the module bundled, functions/<name>/main.ts
 * unless given (bench/knative.ts bundles its hello world from another file the same way).
 */
export async function bundle(
  name: string,
  outRoot = `${root}dist`,
  entry = `${root}functions/${name}/main.ts`,
): Promise<Bundle> {
  const dir = `${outRoot}/${name}`;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const { metafile } = await build({
    entryPoints: { main: entry },
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
    plugins: [zodWithoutLocales, builtinsAsCommonJs],
    // Some dependencies are CommonJS and call require() for Node built-ins (every chunk gets its own).
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  const js = Object.entries(metafile.outputs).filter(([file]) => file.endsWith('.mjs'));
  for (const [file] of js) await eagerModuleFunctions(resolve(file));
  await warmCompileCache(dir);
  await writeFile(
    `${dir}/package.json`,
    `${JSON.stringify({ name: `tenant-lifecycle-${name}`, private: true, type: 'module', main: 'main.mjs', engines: { node: '>=24' } }, null, 2)}\n`,
  );
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

/** A kubeconfig naming an apiserver where nothing listens (127.0.0.1:1). */
const UNREACHABLE_KUBECONFIG =
  'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n';

/**
 * Every variable any function requires, each server at 127.0.0.1:1 where nothing listens: with them a
 * function starts, and its first /readyz loads its setup (the adapters) and fails at once on the database.
 * Writes the kubeconfig they name into `folder`. A function that requires a new variable needs it here
 * (warmCompileCache fails otherwise). Also used by bench/bundles.ts.
 */
export async function unreachableEnv(folder: string): Promise<Record<string, string>> {
  const kubeconfig = join(folder, 'kubeconfig');
  await writeFile(kubeconfig, UNREACHABLE_KUBECONFIG);
  return {
    API_TOKEN: 'unreachable-token-0123456789',
    IDEMPOTENCY_KEY_SECRET: 'unreachable-idempotency-secret-0123456789',
    DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
    PG_URL: 'postgres://nobody@127.0.0.1:1/none',
    KUBECONFIG: kubeconfig,
    KEYCLOAK_URL: 'https://127.0.0.1:1',
    KEYCLOAK_REALM: 'tenants',
    KEYCLOAK_CLIENT_ID: 'functions',
    KEYCLOAK_CLIENT_SECRET: 'secret',
    GRAFANA_URL: 'http://127.0.0.1:1',
    GRAFANA_ADMIN_USER: 'admin',
    GRAFANA_ADMIN_PASSWORD: 'admin',
    CLUSTER_SERVER: 'https://127.0.0.1:1',
    OIDC_ISSUER_URL: 'https://127.0.0.1:1/realms/tenants',
  };
}

/** A TCP port free on loopback right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Fills `dir`/.compile-cache with V8's code for the bundle, so that a cold start reads compiled code instead
 * of compiling about 1 MiB of JavaScript at start and 2-3 MiB more at the first /readyz (Node.js' module
 * compile cache, portable: valid wherever the folder is copied, for the same Node.js version; another
 * version ignores it). Node.js makes a module's cache when it compiles it, so the cache holds the modules
 * the warm-up run loads: it starts the function with unreachableEnv() (no server is contacted but the
 * refused ones), asks /readyz, which loads the host and the adapters' chunks, then stops it with SIGTERM;
 * the cache is written as it exits. It fails if /readyz never answers (a variable missing from
 * unreachableEnv, a broken bundle). `readyz: false` (bench/bundles.ts' hello world) runs the bundle once
 * with `env` and waits for it to exit. The files are made readable to all (the image runs as an
 * unprivileged user), and the cache is moved to the image's user (cacheForImageUser).
 */
export async function warmCompileCache(
  dir: string,
  options: { readonly readyz?: boolean; readonly env?: Record<string, string> } = {},
): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'tl-warm-'));
  try {
    const port = await freePort();
    const env =
      options.readyz === false
        ? {}
        : { ...(await unreachableEnv(scratch)), LOG_LEVEL: 'silent', PORT: String(port) };
    const child = spawn(process.execPath, ['main.mjs'], {
      cwd: dir,
      env: { ...env, ...options.env, ...compileCacheEnv },
      stdio: 'ignore',
      timeout: 20_000,
    });
    const exited = new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', () => {
        resolve();
      });
    });
    if (options.readyz !== false) {
      let answered = false;
      for (let i = 0; i < 400 && !answered && child.exitCode === null; i++) {
        answered = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          async (r) => (await r.arrayBuffer(), true),
          () => false,
        );
        if (!answered) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      child.kill('SIGTERM');
      await exited;
      if (!answered) throw new Error(`${dir}: no answer on /readyz while warming the compile cache`);
    }
    await exited;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  for (const entry of await readdir(`${dir}/${COMPILE_CACHE}`, { recursive: true, withFileTypes: true }))
    await chmod(`${entry.parentPath}/${entry.name}`, entry.isDirectory() ? 0o755 : 0o644);
  await cacheForImageUser(`${dir}/${COMPILE_CACHE}`);
}

/**
 * Node.js keeps a compile cache per user: in <version>-<arch>-<hash>-<uid>/ under NODE_COMPILE_CACHE, the
 * uid being the one that runs it. The warm-up runs as whoever builds (root in a Docker build), the image as
 * IMAGE_USER; on the image's read-only /app, Node.js could not create its own folder and would run without
 * the cache. So the folder is renamed to the image's uid, and the builder's name is kept as a link to it
 * (local runs, bench/bundles.ts). The folder's content does not depend on the uid.
 */
async function cacheForImageUser(cacheRoot: string): Promise<void> {
  const own = `-${String(process.getuid?.() ?? IMAGE_USER.uid)}`;
  const image = `-${String(IMAGE_USER.uid)}`;
  if (own === image) return;
  for (const entry of await readdir(cacheRoot)) {
    if (!entry.endsWith(own)) continue;
    const renamed = `${entry.slice(0, -own.length)}${image}`;
    await rm(`${cacheRoot}/${renamed}`, { recursive: true, force: true });
    await rename(`${cacheRoot}/${entry}`, `${cacheRoot}/${renamed}`);
    await symlink(renamed, `${cacheRoot}/${entry}`);
  }
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
