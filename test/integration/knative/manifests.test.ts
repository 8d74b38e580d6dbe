/**
 * knative/base on the real apiserver: every Knative Service, PingSource, ApiServerSource, Broker, Trigger and
 * EventPolicy passes server-side dry-run with strict field validation against Knative's own CRDs (Serving's
 * and Eventing's, from their Go modules), and so do the functions' NetworkPolicy and admission policy; the
 * RBAC applies; and SubjectAccessReviews show each function's ServiceAccount may do what its function needs
 * and not more (what admission refuses besides: function-admission.test.ts).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { KubernetesObject } from '../../../shared/adapters/kubernetes/objects.ts';
import { knativeEventingCrd, knativeServingCrd } from '../../env/upstream-crds.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { installCrd } from '../../support/crds.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;

const manifests = (file: string): KubernetesObject[] =>
  parseAllDocuments(readFileSync(new URL(`../../../knative/base/${file}`, import.meta.url), 'utf8'))
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);

function path(object: KubernetesObject): string {
  const [group, version] = object.apiVersion.includes('/')
    ? object.apiVersion.split('/')
    : ['', object.apiVersion];
  const plural: Record<string, string> = {
    Service: 'services',
    ServiceAccount: 'serviceaccounts',
    ClusterRole: 'clusterroles',
    ClusterRoleBinding: 'clusterrolebindings',
    Role: 'roles',
    RoleBinding: 'rolebindings',
    CustomResourceDefinition: 'customresourcedefinitions',
    PingSource: 'pingsources',
    ApiServerSource: 'apiserversources',
    Broker: 'brokers',
    Trigger: 'triggers',
    EventPolicy: 'eventpolicies',
    NetworkPolicy: 'networkpolicies',
    ValidatingAdmissionPolicy: 'validatingadmissionpolicies',
    ValidatingAdmissionPolicyBinding: 'validatingadmissionpolicybindings',
  };
  const base = group === '' ? `/api/${version ?? ''}` : `/apis/${group ?? ''}/${version ?? ''}`;
  const ns = object.metadata.namespace === undefined ? '' : `/namespaces/${object.metadata.namespace}`;
  return `${base}${ns}/${plural[object.kind] ?? 'unknown'}`;
}

async function ensureNamespace(name: string): Promise<void> {
  const status = await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, admin);
  expect([201, 409]).toContain(status);
}

beforeAll(async () => {
  await installCrd(env, await knativeServingCrd('service'));
  for (const resource of ['pingsource', 'apiserversource', 'broker', 'trigger', 'eventpolicy'])
    await installCrd(env, await knativeEventingCrd(resource));
  await ensureNamespace('tenant-functions');
  await ensureNamespace('postgres');
  await ensureNamespace('everest-system');
}, 300_000);

describe('knative/base', () => {
  it('has a Knative Service per function that Knative Serving’s CRD accepts, strictly', async () => {
    const services = manifests('services.yaml');
    expect(services.map((s) => s.metadata.name).sort()).toEqual([
      'bootstrap',
      'cleanup',
      'dead-letter',
      'deprovision',
      'enforce',
      'pg-reconcile',
      'provision',
      'reset',
      'sync',
    ]);
    for (const service of services) {
      const answer = await api.send(
        'POST',
        `${path(service)}?dryRun=All&fieldValidation=Strict`,
        admin,
        service,
      );
      expect(answer.status, `${service.metadata.name}: ${JSON.stringify(answer.json)}`).toBe(201);
    }
  });

  it('has PingSources, an ApiServerSource, a Broker, Triggers and EventPolicies that Knative Eventing’s CRDs accept, strictly', async () => {
    const eventing = ['schedules.yaml', 'events.yaml', 'pg-reconcile.yaml']
      .flatMap(manifests)
      .filter(
        (o) =>
          o.apiVersion.startsWith('sources.knative.dev') || o.apiVersion.startsWith('eventing.knative.dev'),
      );
    expect(eventing.map((o) => o.kind)).toEqual(
      expect.arrayContaining(['PingSource', 'ApiServerSource', 'Broker', 'Trigger', 'EventPolicy']),
    );
    for (const object of eventing) {
      const answer = await api.send(
        'POST',
        `${path(object)}?dryRun=All&fieldValidation=Strict`,
        admin,
        object,
      );
      expect(answer.status, `${object.kind} ${object.metadata.name}: ${JSON.stringify(answer.json)}`).toBe(
        201,
      );
    }
    // A misspelt field is refused here too.
    const ping = eventing.find((o) => o.kind === 'PingSource');
    const misspelt = { ...ping, spec: { ...(ping?.spec as object), schedulee: '* * * * *' } };
    const refused = await api.send(
      'POST',
      `${path(misspelt as KubernetesObject)}?dryRun=All&fieldValidation=Strict`,
      admin,
      misspelt,
    );
    expect(refused.status).toBe(400);
  });

  it('has a NetworkPolicy and an admission policy the apiserver accepts, strictly', async () => {
    const objects = ['functions-networkpolicy.yaml', 'function-admission.yaml'].flatMap(manifests);
    expect(objects.map((o) => o.kind).sort()).toEqual([
      'NetworkPolicy',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ]);
    for (const object of objects) {
      const answer = await api.send(
        'POST',
        `${path(object)}?dryRun=All&fieldValidation=Strict`,
        admin,
        object,
      );
      expect(answer.status, `${object.kind} ${object.metadata.name}: ${JSON.stringify(answer.json)}`).toBe(
        201,
      );
    }
  });

  it('is checked for real: a misspelt field is refused', async () => {
    const [first] = manifests('services.yaml');
    const typo = {
      ...first,
      spec: { template: { spec: { containers: [{ image: 'x', imagePullPolicyy: 'Always' }] } } },
    };
    const answer = await api.send(
      'POST',
      `${path(first as KubernetesObject)}?dryRun=All&fieldValidation=Strict`,
      admin,
      typo,
    );
    expect(answer.status).toBe(400); // strict decoding error: unknown field
    expect(JSON.stringify(answer.json)).toContain('imagePullPolicyy');
  });

  it('grants each function what it needs and nothing more', async () => {
    for (const object of [
      ...manifests('tenant-clusterrole.yaml'),
      ...manifests('rbac.yaml'),
      ...manifests('pg-reconcile.yaml').filter((o) => !o.apiVersion.includes('knative.dev')),
      ...manifests('bootstrap.yaml'),
    ]) {
      const status = (await api.send('POST', path(object), admin, object)).status;
      expect([201, 409], `${object.kind} ${object.metadata.name}`).toContain(status);
    }
    const can = async (
      fn: string,
      attributes: { verb: string; resource: string; group?: string; namespace?: string; name?: string },
    ): Promise<boolean> => {
      const answer = await api.send('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', admin, {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:tenant-functions:${fn}`,
          groups: [
            'system:serviceaccounts',
            'system:serviceaccounts:tenant-functions',
            'system:authenticated',
          ],
          resourceAttributes: { group: '', ...attributes },
        },
      });
      return (answer.json as { status: { allowed: boolean } }).status.allowed;
    };
    const expectations: [string, Parameters<typeof can>[1], boolean][] = [
      ['provision', { verb: 'create', resource: 'namespaces' }, true],
      [
        'provision',
        { verb: 'create', resource: 'rolebindings', group: 'rbac.authorization.k8s.io', namespace: 'x' },
        true,
      ],
      [
        'provision',
        {
          verb: 'bind',
          resource: 'clusterroles',
          group: 'rbac.authorization.k8s.io',
          name: 'tenant-lifecycle:tenant-edit',
        },
        true,
      ],
      [
        'provision',
        { verb: 'bind', resource: 'clusterroles', group: 'rbac.authorization.k8s.io', name: 'cluster-admin' },
        false,
      ],
      ['provision', { verb: 'get', resource: 'secrets', namespace: 'x' }, false],
      ['deprovision', { verb: 'delete', resource: 'namespaces' }, true],
      ['deprovision', { verb: 'create', resource: 'namespaces' }, false],
      ['cleanup', { verb: 'list', resource: 'namespaces' }, true],
      ['cleanup', { verb: 'create', resource: 'namespaces' }, false],
      ['sync', { verb: 'create', resource: 'namespaces' }, true],
      ['sync', { verb: 'list', resource: 'secrets', namespace: 'x' }, false],
      // The baseline repair: lists across namespaces, replaces, and deletes a RoleBinding to recreate it.
      ['sync', { verb: 'list', resource: 'networkpolicies', group: 'networking.k8s.io' }, true],
      ['sync', { verb: 'update', resource: 'limitranges', namespace: 'x' }, true],
      [
        'sync',
        { verb: 'delete', resource: 'rolebindings', group: 'rbac.authorization.k8s.io', namespace: 'x' },
        true,
      ],
      [
        'sync',
        { verb: 'delete', resource: 'networkpolicies', group: 'networking.k8s.io', namespace: 'x' },
        false,
      ],
      ['sync', { verb: 'update', resource: 'configmaps', namespace: 'x' }, false],
      ['reset', { verb: 'deletecollection', resource: 'deployments', group: 'apps', namespace: 'x' }, true],
      [
        'reset',
        { verb: 'deletecollection', resource: 'widgets', group: 'example.com', namespace: 'x' },
        true,
      ],
      ['reset', { verb: 'delete', resource: 'namespaces' }, false],
      ['reset', { verb: 'get', resource: 'secrets', namespace: 'x' }, false],
      // reset reads no Secret anywhere: not across namespaces, not in kube-system, not in a tenant's.
      ['reset', { verb: 'list', resource: 'secrets' }, false],
      ['reset', { verb: 'list', resource: 'secrets', namespace: 'kube-system' }, false],
      ['reset', { verb: 'get', resource: 'secrets', namespace: 'kube-system' }, false],
      ['reset', { verb: 'list', resource: 'secrets', namespace: 'x' }, false],
      // It deletes them (the admission policy keeps that in tenant namespaces) and lists the tenant role's types.
      ['reset', { verb: 'deletecollection', resource: 'secrets', namespace: 'x' }, true],
      ['reset', { verb: 'list', resource: 'deployments', group: 'apps' }, true],
      ['reset', { verb: 'list', resource: 'configmaps' }, true],
      ['reset', { verb: 'list', resource: 'widgets', group: 'example.com' }, false],
      [
        'enforce',
        {
          verb: 'patch',
          resource: 'validatingadmissionpolicies',
          group: 'admissionregistration.k8s.io',
          name: 'tenant-lifecycle.everest-limits',
        },
        true,
      ],
      [
        'enforce',
        {
          verb: 'patch',
          resource: 'validatingadmissionpolicies',
          group: 'admissionregistration.k8s.io',
          name: 'someone-elses',
        },
        false,
      ],
      [
        'enforce',
        { verb: 'list', resource: 'databaseclusters', group: 'everest.percona.com', namespace: 'x' },
        true,
      ],
      ['enforce', { verb: 'create', resource: 'namespaces' }, false],
      // dead-letter holds no Kubernetes rights: its records are in the platform store.
      ['dead-letter', { verb: 'list', resource: 'secrets', namespace: 'tenant-functions' }, false],
      ['dead-letter', { verb: 'list', resource: 'namespaces' }, false],
      [
        'pg-reconcile',
        { verb: 'get', resource: 'configmaps', namespace: 'postgres', name: 'postgres-users-config' },
        true,
      ],
      ['pg-reconcile', { verb: 'list', resource: 'secrets', namespace: 'postgres' }, true],
      ['pg-reconcile', { verb: 'list', resource: 'secrets', namespace: 'default' }, false],
      ['pg-reconcile', { verb: 'update', resource: 'secrets', namespace: 'postgres' }, false],
      [
        'bootstrap',
        { verb: 'update', resource: 'secrets', namespace: 'everest-system', name: 'everest-accounts' },
        true,
      ],
      [
        'bootstrap',
        { verb: 'update', resource: 'configmaps', namespace: 'everest-system', name: 'everest-rbac' },
        true,
      ],
      ['bootstrap', { verb: 'get', resource: 'secrets', namespace: 'everest-system', name: 'other' }, false],
      ['bootstrap', { verb: 'get', resource: 'secrets', namespace: 'ns-alice' }, false],
      [
        'bootstrap',
        { verb: 'create', resource: 'subscriptions', group: 'operators.coreos.com', namespace: 'ns-alice' },
        true,
      ],
      [
        'bootstrap',
        { verb: 'patch', resource: 'tenantresourcepolicies', group: 'everest.local', namespace: 'ns-alice' },
        true,
      ],
      ['bootstrap', { verb: 'patch', resource: 'namespaces', name: 'ns-alice' }, true],
      [
        'bootstrap',
        { verb: 'create', resource: 'databaseclusters', group: 'everest.percona.com', namespace: 'ns-alice' },
        false,
      ],
      [
        'bootstrap',
        { verb: 'create', resource: 'rolebindings', group: 'rbac.authorization.k8s.io', namespace: 'x' },
        false,
      ],
    ];
    for (const [fn, attributes, allowed] of expectations)
      expect(
        await can(fn, attributes),
        `${fn} ${attributes.verb} ${attributes.resource} ${attributes.name ?? ''}`,
      ).toBe(allowed);
  });
});
