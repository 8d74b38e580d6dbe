/**
 * Service accounts of the test apiserver and their real tokens (TokenRequest API), as Knative Eventing's
 * sources and Triggers get them under `authentication-oidc`, and the settings that make a function verify
 * them against the apiserver's keys.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestEnv } from '../env/provided.ts';
import { apiserver } from './apiserver.ts';

/** Kubernetes' lower bound for a requested token's lifetime. */
export const MIN_TOKEN_SECONDS = 600;

export function serviceAccounts(kube: TestEnv['kubernetes']) {
  const api = apiserver(kube);
  const admin = kube.adminToken;

  /** Creates the namespace (if missing) and the service account (if missing). */
  const ensure = async (namespace: string, name: string): Promise<string> => {
    const ns = await api.status('POST', '/api/v1/namespaces', admin, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace },
    });
    if (ns !== 201 && ns !== 409) throw new Error(`namespace ${namespace}: HTTP ${ns}`);
    const sa = await api.status('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, admin, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name },
    });
    if (sa !== 201 && sa !== 409) throw new Error(`service account ${namespace}/${name}: HTTP ${sa}`);
    return `system:serviceaccount:${namespace}:${name}`;
  };

  /** A token of the service account from the TokenRequest API; no audience: the apiserver's own. */
  const token = async (
    namespace: string,
    name: string,
    audience?: string,
    expirationSeconds = MIN_TOKEN_SECONDS,
  ): Promise<string> => {
    const answer = await api.send(
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
      admin,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { ...(audience === undefined ? {} : { audiences: [audience] }), expirationSeconds },
      },
    );
    const issued = (answer.json as { status?: { token?: string } } | undefined)?.status?.token;
    if (answer.status !== 201 || issued === undefined)
      throw new Error(`TokenRequest for ${namespace}/${name}: HTTP ${answer.status}`);
    return issued;
  };

  return { ensure, token };
}

/**
 * The variables that make a function accept `senders` and fetch the apiserver's keys with the token of
 * service account `self` (a function's own identity; any service account may read the keys).
 */
export async function senderVerificationEnv(
  kube: TestEnv['kubernetes'],
  options: {
    readonly senders: readonly string[];
    readonly self: { readonly namespace: string; readonly name: string };
    readonly audience?: string;
  },
): Promise<Record<string, string>> {
  const accounts = serviceAccounts(kube);
  await accounts.ensure(options.self.namespace, options.self.name);
  const dir = await mkdtemp(join(tmpdir(), 'tl-sa-'));
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, await accounts.token(options.self.namespace, options.self.name), {
    mode: 0o600,
  });
  return {
    EVENT_SENDERS: options.senders.join(','),
    ...(options.audience === undefined ? {} : { EVENT_AUDIENCE: options.audience }),
    SERVICE_ACCOUNT_ISSUER: kube.serviceAccountIssuer,
    SERVICE_ACCOUNT_JWKS_URL: `${kube.server}/openid/v1/jwks`,
    SERVICE_ACCOUNT_TOKEN_FILE: tokenFile,
    SERVICE_ACCOUNT_CA_FILE: kube.caFile,
  };
}
