import { describe, expect, it } from 'vitest';
import { renderStarter, webIdeManifests } from '../../../shared/tenancy/starters.ts';

const values = { tenant: 'john-doe', namespace: 'john-doe', email: 'john@example.org' };

describe('renderStarter', () => {
  it('substitutes placeholders in string values and forces the namespace and labels', () => {
    const object = renderStarter(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: '${{ tenant }}-settings', namespace: 'elsewhere' },
        data: { owner: 'owner: ${{email}}' },
      },
      values,
    );
    expect(object).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'john-doe-settings',
        namespace: 'john-doe',
        labels: {
          'app.kubernetes.io/managed-by': 'tenant-lifecycle',
          'tenant-lifecycle.dev/tenant': 'john-doe',
          'tenant-lifecycle.dev/starter': 'true',
        },
      },
      data: { owner: 'owner: john@example.org' },
    });
  });

  it('keeps a hostile value inside its string: no new fields, documents or YAML', () => {
    const hostile = { ...values, email: 'x"\n---\nkind: ClusterRoleBinding\nmetadata: {name: pwn}' };
    const object = renderStarter(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { email: '${{ email }}' } },
      hostile,
    );
    expect(object.data).toEqual({ email: hostile.email });
    expect(Object.keys(object)).toEqual(['apiVersion', 'kind', 'metadata', 'data']);
  });

  it('refuses unknown placeholders, cluster-scoped kinds and incomplete templates', () => {
    expect(() =>
      renderStarter({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '${{ secret }}' } }, values),
    ).toThrow(/unknown placeholder/);
    expect(() =>
      renderStarter(
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'x' } },
        values,
      ),
    ).toThrow(/may not create a ClusterRoleBinding/);
    expect(() => renderStarter({ kind: 'ConfigMap', metadata: { name: 'x' } }, values)).toThrow(
      /needs apiVersion/,
    );
  });

  it('renders the built-in WebIDE: storage, deployment and service in the tenant namespace', () => {
    const objects = webIdeManifests.map((m) => renderStarter(m, values));
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}/${o.metadata.namespace ?? ''}`)).toEqual([
      'PersistentVolumeClaim/webide-home/john-doe',
      'Deployment/webide/john-doe',
      'Service/webide/john-doe',
    ]);
    expect(JSON.stringify(objects[1])).toContain('"value":"john-doe"');
  });
});
