/**
 * What sync must change, computed from one listing of each system (pure, so dry-run and tests see the same
 * plan the apply step executes). Tenants are the marker group's members; each should have a namespace and
 * a Grafana user of the same name. A namespace or a product-made Grafana user without a tenant is either a
 * tenant that lost its marker membership (its Keycloak user still exists: restore the membership) or an
 * orphan; telling them apart takes one Keycloak lookup per such name, so lookups grow with the drift only.
 *
 * Only what the product made counts (ownership.ts): a labelled namespace that fails the ownership rule, or a
 * Grafana user with a tenant's login but not an email provision gave it, is reported under `notOwned` and
 * is never repaired, bound into or pruned; a tenant with such a part is left as it is.
 */
import { annotations } from './labels.ts';
import { placeholderEmail } from './tenant-objects.ts';
import { ownEmail } from './tenant-profile.ts';
import type { ReservedNames } from '../platform/reserved-names.ts';
import {
  grafanaUserOwnership,
  lostMembershipRefusal,
  namespaceTenant,
  provisionedEmails,
  type NamespaceFacts,
  type NotOwned,
} from './ownership.ts';

export interface TenantIdentity {
  readonly id: string;
  readonly username: string;
  readonly email?: string;
}

export interface TenantNamespaceState extends NamespaceFacts {
  readonly name: string;
  /** Deletion requested: nothing can be created in it until it is gone. */
  readonly terminating: boolean;
  /** When read: a delete or patch applies to this namespace only. */
  readonly uid?: string;
  readonly resourceVersion?: string;
}

export interface GrafanaAccount {
  readonly id: number;
  readonly login: string;
  readonly email: string;
  readonly isAdmin: boolean;
}

export interface SyncInventory {
  /** The marker group's members. */
  readonly tenants: readonly TenantIdentity[];
  /** Namespaces labelled as tenant namespaces. */
  readonly namespaces: readonly TenantNamespaceState[];
  readonly grafanaUsers: readonly GrafanaAccount[];
}

export interface TenantRepair {
  readonly username: string;
  readonly userId: string;
  readonly email?: string;
  /** create: missing; terminating: being deleted, cannot be recreated yet. */
  readonly namespace: 'ok' | 'create' | 'terminating';
  readonly grafana: 'ok' | 'create';
  /** The marker and tenant group memberships are missing and must be restored. */
  readonly membership: boolean;
}

export interface SyncOrphans {
  readonly namespaces: readonly string[];
  readonly grafanaUsers: readonly GrafanaAccount[];
}

export interface SyncPlan {
  /** Objects under a tenant's name the product did not make: reported, nothing done with them. */
  readonly notOwned: readonly NotOwned[];
  readonly totalTenants: number;
  /** Tenants with something to repair (nothing else is listed). */
  readonly repairs: readonly TenantRepair[];
  readonly orphans: SyncOrphans;
}

/** The first pass: repairs of marker members, and the names that need a Keycloak lookup. */
export interface SyncDiff {
  readonly repairs: readonly TenantRepair[];
  /** Owned tenant namespaces by (lower-case) name. */
  readonly owned: ReadonlyMap<string, TenantNamespaceState>;
  readonly notOwned: readonly NotOwned[];
  /** Namespaces whose tenant is not a marker member. */
  readonly strayNamespaces: readonly TenantNamespaceState[];
  /** Non-admin Grafana users that are not marker members (candidates; provenance is checked next). */
  readonly strayGrafanaUsers: readonly GrafanaAccount[];
}

const key = (name: string): string => name.toLowerCase();

/** The Grafana user's ownership given what is known of the tenant (ownership.ts). */
function grafanaState(
  name: string,
  account: GrafanaAccount | undefined,
  email: string | undefined,
  namespace: TenantNamespaceState | undefined,
): 'ok' | 'create' | NotOwned {
  const ownership = grafanaUserOwnership(
    key(name),
    account,
    provisionedEmails(key(name), {
      keycloakEmail: email,
      namespaceOwnerEmail: namespace?.annotations[annotations.owner],
    }),
  );
  if (ownership.status === 'absent') return 'create';
  return ownership.status === 'owned' ? 'ok' : ownership.object;
}

/** The repair of one tenant, or what stops it (a part the product did not make). */
function repairOf(
  user: TenantIdentity,
  namespace: TenantNamespaceState | undefined,
  foreignNamespace: NotOwned | undefined,
  account: GrafanaAccount | undefined,
  membership: boolean,
): TenantRepair | NotOwned[] {
  const grafana = grafanaState(user.username, account, user.email, namespace);
  // Restoring a lost membership grants the tenant to a user outside the marker group: only to the one
  // whose email matches what provision recorded on the namespace (without a namespace, the Grafana user's).
  const stranger = membership
    ? lostMembershipRefusal(
        user,
        namespace !== undefined
          ? namespace.annotations[annotations.owner]
          : account?.email.toLowerCase() === placeholderEmail(key(user.username))
            ? undefined
            : account?.email,
      )
    : undefined;
  const foreign = [
    ...(foreignNamespace === undefined ? [] : [foreignNamespace]),
    ...(stranger === undefined ? [] : [stranger]),
    ...(typeof grafana === 'object' ? [grafana] : []),
  ];
  if (foreign.length > 0) return foreign;
  return {
    username: user.username,
    userId: user.id,
    // The placeholder of a tenant without an email is no owner email to record on a recreated namespace.
    ...(ownEmail(user.username, user.email) === undefined ? {} : { email: user.email }),
    namespace: namespace === undefined ? 'create' : namespace.terminating ? 'terminating' : 'ok',
    grafana: grafana === 'ok' ? 'ok' : 'create',
    membership,
  };
}

const needsWork = (r: TenantRepair): boolean => r.namespace !== 'ok' || r.grafana !== 'ok' || r.membership;

/** `reserved`: names that are never a tenant's namespace, whatever their labels say. */
export function diffInventory(inventory: SyncInventory, reserved?: ReservedNames): SyncDiff {
  const owned = new Map<string, TenantNamespaceState>();
  const foreignNamespaces = new Map<string, NotOwned>();
  for (const n of inventory.namespaces) {
    const verdict = namespaceTenant(n, reserved);
    if ('tenant' in verdict) owned.set(key(n.name), n);
    else foreignNamespaces.set(key(n.name), verdict.refusal);
  }
  const grafana = new Map(inventory.grafanaUsers.map((g) => [key(g.login), g]));
  const tenants = new Set(inventory.tenants.map((t) => key(t.username)));
  const repairs: TenantRepair[] = [];
  const notOwned: NotOwned[] = [...foreignNamespaces.values()];
  for (const t of inventory.tenants) {
    const name = key(t.username);
    const repair = repairOf(t, owned.get(name), foreignNamespaces.get(name), grafana.get(name), false);
    if (Array.isArray(repair)) notOwned.push(...repair.filter((o) => o.kind !== 'Namespace'));
    else if (needsWork(repair)) repairs.push(repair);
  }
  return {
    repairs,
    owned,
    notOwned,
    strayNamespaces: [...owned.values()].filter((n) => !tenants.has(key(n.name))),
    strayGrafanaUsers: inventory.grafanaUsers.filter((g) => !g.isAdmin && !tenants.has(key(g.login))),
  };
}

/**
 * The names (lower case) whose Keycloak user must be looked up: stray namespaces and product-made stray
 * Grafana users (`productGrafanaLogins` in lower case).
 */
export function namesToLookUp(diff: SyncDiff, productGrafanaLogins: ReadonlySet<string>): string[] {
  const names = new Set(diff.strayNamespaces.map((n) => key(n.name)));
  for (const g of diff.strayGrafanaUsers) if (productGrafanaLogins.has(key(g.login))) names.add(key(g.login));
  return [...names].sort();
}

/**
 * The second pass: a stray name whose Keycloak user exists is a tenant that lost its membership (restore
 * it, and whatever else it lacks); otherwise its namespace and product-made Grafana user are orphans.
 * Grafana users this product did not create are never orphans: sync does not touch people's accounts.
 */
export function completePlan(
  inventory: SyncInventory,
  diff: SyncDiff,
  found: ReadonlyMap<string, TenantIdentity | undefined>,
  productGrafanaLogins: ReadonlySet<string>,
): SyncPlan {
  const grafana = new Map(inventory.grafanaUsers.map((g) => [key(g.login), g]));
  const repairs = [...diff.repairs];
  const notOwned = [...diff.notOwned];
  const orphanNamespaces: string[] = [];
  const orphanGrafana: GrafanaAccount[] = [];
  for (const name of namesToLookUp(diff, productGrafanaLogins)) {
    const user = found.get(name);
    const namespace = diff.owned.get(name);
    if (user !== undefined) {
      const repair = repairOf(user, namespace, undefined, grafana.get(name), true);
      if (Array.isArray(repair)) notOwned.push(...repair);
      else repairs.push(repair);
      continue;
    }
    if (namespace !== undefined && !namespace.terminating) orphanNamespaces.push(namespace.name);
    const account = grafana.get(name);
    if (
      account !== undefined &&
      productGrafanaLogins.has(name) &&
      grafanaState(name, account, undefined, namespace) === 'ok'
    )
      orphanGrafana.push(account);
  }
  return {
    notOwned: notOwned.sort((a, b) => a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind)),
    totalTenants: inventory.tenants.length + repairs.filter((r) => r.membership).length,
    repairs: repairs.sort((a, b) => a.username.localeCompare(b.username)),
    orphans: { namespaces: orphanNamespaces.sort(), grafanaUsers: orphanGrafana },
  };
}

/**
 * Whether pruning `orphans` needs `force`: more than `maxShare` of the tenant namespaces at once (at least
 * one may always go) looks like a misconfiguration (a renamed marker group, the wrong realm) rather than
 * drift, and deleting namespaces cannot be undone.
 */
export function pruneNeedsForce(plan: SyncPlan, namespacesSeen: number, maxShare: number): boolean {
  const allowed = Math.max(1, Math.floor(maxShare * namespacesSeen));
  return plan.orphans.namespaces.length > allowed || plan.orphans.grafanaUsers.length > allowed;
}
