import { describe, expect, it } from 'vitest';
import { renderStarter, usesStarterPassword, webIdeManifests } from '../../../shared/tenancy/starters.ts';
import type { KubernetesObject } from '../../../shared/adapters/kubernetes/objects.ts';

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

  it('renders the built-in WebIDE: its login, storage, deployment and service in the tenant namespace', () => {
    const objects = webIdeManifests().map((m) =>
      renderStarter(m, { ...values, password: 'pw-Of-24-characters-xyz1' }),
    );
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}/${o.metadata.namespace ?? ''}`)).toEqual([
      'Secret/webide-auth/john-doe',
      'PersistentVolumeClaim/webide-home/john-doe',
      'Deployment/webide/john-doe',
      'Service/webide/john-doe',
    ]);
    expect(objects[0]?.stringData).toEqual({ PASSWORD: 'pw-Of-24-characters-xyz1' });
    expect(JSON.stringify(objects[2])).toContain('"value":"john-doe"');
    expect(webIdeManifests().some(usesStarterPassword)).toBe(true);
  });

  it('runs the image of code-server unless another is given, changing nothing else', () => {
    const image = (manifests: ReturnType<typeof webIdeManifests>) =>
      (
        manifests.find((m) => m.kind === 'Deployment') as {
          spec: { template: { spec: { containers: { image: string }[] } } };
        }
      ).spec.template.spec.containers.map((c) => c.image);
    expect(image(webIdeManifests())).toEqual(['codercom/code-server:4.96.4']);
    const mirrored = webIdeManifests('registry.example.org:5000/mirror/code-server:4.96.4');
    expect(image(mirrored)).toEqual(['registry.example.org:5000/mirror/code-server:4.96.4']);
    expect(JSON.stringify(mirrored).replace('registry.example.org:5000/mirror/', '')).toBe(
      JSON.stringify(webIdeManifests()).replace('codercom/', ''),
    );
  });

  it('runs code-server with password authentication, the password from the Secret', () => {
    const deployment = webIdeManifests()
      .map((m) => renderStarter(m, values))
      .find((o) => o.kind === 'Deployment') as KubernetesObject & {
      spec: {
        template: { spec: { containers: { args: string[]; env: unknown[]; readinessProbe: unknown }[] } };
      };
    };
    const [container] = deployment.spec.template.spec.containers;
    expect(container?.args.slice(0, 2)).toEqual(['--auth', 'password']);
    expect(container?.args).not.toContain('none');
    // Ready only once it serves: the Service does not send the tenant to a server still starting.
    expect(container?.readinessProbe).toEqual({
      httpGet: { path: '/healthz', port: 'http' },
      periodSeconds: 5,
    });
    expect(container?.env).toContainEqual({
      name: 'PASSWORD',
      valueFrom: { secretKeyRef: { name: 'webide-auth', key: 'PASSWORD' } },
    });
  });

  it('gives every WebIDE pod what Pod Security "restricted" asks for', () => {
    const deployment = webIdeManifests().find((m) => m.kind === 'Deployment') as {
      spec: { template: { spec: { securityContext: unknown; containers: { securityContext: unknown }[] } } };
    };
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    for (const container of pod.containers) {
      expect(container.securityContext).toMatchObject({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
    }
  });

  it('fills ${{ password }} with a fresh random password when none is given', () => {
    const secret = webIdeManifests().find((m) => m.kind === 'Secret');
    if (secret === undefined) throw new Error('no Secret in the WebIDE');
    const first = renderStarter(secret, values).stringData as { PASSWORD: string };
    const second = renderStarter(secret, values).stringData as { PASSWORD: string };
    expect(first.PASSWORD).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(second.PASSWORD).not.toBe(first.PASSWORD);
  });
});
