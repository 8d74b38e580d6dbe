/**
 * make bench: each function's bundle (knative/image/bundle.ts) against a bare functions-framework "hello
 * world" bundled the same way: bundle size, cold start (spawn to the first 200 on /healthz, median of 5)
 * and RSS once serving. Needs no servers: /healthz answers before any backend is reached. Goals (issue 8):
 * cold start within 1.3x of the hello world, RSS <= 80 MiB.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { build } from 'esbuild';
import { bundle, functionNames } from '../knative/image/bundle.ts';
import { freePort } from '../test/env/ports.ts';

const out = await mkdtemp(join(tmpdir(), 'tl-bench-bundles-'));
const kubeconfig = join(out, 'kubeconfig');
await writeFile(
  kubeconfig,
  'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
);
// Every variable any function requires; the servers they name are never contacted by /healthz.
const env = {
  PATH: process.env.PATH ?? '',
  API_TOKEN: 'bench-token-0123456789',
  LOG_LEVEL: 'warn',
  DATABASE_URL: 'postgres://bench@127.0.0.1:1/bench',
  PG_URL: 'postgres://bench@127.0.0.1:1/bench',
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
  });
  return dir;
}

async function coldStart(dir: string, path: string): Promise<{ ms: number; rssMiB: number }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, ['main.mjs'], {
    cwd: dir,
    env: { ...env, PORT: String(port) },
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
    const status = await readFile(`/proc/${child.pid ?? 0}/status`, 'utf8');
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { ms, rssMiB: rssKiB / 1024 };
  } finally {
    child.kill('SIGKILL');
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function measure(name: string, dir: string, path: string) {
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await coldStart(dir, path));
  const bytes = (await stat(join(dir, 'main.mjs'))).size;
  return {
    name,
    kib: bytes / 1024,
    ms: median(runs.map((r) => r.ms)),
    rss: median(runs.map((r) => r.rssMiB)),
  };
}

try {
  const base = await measure('functions-framework hello world', await helloWorld(), '/');
  console.log(
    `${base.name}: ${base.kib.toFixed(0)} KiB, cold start ${base.ms.toFixed(0)} ms, RSS ${base.rss.toFixed(0)} MiB`,
  );
  for (const name of functionNames()) {
    const { dir } = await bundle(name, out);
    const m = await measure(name, dir, '/healthz');
    console.log(
      `${name}: ${m.kib.toFixed(0)} KiB, cold start ${m.ms.toFixed(0)} ms (${(m.ms / base.ms).toFixed(2)}x), RSS ${m.rss.toFixed(0)} MiB`,
    );
  }
} finally {
  await rm(out, { recursive: true, force: true });
}
