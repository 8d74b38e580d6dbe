/**
 * What installing Everest leaves that the bootstrap function works on, as Everest's Helm chart creates it
 * (charts/everest: everest-server/accounts.secret.yaml and rbac.configmap.yaml): the everest-system
 * Namespace (its UID salts every password hash), the accounts Secret with the initial admin (plaintext,
 * marked insecure) and the RBAC ConfigMap (enforcement off, `g, admin, role:admin`). Plus the CRDs
 * (crds.ts). Existing objects are kept, so several tests can share one apiserver.
 */
import type { KubernetesObject } from '../../shared/tenancy/baseline.ts';
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
