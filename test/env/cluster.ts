/**
 * `make cluster`: the whole product on the local Knative, as users deploy it. The test environment with its
 * node and Knative (test/env/environment.ts), the product applied with `kubectl apply -k`
 * (test/env/product.ts), and one loopback URL per function through the ingress
 * (test/env/function-proxies.ts). Writes .dev/stack.json with the keys `make dev` writes, so scripts
 * written against `make dev` run unchanged; every function takes the same API token here, as in
 * `make dev` (a production deployment gives each its own: knative/README.md). Runs until Ctrl-C.
 */
import { fileURLToPath } from 'node:url';
import { FUNCTION_TOKEN } from '../support/tenant-functions.ts';
import { describeStartup, startTestEnv } from './environment.ts';
import { runUntilSignal } from './foreground.ts';
import { startFunctionProxies } from './function-proxies.ts';
import { deployProduct } from './product.ts';
import { describeStack, writeStackFile } from './stack-file.ts';

const devDir = fileURLToPath(new URL('../../.dev/', import.meta.url));
const running = await startTestEnv({ knative: true });
const { env } = running;
const { knative } = env;
if (knative === undefined) throw new Error('the environment started without Knative');
const product = await deployProduct(env, {
  dir: `${devDir}cluster/overlay`,
  apiToken: FUNCTION_TOKEN,
  logLevel: process.env.LOG_LEVEL ?? 'info',
});
const proxies = await startFunctionProxies(knative.privateIngressUrl, product.hosts);
const stackFile = `${devDir}stack.json`;
await writeStackFile(
  stackFile,
  describeStack(env, { functions: proxies.urls, apiToken: FUNCTION_TOKEN, databaseUrl: product.databaseUrl }),
);

const width = Math.max(...Object.keys(proxies.urls).map((fn) => fn.length));
console.log(describeStartup(running));
console.log(`
the product on Knative (namespace ${product.namespace}): images built and pushed in ${(product.imagesMs / 1000).toFixed(1)} s, kubectl apply -k to everything Ready in ${(product.readyMs / 1000).toFixed(1)} s

${Object.entries(proxies.urls)
  .map(
    ([fn, url]) =>
      `  ${fn.padEnd(width)}  ${url}  ->  ${knative.privateIngressUrl} Host: ${product.hosts[fn] ?? ''}`,
  )
  .join('\n')}

  curl -s ${proxies.urls.sync ?? ''}/sync -H 'Authorization: Bearer ${FUNCTION_TOKEN}' -H 'Content-Type: application/json' -d '{"dryRun": true}'
  kubectl --kubeconfig ${env.kubernetes.kubeconfigPath} -n ${product.namespace} get ksvc,brokers,triggers,pingsources

The overlay that was applied: ${product.overlayDir}
Everything (URLs, token, kubeconfig, DATABASE_URL, Keycloak and Grafana admin credentials): ${stackFile}
Ctrl-C stops everything.`);

runUntilSignal('the local cluster', async () => {
  await proxies.stop();
  await running.stop();
});
