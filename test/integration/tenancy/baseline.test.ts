/**
 * The rendered baseline is valid for the real kube-apiserver: each object passes a server-side dry run with
 * strict field validation (unknown or misspelt fields are errors, not warnings).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';
import type { KubernetesObject } from '../../../shared/adapters/kubernetes/objects.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';

const kube = inject('testEnv').kubernetes;
const api = apiserver(kube);

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
    expect(await api.create(namespace, kube.adminToken, 'fieldValidation=Strict')).toBe(201);
    for (const object of contents) {
      const status = await api.create(object, kube.adminToken, 'dryRun=All&fieldValidation=Strict');
      expect({ kind: object.kind, status }).toEqual({ kind: object.kind, status: 201 });
    }
    // Strict validation really is strict: a misspelt field is refused.
    const misspelt = { ...contents[0], spec: { hardd: { pods: '1' } } } as unknown as KubernetesObject;
    expect(await api.create(misspelt, kube.adminToken, 'dryRun=All&fieldValidation=Strict')).toBe(400);
  });
});
