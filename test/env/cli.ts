/**
 * `make testenv`: starts the test environment and keeps it running until Ctrl-C (or SIGTERM),
 * printing how to reach each server and writing the same to .dev/testenv.json for scripts.
 * TL_TESTENV_NODE=1 starts the node too (test/env/node.ts); TL_TESTENV_KNATIVE=1 the node and Knative on it
 * (test/env/knative.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describeStartup, startTestEnv } from './environment.ts';
import { runUntilSignal } from './foreground.ts';

const devDir = fileURLToPath(new URL('../../.dev/', import.meta.url));
const running = await startTestEnv();
const { env } = running;
await mkdir(devDir, { recursive: true });
const infoFile = `${devDir}testenv.json`;
await writeFile(infoFile, JSON.stringify(env, null, 2), { mode: 0o600 });
console.log(describeStartup(running));
console.log(`
  export KUBECONFIG=${env.kubernetes.kubeconfigPath}
  export DATABASE_URL=${env.postgres.url}

  apiserver   ${env.kubernetes.server}   (admin token in the kubeconfig; an unprivileged token in ${infoFile})
  postgres    ${env.postgres.url}
  keycloak    ${env.keycloak.url}   (admin: ${env.keycloak.adminUser}, password in ${infoFile})
  grafana     ${env.grafana.url}   (a fake of Grafana's HTTP API; admin: ${env.grafana.adminUser})${
    env.node === undefined
      ? ''
      : `
  node        ${env.node.name}: pods reach the servers above at ${env.node.hostAddress} (same ports)
  registry    ${env.node.registry.address} (push; crane --insecure), pods pull ${env.node.registry.host}/...
  containerd  ctr --address ${env.node.containerdSocket} -n k8s.io ...`
  }${
    env.knative === undefined
      ? ''
      : `
  knative     ${env.knative.ingressUrl} (Traefik) with Host: <service>.<namespace>.${env.knative.domain}`
  }
  logs        ${env.logDir}
  details     ${infoFile}

Ctrl-C stops everything.`);

runUntilSignal('the test environment', () => running.stop());
