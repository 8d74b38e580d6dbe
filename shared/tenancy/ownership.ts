/**
 * Whether an object belongs to a tenant, decided from what was read (pure: the ports read, these functions
 * decide, the caller acts). The product deletes, resets, binds or repairs only what it made:
 *
 *  - a namespace is the tenant's when its name is the tenant name and it carries
 *    `app.kubernetes.io/managed-by=tenant-lifecycle`, `tenant-lifecycle.dev/tenant=<tenant>` and the owner
 *    annotation `tenant-lifecycle.dev/owner=<tenant>` (provision and sync write all three; a namespace
 *    someone labelled by hand, or another tenant's, fails at least one);
 *  - a Keycloak user is the tenant's when its username is the tenant name and it is a member of the marker
 *    group (KEYCLOAK_TENANT_GROUP);
 *  - a Grafana user is the tenant's when it is no server admin, its login is the tenant name and its email
 *    is one provision gave it: the tenant's email as the marker-group Keycloak user or the tenant namespace's
 *    owner-email annotation holds it, or the placeholder `<tenant>@tenants.invalid` of a tenant without
 *    one. Provision creates the Grafana user only after the Keycloak user is in the marker group, and keeps
 *    that Keycloak user when another part of a failed provision could not be removed, so a Grafana user
 *    left by a partial failure stays provably the tenant's and a retry (deprovision, sync) finishes it.
 *
 * Anything else with the tenant's name is `not_owned`: the operation answers 409 naming it and changes
 * nothing in any system.
 */
import { PlatformError } from '../platform/errors.ts';
import { isReserved, type ReservedNames } from '../platform/reserved-names.ts';
import { annotations, labels, MANAGER } from './labels.ts';
import { placeholderEmail } from './tenant-objects.ts';
import { ownEmail } from './tenant-profile.ts';

export type OwnedKind = 'Namespace' | 'KeycloakUser' | 'GrafanaUser';

export interface ObjectRef {
  readonly kind: OwnedKind;
  readonly name: string;
}

export interface NotOwned extends ObjectRef {
  /** Why it is not the tenant's, for the operator (no secrets: names and label keys only). */
  readonly reason: string;
}

export type Ownership =
  | { readonly status: 'absent' }
  | { readonly status: 'owned' }
  | { readonly status: 'not_owned'; readonly object: NotOwned };

export interface NamespaceFacts {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface KeycloakUserFacts {
  readonly username: string;
  readonly inMarkerGroup: boolean;
}

export interface GrafanaUserFacts {
  readonly login: string;
  readonly email: string;
  readonly isAdmin: boolean;
}

const ABSENT: Ownership = { status: 'absent' };
const OWNED: Ownership = { status: 'owned' };
const notOwned = (kind: OwnedKind, name: string, reason: string): Ownership => ({
  status: 'not_owned',
  object: { kind, name, reason },
});

/**
 * Why `namespace` is not tenant `tenant`'s, or undefined when it is. A reserved name is never a tenant's,
 * whatever its labels say.
 */
export function namespaceRefusal(
  tenant: string,
  namespace: NamespaceFacts,
  reserved?: ReservedNames,
): string | undefined {
  if (reserved !== undefined && isReserved(namespace.name, reserved)) return 'it is a reserved name';
  if (namespace.name !== tenant) return `the namespace is not named after tenant "${tenant}"`;
  if (namespace.labels[labels.managedBy] !== MANAGER)
    return `it does not carry ${labels.managedBy}=${MANAGER}`;
  const labelled = namespace.labels[labels.tenant];
  if (labelled !== tenant)
    return labelled === undefined
      ? `it does not carry the label ${labels.tenant}`
      : `its label ${labels.tenant} names another tenant ("${labelled}")`;
  const owner = namespace.annotations[annotations.ownerTenant];
  if (owner !== tenant)
    return owner === undefined
      ? `it does not carry the owner annotation ${annotations.ownerTenant}`
      : `its owner annotation ${annotations.ownerTenant} names another tenant ("${owner}")`;
  return undefined;
}

export function namespaceOwnership(
  tenant: string,
  namespace: NamespaceFacts | undefined,
  reserved?: ReservedNames,
): Ownership {
  if (namespace === undefined) return ABSENT;
  const reason = namespaceRefusal(tenant, namespace, reserved);
  return reason === undefined ? OWNED : notOwned('Namespace', namespace.name, reason);
}

/** Which tenant a labelled namespace belongs to, or why it belongs to none (for sweeps over a selector). */
export function namespaceTenant(
  namespace: NamespaceFacts,
  reserved?: ReservedNames,
): { readonly tenant: string } | { readonly refusal: NotOwned } {
  const tenant = namespace.labels[labels.tenant] ?? '';
  const reason = namespaceRefusal(tenant, namespace, reserved);
  return reason === undefined ? { tenant } : { refusal: { kind: 'Namespace', name: namespace.name, reason } };
}

export function keycloakUserOwnership(tenant: string, user: KeycloakUserFacts | undefined): Ownership {
  if (user === undefined) return ABSENT;
  if (user.username.toLowerCase() !== tenant)
    return notOwned('KeycloakUser', user.username, `its username is not "${tenant}"`);
  return user.inMarkerGroup
    ? OWNED
    : notOwned('KeycloakUser', user.username, 'it is not a member of the tenant marker group');
}

/**
 * Whether a Keycloak user outside the marker group may have its tenant memberships restored (sync): the
 * email provision recorded on the tenant's owned namespace (none for a tenant without one) must be its
 * email, so that a same-named user made after the tenant's was deleted is never granted the tenant.
 */
export function lostMembershipRefusal(
  user: { readonly username: string; readonly email?: string | undefined },
  recordedEmail: string | undefined,
): NotOwned | undefined {
  // A tenant without an email has the placeholder in Keycloak and no owner email on its namespace.
  const email = ownEmail(user.username, user.email)?.toLowerCase();
  const recorded =
    recordedEmail === undefined || recordedEmail === '' ? undefined : recordedEmail.toLowerCase();
  return email === recorded
    ? undefined
    : {
        kind: 'KeycloakUser',
        name: user.username,
        reason:
          'it is not a member of the tenant marker group, and its email is not the one recorded on the tenant namespace',
      };
}

/** The emails provision may have given the tenant's Grafana user (see the module comment). */
export function provisionedEmails(
  tenant: string,
  evidence: {
    /** The marker-group Keycloak user's email (only an owned Keycloak user counts). */
    readonly keycloakEmail?: string | undefined;
    /** The owner-email annotation of the tenant's owned namespace. */
    readonly namespaceOwnerEmail?: string | undefined;
  },
): string[] {
  return [placeholderEmail(tenant), evidence.keycloakEmail, evidence.namespaceOwnerEmail]
    .filter((e): e is string => e !== undefined && e !== '')
    .map((e) => e.toLowerCase());
}

export function grafanaUserOwnership(
  tenant: string,
  user: GrafanaUserFacts | undefined,
  emails: readonly string[],
): Ownership {
  if (user === undefined) return ABSENT;
  if (user.isAdmin) return notOwned('GrafanaUser', user.login, 'it is a Grafana server admin');
  if (user.login.toLowerCase() !== tenant)
    return notOwned('GrafanaUser', user.login, `its login is not "${tenant}"`);
  return emails.includes(user.email.toLowerCase())
    ? OWNED
    : notOwned('GrafanaUser', user.login, "its email is not one provision gave the tenant's Grafana user");
}

/** The parts that are not the tenant's. */
export function refusals(...ownerships: readonly Ownership[]): NotOwned[] {
  return ownerships.flatMap((o) => (o.status === 'not_owned' ? [o.object] : []));
}

const describe = (o: NotOwned): string => `${o.kind} "${o.name}" (${o.reason})`;

/** 409 not_owned naming every object that is not the tenant's; `action` says what was refused. */
export function notOwnedError(action: string, tenant: string, objects: readonly NotOwned[]): PlatformError {
  return new PlatformError({
    reason: 'not_owned',
    message: `refusing to ${action} "${tenant}": ${objects.map(describe).join('; ')} ${
      objects.length === 1 ? 'is' : 'are'
    } not the tenant's (tenant-lifecycle did not make ${
      objects.length === 1 ? 'it' : 'them'
    }); nothing was changed`,
    extensions: {
      tenant,
      notOwned: objects.map((o) => ({ kind: o.kind, name: o.name, reason: o.reason })),
    },
  });
}
