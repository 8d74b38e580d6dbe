/** The one builder of apiserver paths: core and grouped, namespaced and cluster-wide, encoded. */
import { describe, expect, it } from 'vitest';
import { groupVersionPath, resourcePath } from '../../../../shared/adapters/kubernetes/resource-path.ts';

const configMaps = { group: '', version: 'v1', resource: 'configmaps' };
const subscriptions = { group: 'operators.coreos.com', version: 'v1alpha1', resource: 'subscriptions' };

describe('resourcePath', () => {
  it('addresses the core group under /api and every other group under /apis', () => {
    expect(groupVersionPath(configMaps)).toBe('/api/v1');
    expect(groupVersionPath(subscriptions)).toBe('/apis/operators.coreos.com/v1alpha1');
    expect(resourcePath({ ...configMaps, namespace: 'team-a', name: 'settings' })).toBe(
      '/api/v1/namespaces/team-a/configmaps/settings',
    );
    expect(resourcePath({ ...subscriptions, namespace: 'db' })).toBe(
      '/apis/operators.coreos.com/v1alpha1/namespaces/db/subscriptions',
    );
  });

  it('addresses cluster-wide collections and cluster-scoped objects without a namespace', () => {
    expect(resourcePath(subscriptions)).toBe('/apis/operators.coreos.com/v1alpha1/subscriptions');
    expect(resourcePath({ group: '', version: 'v1', resource: 'namespaces', name: 'team-a' })).toBe(
      '/api/v1/namespaces/team-a',
    );
  });

  it('encodes the namespace, the name and the query, and leaves out undefined parameters', () => {
    expect(
      resourcePath(
        { ...configMaps, namespace: 'a/b', name: 'c?d' },
        { labelSelector: 'x!=true', fieldSelector: undefined, limit: 1, continue: 'a&b' },
      ),
    ).toBe('/api/v1/namespaces/a%2Fb/configmaps/c%3Fd?labelSelector=x%21%3Dtrue&limit=1&continue=a%26b');
    expect(resourcePath(configMaps, { fieldSelector: undefined })).toBe('/api/v1/configmaps');
  });
});
