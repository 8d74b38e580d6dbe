/**
 * The rendered baseline is valid for the real kube-apiserver: each object passes a server-side dry run with
 * strict field validation (unknown or misspelt fields are errors, not warnings).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { describe, expect, inject, it } from 'vitest';
import { defaultPlan, renderBaseline, type KubernetesObject } from '../../../shared/tenancy/baseline.ts';
import '../../env/provided.ts';

const kube = inject('testEnv').kubernetes;
const ca = readFileSync(kube.caFile);

const collections: Record<string, string> = {
  Namespace: '/api/v1/namespaces',
  ResourceQuota: '/api/v1/namespaces/{ns}/resourcequotas',
  LimitRange: '/api/v1/namespaces/{ns}/limitranges',
  NetworkPolicy: '/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies',
  RoleBinding: '/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings',
};

function post(object: KubernetesObject, query: string): Promise<{ status: number; body: string }> {
  const path = (collections[object.kind] ?? '').replace('{ns}', object.metadata.namespace ?? '');
  return new Promise((resolve, reject) => {
    const req = request(
      `${kube.server}${path}?${query}`,
      {
        method: 'POST',
        ca,
        headers: { authorization: `Bearer ${kube.adminToken}`, 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(object));
  });
}

describe('tenant baseline on the real apiserver', () => {
  it('passes strict server-side validation, object by object', async () => {
    const tenant = `baseline-${randomBytes(3).toString('hex')}`;
    const [namespace, ...contents] = renderBaseline({
      tenant,
      ownerEmail: 'owner@example.org',
      createdAt: new Date(),
      plan: defaultPlan,
      access: { user: `oidc:${tenant}`, group: `oidc:tenant-${tenant}`, clusterRole: 'tenant-edit' },
      platformNamespaceLabel: { key: 'tenant-lifecycle.dev/platform', value: 'true' },
    });
    if (namespace === undefined) throw new Error('no namespace rendered');
    // The namespace is created for real (namespaced dry runs need it), the rest only dry-run.
    expect((await post(namespace, 'fieldValidation=Strict')).status).toBe(201);
    for (const object of contents) {
      const answer = await post(object, 'dryRun=All&fieldValidation=Strict');
      expect({ kind: object.kind, status: answer.status }).toEqual({ kind: object.kind, status: 201 });
    }
    // Strict validation really is strict: a misspelt field is refused.
    const misspelt = { ...contents[0], spec: { hardd: { pods: '1' } } } as unknown as KubernetesObject;
    expect((await post(misspelt, 'dryRun=All&fieldValidation=Strict')).status).toBe(400);
  });
});
