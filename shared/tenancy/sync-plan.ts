/**
 * What sync must change, computed from one listing of each system (pure, so dry-run and tests see the same
 * plan the apply step executes). Tenants are the marker group's members; each should have a namespace and
 * a Grafana user of the same name. A namespace or a product-made Grafana user without a tenant is either a
 * tenant that lost its marker membership (its Keycloak user still exists: restore the membership) or an
 * orphan; telling them apart takes one Keycloak lookup per such name, so lookups grow with the drift only.
 */

export interface TenantIdentity {
  readonly id: string;
  readonly username: string;
  readonly email?: string;
}

export interface TenantNamespaceState {
  readonly name: string;
  /** Deletion requested: nothing can be created in it until it is gone. */
  readonly terminating: boolean;
}

export interface GrafanaAccount {
  readonly id: number;
  readonly login: string;
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
  readonly totalTenants: number;
  /** Tenants with something to repair (nothing else is listed). */
  readonly repairs: readonly TenantRepair[];
  readonly orphans: SyncOrphans;
}

/** The first pass: repairs of marker members, and the names that need a Keycloak lookup. */
export interface SyncDiff {
  readonly repairs: readonly TenantRepair[];
  /** Namespaces whose tenant is not a marker member. */
  readonly strayNamespaces: readonly TenantNamespaceState[];
  /** Non-admin Grafana users that are not marker members (candidates; provenance is checked next). */
  readonly strayGrafanaUsers: readonly GrafanaAccount[];
}

const key = (name: string): string => name.toLowerCase();

function repairOf(
  user: TenantIdentity,
  namespace: TenantNamespaceState | undefined,
  hasGrafanaUser: boolean,
  membership: boolean,
): TenantRepair {
  return {
    username: user.username,
    userId: user.id,
    ...(user.email === undefined ? {} : { email: user.email }),
    namespace: namespace === undefined ? 'create' : namespace.terminating ? 'terminating' : 'ok',
    grafana: hasGrafanaUser ? 'ok' : 'create',
    membership,
  };
}

const needsWork = (r: TenantRepair): boolean => r.namespace !== 'ok' || r.grafana !== 'ok' || r.membership;

export function diffInventory(inventory: SyncInventory): SyncDiff {
  const namespaces = new Map(inventory.namespaces.map((n) => [key(n.name), n]));
  const grafana = new Map(inventory.grafanaUsers.map((g) => [key(g.login), g]));
  const tenants = new Set(inventory.tenants.map((t) => key(t.username)));
  const repairs = inventory.tenants
    .map((t) => repairOf(t, namespaces.get(key(t.username)), grafana.has(key(t.username)), false))
    .filter(needsWork);
  return {
    repairs,
    strayNamespaces: inventory.namespaces.filter((n) => !tenants.has(key(n.name))),
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
  const namespaces = new Map(inventory.namespaces.map((n) => [key(n.name), n]));
  const grafana = new Map(inventory.grafanaUsers.map((g) => [key(g.login), g]));
  const repairs = [...diff.repairs];
  const orphanNamespaces: string[] = [];
  const orphanGrafana: GrafanaAccount[] = [];
  for (const name of namesToLookUp(diff, productGrafanaLogins)) {
    const user = found.get(name);
    if (user !== undefined) {
      repairs.push(repairOf(user, namespaces.get(name), grafana.has(name), true));
      continue;
    }
    const namespace = namespaces.get(name);
    if (namespace !== undefined && !namespace.terminating) orphanNamespaces.push(namespace.name);
    const account = grafana.get(name);
    if (account !== undefined && !account.isAdmin && productGrafanaLogins.has(name))
      orphanGrafana.push(account);
  }
  return {
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
