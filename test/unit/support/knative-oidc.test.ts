import { describe, expect, it } from 'vitest';
import { knativeSenderIdentity } from '../../support/knative-oidc.ts';

// Expected names from Knative's own code (kmeta.ChildName and GetOIDCServiceAccountNameForResource of
// knative/eventing v0.49.0, run in Go): short names are suffixed, long ones hashed.
describe('knativeSenderIdentity', () => {
  it.each([
    ['PingSource', 'reset-monthly', 'reset-monthly-oidc-sources.knative.dev-pingsource'],
    [
      'PingSource',
      'enforce-every-10-minutes',
      'enforce-every-10-minutes-oidc-sources.knative.dev-pingsource',
    ],
    [
      'PingSource',
      'pg-reconcile-every-5-minutes',
      'pg-reconcile-every-5-minutes962683fd93e62a03f5438258bcede3bf-oi',
    ],
    [
      'ApiServerSource',
      'pg-reconcile-desired-state',
      'pg-reconcile-desired-stateede9c9fac2d23e4d6b3b24128004ffb1-oidc',
    ],
    ['Trigger', 'pg-reconcile', 'pg-reconcile-oidc-eventing.knative.dev-trigger'],
  ] as const)('%s %s -> %s', (kind, name, account) => {
    expect(knativeSenderIdentity(kind, 'tenant-functions', name)).toBe(
      `system:serviceaccount:tenant-functions:${account}`,
    );
  });
});
