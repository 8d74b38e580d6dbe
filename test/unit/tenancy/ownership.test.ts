/** The ownership rule (pure): what the product made is the tenant's, anything else under the name is not. */
import { describe, expect, it } from 'vitest';
import { defaultPlan, renderBaseline } from '../../../shared/tenancy/baseline.ts';
import { annotations, labels, MANAGER } from '../../../shared/tenancy/labels.ts';
import {
  grafanaUserOwnership,
  keycloakUserOwnership,
  lostMembershipRefusal,
  namespaceOwnership,
  namespaceTenant,
  notOwnedError,
  provisionedEmails,
} from '../../../shared/tenancy/ownership.ts';
import { tenantOwnership } from '../../../shared/tenancy/tenant-parts.ts';

/** The namespace exactly as provision renders it. */
function provisioned(tenant: string, ownerEmail?: string) {
  const [namespace] = renderBaseline({
    tenant,
    ...(ownerEmail === undefined ? {} : { ownerEmail }),
    createdAt: new Date('2026-12-01T00:00:00Z'),
    plan: defaultPlan,
    access: { user: 'oidc:u', group: 'oidc:g', clusterRole: 'edit' },
  });
  if (namespace === undefined) throw new Error('no namespace rendered');
  return {
    name: namespace.metadata.name,
    labels: { ...namespace.metadata.labels },
    annotations: { ...namespace.metadata.annotations },
  };
}

describe('namespaceOwnership', () => {
  it('owns the namespace provision renders, and nothing missing', () => {
    expect(namespaceOwnership('acme', provisioned('acme'))).toEqual({ status: 'owned' });
    expect(namespaceOwnership('acme', undefined)).toEqual({ status: 'absent' });
  });

  it.each([
    ['no labels at all', { name: 'acme', labels: {}, annotations: {} }, /managed-by=tenant-lifecycle/],
    [
      'labels but no owner annotation (labelled by hand)',
      { ...provisioned('acme'), annotations: {} },
      /owner annotation/,
    ],
    [
      'the tenant label naming another tenant',
      { ...provisioned('acme'), labels: { ...provisioned('acme').labels, [labels.tenant]: 'zed' } },
      /another tenant \("zed"\)/,
    ],
    [
      'the owner annotation naming another tenant',
      { ...provisioned('acme'), annotations: { [annotations.ownerTenant]: 'zed' } },
      /another tenant \("zed"\)/,
    ],
    [
      'another manager',
      { ...provisioned('acme'), labels: { ...provisioned('acme').labels, [labels.managedBy]: 'helm' } },
      /managed-by/,
    ],
  ])('refuses a namespace with %s', (_case, namespace, reason) => {
    const ownership = namespaceOwnership('acme', namespace);
    expect(ownership).toMatchObject({ status: 'not_owned', object: { kind: 'Namespace', name: 'acme' } });
    if (ownership.status === 'not_owned') expect(ownership.object.reason).toMatch(reason);
  });

  it('refuses a reserved name whatever its labels say', () => {
    const reserved = { exact: ['default'], patterns: [/^kube-/] };
    const ownership = namespaceOwnership('kube-system', provisioned('kube-system'), reserved);
    expect(ownership).toMatchObject({ status: 'not_owned', object: { reason: 'it is a reserved name' } });
    expect(namespaceOwnership('acme', provisioned('acme'), reserved)).toEqual({ status: 'owned' });
  });

  it("refuses another tenant's namespace asked for under a different name", () => {
    expect(namespaceOwnership('acme', provisioned('zed'))).toMatchObject({ status: 'not_owned' });
  });

  it('tells a sweep which tenant a labelled namespace belongs to', () => {
    expect(namespaceTenant(provisioned('acme'))).toEqual({ tenant: 'acme' });
    const renamed = { ...provisioned('acme'), name: 'elsewhere' };
    expect(namespaceTenant(renamed)).toMatchObject({ refusal: { kind: 'Namespace', name: 'elsewhere' } });
  });
});

describe('keycloakUserOwnership', () => {
  it('owns a marker-group member only', () => {
    expect(keycloakUserOwnership('acme', { username: 'acme', inMarkerGroup: true })).toEqual({
      status: 'owned',
    });
    const outside = keycloakUserOwnership('acme', { username: 'acme', inMarkerGroup: false });
    expect(outside).toMatchObject({ status: 'not_owned', object: { kind: 'KeycloakUser', name: 'acme' } });
    if (outside.status === 'not_owned') expect(outside.object.reason).toMatch(/marker group/);
    expect(keycloakUserOwnership('acme', undefined)).toEqual({ status: 'absent' });
  });
});

describe('grafanaUserOwnership', () => {
  const emails = provisionedEmails('acme', { keycloakEmail: 'Acme@Example.org' });
  const user = (email: string, isAdmin = false, login = 'acme') => ({ login, email, isAdmin });

  it('owns the user with an email provision gave it (the tenant’s, case-insensitive, or the placeholder)', () => {
    expect(grafanaUserOwnership('acme', user('acme@example.org'), emails)).toEqual({ status: 'owned' });
    expect(grafanaUserOwnership('acme', user('acme@tenants.invalid'), emails)).toEqual({ status: 'owned' });
  });

  it('refuses a same-named user with another email, a server admin, and another login', () => {
    expect(grafanaUserOwnership('acme', user('someone@people.example'), emails)).toMatchObject({
      status: 'not_owned',
      object: { kind: 'GrafanaUser', name: 'acme' },
    });
    expect(grafanaUserOwnership('acme', user('acme@example.org', true), emails)).toMatchObject({
      status: 'not_owned',
    });
    expect(grafanaUserOwnership('acme', user('acme@example.org', false, 'other'), emails)).toMatchObject({
      status: 'not_owned',
    });
  });
});

describe('tenantOwnership', () => {
  it('trusts a Keycloak email only from the marker-group user', () => {
    const parts = {
      username: 'acme',
      keycloak: { id: 'k1', username: 'acme', email: 'boss@corp.example', inMarkerGroup: false },
      grafana: { id: 7, login: 'acme', email: 'boss@corp.example', isAdmin: false },
    };
    const outside = tenantOwnership(parts);
    expect(outside.keycloak.status).toBe('not_owned');
    expect(outside.grafana.status).toBe('not_owned');
    const member = tenantOwnership({ ...parts, keycloak: { ...parts.keycloak, inMarkerGroup: true } });
    expect(member).toEqual({
      keycloak: { status: 'owned' },
      namespace: { status: 'absent' },
      grafana: { status: 'owned' },
    });
  });

  it('trusts the owner-email annotation of an owned namespace (the Keycloak email may have changed)', () => {
    const owned = tenantOwnership({
      username: 'acme',
      namespace: { ...provisioned('acme', 'old@example.org'), uid: 'u1' },
      grafana: { id: 7, login: 'acme', email: 'old@example.org', isAdmin: false },
    });
    expect(owned.grafana).toEqual({ status: 'owned' });
    const labelledByHand = tenantOwnership({
      username: 'acme',
      namespace: {
        name: 'acme',
        uid: 'u2',
        labels: { [labels.managedBy]: MANAGER, [labels.tenant]: 'acme' },
        annotations: { [annotations.owner]: 'old@example.org' },
      },
      grafana: { id: 7, login: 'acme', email: 'old@example.org', isAdmin: false },
    });
    expect(labelledByHand.namespace.status).toBe('not_owned');
    expect(labelledByHand.grafana.status).toBe('not_owned');
  });
});

describe('lostMembershipRefusal', () => {
  it('restores a tenant without an email whose Keycloak user has its placeholder, and no one else', () => {
    // A tenant provisioned without an email: the placeholder in Keycloak, no owner email on the namespace.
    expect(
      lostMembershipRefusal({ username: 'acme', email: 'acme@tenants.invalid' }, undefined),
    ).toBeUndefined();
    expect(lostMembershipRefusal({ username: 'acme' }, undefined)).toBeUndefined();
    expect(
      lostMembershipRefusal({ username: 'acme', email: 'Owner@Example.org' }, 'owner@example.org'),
    ).toBeUndefined();
    for (const [email, recorded] of [
      ['other@tenants.invalid', undefined],
      ['newcomer@example.org', undefined],
      ['acme@tenants.invalid', 'owner@example.org'],
      ['newcomer@example.org', 'owner@example.org'],
    ] as const) {
      expect(lostMembershipRefusal({ username: 'acme', email }, recorded), email).toMatchObject({
        kind: 'KeycloakUser',
        name: 'acme',
      });
    }
  });
});

describe('notOwnedError', () => {
  it('is a 409 not_owned naming each object by kind and name, in the message and the extensions', () => {
    const error = notOwnedError('deprovision', 'acme', [
      { kind: 'Namespace', name: 'acme', reason: 'no labels' },
      { kind: 'GrafanaUser', name: 'acme', reason: 'another email' },
    ]);
    expect(error).toMatchObject({ reason: 'not_owned', status: 409 });
    expect(error.message).toMatch(/Namespace "acme".*GrafanaUser "acme".*nothing was changed/);
    expect(error.extensions).toEqual({
      tenant: 'acme',
      notOwned: [
        { kind: 'Namespace', name: 'acme', reason: 'no labels' },
        { kind: 'GrafanaUser', name: 'acme', reason: 'another email' },
      ],
    });
  });
});
