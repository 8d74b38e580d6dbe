/**
 * make bench: provision latency on the local real stack (kube-apiserver, Keycloak, PostgreSQL, the Grafana
 * API of the test environment). Provisions N tenants one after another through HTTP, reports p50/p95/max,
 * then deprovisions them. Goal (provision issue): p50 <= 400 ms. Results go to docs/benchmarks.md by hand.
 */
import { performance } from 'node:perf_hooks';
import { createTestDatabase } from '../test/env/databases.ts';
import { startTestEnv } from '../test/env/environment.ts';
import {
  ensureTenantClusterRole,
  FUNCTION_TOKEN,
  startTenantFunctions,
} from '../test/support/tenant-functions.ts';

const N = Number(process.env.BENCH_TENANTS ?? 30);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

const running = await startTestEnv();
try {
  const { env } = running;
  await ensureTenantClusterRole(env);
  const db = await createTestDatabase(env.postgres.url, 'bench');
  const { provision, deprovision, stop } = await startTenantFunctions(env, db.url);
  const call = async (url: string, method: string, body: unknown): Promise<number> => {
    const started = performance.now();
    const response = await fetch(`${url}/provisioner`, {
      method,
      headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`${method} answered ${response.status}`);
    return performance.now() - started;
  };
  await call(provision.url, 'POST', { full_name: 'Warm Up' }); // first call: token, pools, migrations
  const provisionTimes: number[] = [];
  const deprovisionTimes: number[] = [];
  for (let i = 0; i < N; i++)
    provisionTimes.push(await call(provision.url, 'POST', { full_name: `Bench Tenant ${i}` }));
  for (let i = 0; i < N; i++)
    deprovisionTimes.push(await call(deprovision.url, 'DELETE', { full_name: `Bench Tenant ${i}` }));
  for (const [name, times] of [
    ['provision', provisionTimes],
    ['deprovision', deprovisionTimes],
  ] as const) {
    const sorted = [...times].sort((a, b) => a - b);
    console.log(
      `${name}: n=${sorted.length} p50=${percentile(sorted, 50).toFixed(0)} ms p95=${percentile(sorted, 95).toFixed(0)} ms max=${(sorted.at(-1) ?? 0).toFixed(0)} ms`,
    );
  }
  await stop();
  await db.drop();
} finally {
  await running.stop();
}
