/**
 * `.dev/stack.json`: what scripts need to use a running stack, the same keys whether `make dev` serves the
 * functions on loopback or `make cluster` runs them on Knative: every function's URL, the API token, the
 * cluster admin's kubeconfig, the platform store's DATABASE_URL, Keycloak's and Grafana's URLs and admin
 * credentials, and the test environment. Mode 0600: it holds credentials.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { TestEnv } from './provided.ts';

export interface StackDescription {
  readonly functions: Readonly<Record<string, string>>;
  readonly apiToken: string;
  readonly kubeconfig: string;
  readonly databaseUrl: string;
  readonly keycloak: TestEnv['keycloak'] & { readonly tenantsRealm: string };
  readonly grafana: TestEnv['grafana'];
  readonly oidc: TestEnv['oidc'];
  readonly testEnv: TestEnv;
}

export function describeStack(
  env: TestEnv,
  options: { functions: Readonly<Record<string, string>>; apiToken: string; databaseUrl: string },
): StackDescription {
  return {
    functions: options.functions,
    apiToken: options.apiToken,
    kubeconfig: env.kubernetes.kubeconfigPath,
    databaseUrl: options.databaseUrl,
    keycloak: { ...env.keycloak, tenantsRealm: env.oidc.realm },
    grafana: env.grafana,
    oidc: env.oidc,
    testEnv: env,
  };
}

/** Writes the stack's description, and the environment's alone beside it (testenv.json). */
export async function writeStackFile(file: string, stack: StackDescription): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(stack, null, 2), { mode: 0o600 });
  await writeFile(`${dirname(file)}/testenv.json`, JSON.stringify(stack.testEnv, null, 2), { mode: 0o600 });
}
