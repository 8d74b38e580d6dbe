/**
 * Raw requests to the test kube-apiserver with any bearer token (an admin token, or a tenant's OIDC ID
 * token), for tests that check what a given identity may do, or query options client-node does not expose
 * (dryRun, fieldValidation).
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { KubernetesObject } from '../../shared/adapters/kubernetes/objects.ts';
import type { TestEnv } from '../env/provided.ts';

export interface ApiAnswer {
  readonly status: number;
  readonly json: unknown;
}

const collections: Record<string, string> = {
  Namespace: '/api/v1/namespaces',
  ResourceQuota: '/api/v1/namespaces/{ns}/resourcequotas',
  LimitRange: '/api/v1/namespaces/{ns}/limitranges',
  ConfigMap: '/api/v1/namespaces/{ns}/configmaps',
  Secret: '/api/v1/namespaces/{ns}/secrets',
  Pod: '/api/v1/namespaces/{ns}/pods',
  PersistentVolumeClaim: '/api/v1/namespaces/{ns}/persistentvolumeclaims',
  Service: '/api/v1/namespaces/{ns}/services',
  NetworkPolicy: '/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies',
  RoleBinding: '/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings',
  ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  Deployment: '/apis/apps/v1/namespaces/{ns}/deployments',
};

export function collectionPath(object: KubernetesObject): string {
  const path = collections[object.kind];
  if (path === undefined) throw new Error(`no collection path known for ${object.kind}`);
  return path.replace('{ns}', object.metadata.namespace ?? '');
}

export function apiserver(kube: TestEnv['kubernetes']) {
  const ca = readFileSync(kube.caFile);
  const send = (method: string, path: string, token: string, body?: unknown): Promise<ApiAnswer> =>
    new Promise((resolve, reject) => {
      const contentType = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
      const req = request(
        `${kube.server}${path}`,
        { method, ca, headers: { authorization: `Bearer ${token}`, 'content-type': contentType } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            let json: unknown;
            try {
              json = text === '' ? undefined : (JSON.parse(text) as unknown);
            } catch {
              json = text;
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  return {
    send,
    /** The status code alone. */
    status: async (method: string, path: string, token: string, body?: unknown) =>
      (await send(method, path, token, body)).status,
    /** The sorted names of the items of a list. */
    names: async (path: string, token: string): Promise<string[]> => {
      const answer = await send('GET', path, token);
      return ((answer.json as { items?: { metadata: { name: string } }[] } | undefined)?.items ?? [])
        .map((i) => i.metadata.name)
        .sort();
    },
    /** POST an object to its collection; `query` e.g. "dryRun=All&fieldValidation=Strict". */
    create: async (object: KubernetesObject, token: string, query = '') =>
      (await send('POST', `${collectionPath(object)}${query === '' ? '' : `?${query}`}`, token, object))
        .status,
  };
}
