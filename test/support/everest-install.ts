/**
 * What installing Everest leaves that the bootstrap function works on, as Everest's Helm chart creates it
 * (charts/everest: everest-server/accounts.secret.yaml and rbac.configmap.yaml): the everest-system
 * Namespace (its UID salts every password hash), the accounts Secret with the initial admin (plaintext,
 * marked insecure) and the RBAC ConfigMap (enforcement off, `g, admin, role:admin`). Plus the CRDs
 * (crds.ts). Existing objects are kept, so several tests can share one apiserver.
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { KubernetesObject } from '../../shared/adapters/kubernetes/objects.ts';
import type { TestEnv } from '../env/provided.ts';
import { apiserver } from './apiserver.ts';
import { installEverestCrds } from './crds.ts';

export const EVEREST_ADMIN_PASSWORD = 'initial-admin-password';

export async function installEverest(env: TestEnv): Promise<{ systemUid: string }> {
  const api = apiserver(env.kubernetes);
  const token = env.kubernetes.adminToken;
  await installEverestCrds(env);
  const objects: KubernetesObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'everest-system' } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'everest-accounts',
        namespace: 'everest-system',
        annotations: { 'insecure-password/admin': 'true' },
      },
      stringData: {
        'users.yaml': `admin:\n  passwordHash: ${EVEREST_ADMIN_PASSWORD}\n  enabled: true\n  capabilities:\n    - login\n`,
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'everest-rbac',
        namespace: 'everest-system',
        annotations: { 'helm.sh/resource-policy': 'keep' },
      },
      data: { enabled: 'false', 'policy.csv': 'g, admin, role:admin\n' },
    },
  ];
  for (const object of objects) {
    const status = await api.create(object, token);
    if (status !== 201 && status !== 409) throw new Error(`creating ${object.kind} answered ${status}`);
  }
  const ns = await api.send('GET', '/api/v1/namespaces/everest-system', token);
  return { systemUid: (ns.json as { metadata: { uid: string } }).metadata.uid };
}

let checker: Promise<string> | undefined;

/** Builds test/env/go/everest-accounts once (Go module cache and build cache make it quick). */
function everestChecker(): Promise<string> {
  checker ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tl-everest-accounts-'));
    const binary = join(dir, 'everest-accounts');
    await promisify(execFile)('go', ['build', '-o', binary, '.'], {
      cwd: fileURLToPath(new URL('../env/go/everest-accounts/', import.meta.url)),
      env: { ...process.env, GOFLAGS: '-mod=mod' },
      timeout: 300_000,
    });
    return binary;
  })();
  return checker;
}

/** Whether Everest's own check (Go, yaml.v3, PBKDF2) accepts `password` for `username` in `usersYaml`. */
export async function everestAcceptsPassword(
  usersYaml: string,
  salt: string,
  username: string,
  password: string,
): Promise<boolean> {
  const binary = await everestChecker();
  const output = await new Promise<string>((resolve, reject) => {
    const child = execFile(binary, [salt, username, password], (error, stdout, stderr) => {
      if (error) reject(new Error(`everest-accounts: ${stderr || error.message}`));
      else resolve(stdout.trim());
    });
    child.stdin?.end(usersYaml);
  });
  return output === 'match';
}
