/**
 * make bench: each function's bundle (knative/image/bundle.ts) against a bare functions-framework "hello
 * world" bundled the same way, each started as the image starts it (with the compile cache made at bundle
 * time): bundle size (what is loaded at start, main.mjs and the chunks it imports statically, and all of
 * it), cold start (spawn to the first 200 on /healthz, median of 5, each run right after one of the hello
 * world's so that both see the same load) and RSS once serving. Then, in the same process, the first request that needs the function's setup (GET /readyz: it
 * loads the adapters, then fails fast on the unreachable database) and the RSS after it: what loading on
 * first use moved, not removed. Needs no servers. Goals (issue 8): cold start within 1.3x of the hello
 * world, RSS <= 80 MiB.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { build } from 'esbuild';
import {
  bundle,
  compileCacheEnv,
  functionNames,
  startOutputs,
  unreachableEnv,
  warmCompileCache,
} from '../knative/image/bundle.ts';
import { eagerModuleFunctions } from '../knative/image/eager.ts';
import { freePort } from '../test/env/ports.ts';

/** FUNCTIONS=provision,sync measures a few; NO_COMPILE_CACHE=1 starts every bundle without its cache. */
const FUNCTIONS = process.env.FUNCTIONS;
const NO_COMPILE_CACHE = process.env.NO_COMPILE_CACHE === '1';
const out = await mkdtemp(join(tmpdir(), 'tl-bench-bundles-'));
// Every variable any function requires; the servers they name are never contacted by /healthz.
const env = { PATH: process.env.PATH ?? '', ...(await unreachableEnv(out)), LOG_LEVEL: 'warn' };

async function helloWorld(): Promise<string> {
  const dir = join(out, 'hello');
  await writeFile(
    join(out, 'hello.mjs'),
    "import { http } from '@google-cloud/functions-framework';\nimport { getTestServer } from '@google-cloud/functions-framework/testing';\n" +
      "http('hello', (req, res) => { res.send('hello'); });\nconst server = getTestServer('hello');\nserver.listen(Number(process.env.PORT));\n",
  );
  await build({
    entryPoints: [join(out, 'hello.mjs')],
    outfile: join(dir, 'main.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    nodePaths: [join(process.cwd(), 'node_modules')],
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'error',
    sourcemap: 'linked',
  });
  // Its module functions compiled with it and its compile cache, as bundle() makes them for the functions
  // (a bad PORT stops it once compiled).
  await eagerModuleFunctions(join(dir, 'main.mjs'));
  await warmCompileCache(dir, { readyz: false, env: { PORT: 'none' } });
  return dir;
}

interface Run {
  readonly ms: number;
  readonly rssMiB: number;
  /** From spawn to the answer of the first /readyz (any status), and RSS after it. */
  readonly setUpMs?: number;
  readonly setUpRssMiB?: number;
}

const rssOf = async (pid: number | undefined): Promise<number> =>
  Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid ?? 0}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function coldStart(dir: string, path: string, setUp: boolean): Promise<Run> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, ['main.mjs'], {
    cwd: dir,
    // As the image runs it: with the compile cache made at bundle time (knative/image/Dockerfile).
    env: { ...env, ...(NO_COMPILE_CACHE ? {} : compileCacheEnv), PORT: String(port) },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${port}${path}`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (performance.now() - started > 20_000) throw new Error(`${dir} did not answer within 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const ms = performance.now() - started;
    const rssMiB = await rssOf(child.pid);
    if (!setUp) return { ms, rssMiB };
    await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.arrayBuffer());
    return { ms, rssMiB, setUpMs: performance.now() - started, setUpRssMiB: await rssOf(child.pid) };
  } finally {
    child.kill('SIGKILL');
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

const summary = (runs: readonly Run[]) => ({
  ms: median(runs.map((r) => r.ms)),
  rss: median(runs.map((r) => r.rssMiB)),
  setUpMs: median(runs.map((r) => r.setUpMs ?? 0)),
  setUpRss: median(runs.map((r) => r.setUpRssMiB ?? 0)),
});

/**
 * 5 cold starts of the function, each right after one of the hello world, so that both see the same load
 * (the machine is shared): the ratio is that of the two medians of the same 10 runs.
 */
async function measure(dir: string, hello: string) {
  const base: Run[] = [];
  const runs: Run[] = [];
  for (let i = 0; i < 5; i++) {
    base.push(await coldStart(hello, '/', false));
    runs.push(await coldStart(dir, '/healthz', true));
  }
  return { base: summary(base), fn: summary(runs), baseRuns: base };
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

try {
  const hello = await helloWorld();
  const helloRuns: Run[] = [];
  for (const name of FUNCTIONS?.split(',') ?? functionNames()) {
    const bundled = await bundle(name, out);
    const { base, fn, baseRuns } = await measure(bundled.dir, hello);
    helloRuns.push(...baseRuns);
    console.log(
      `${name}: ${kib(startOutputs(bundled).reduce((sum, o) => sum + o.bytes, 0))} at start (${kib(bundled.totalBytes)} in all), cold start ${fn.ms.toFixed(0)} ms (${(fn.ms / base.ms).toFixed(2)}x the hello world's ${base.ms.toFixed(0)} ms of the same runs), RSS ${fn.rss.toFixed(0)} MiB; ` +
        `first /readyz (setup) at ${fn.setUpMs.toFixed(0)} ms, RSS then ${fn.setUpRss.toFixed(0)} MiB`,
    );
  }
  const base = summary(helloRuns);
  console.log(
    `functions-framework hello world: ${kib((await stat(join(hello, 'main.mjs'))).size)}, cold start ${base.ms.toFixed(0)} ms (median of all ${helloRuns.length} runs), RSS ${base.rss.toFixed(0)} MiB`,
  );
} finally {
  await rm(out, { recursive: true, force: true });
}
