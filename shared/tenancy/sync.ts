/**
 * Sync: makes every tenant whole again. Lists the marker group's members, the Grafana users and the tenant
 * namespaces once each (in pages), plans with sync-plan.ts, then repairs with bounded concurrency: a missing
 * namespace gets the tenant's objects again (the default plan's), a missing Grafana user is created with a
 * random password nobody is told (the tenant signs in through single sign-on, or an admin sets one), a lost
 * group membership is restored. Orphans are reported, and deleted only with `prune` (and `force` beyond the
 * safety bound). With `username`, the same is done for one tenant with targeted reads instead of lists.
 *
 * Only what the product made is repaired, bound into or pruned (ownership.ts): objects under a tenant's
 * name that it did not make are reported under `not_owned`, and for one `username` they answer 409
 * not_owned with nothing changed. A namespace create that meets an existing namespace goes on only when
 * that namespace is the tenant's (a concurrent provision made it); a foreign one is reported, nothing is
 * created in it. `adopt` (one `username`, over HTTP only) is the operator's explicit exception: the tenant's
 * same-named namespace that no other tenant owns is labelled as the tenant's and gets its baseline; the
 * answer's `adopted` and the audit record say so.
 *
 * The baseline objects inside every owned tenant namespace that is not being deleted (quota, limits,
 * network policies, role bindings; never the tenant's own objects or the starters) are compared with what
 * provision renders for the namespace's plan (baseline-drift.ts): one list per kind across namespaces by the
 * baseline label, in pages. A drifted object is replaced, a missing one created, one of another name left
 * alone; the answer's `baseline_repaired` (a dry run's `would_repair_baseline`) and the audit record name
 * each repaired object (tenant, kind, name, drifted fields).
 */
import pLimit from 'p-limit';
import type { ReservedNames } from '../platform/reserved-names.ts';
import { isNotFound, PlatformError, toPlatformError } from '../platform/errors.ts';
import { defaultPlan as builtInDefaultPlan, type TenantPlan } from './baseline.ts';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import {
  BaselineComparison,
  baselineKinds,
  byTenantKindName,
  baselineRepair,
  baselineSelector,
  driftReport,
  replacement,
  storedShape,
  type BaselineDrift,
  type BaselineKind,
  type BaselineRepair,
} from './baseline-drift.ts';
import { annotations, labels, tenantNamespaceSelector } from './labels.ts';
import { namespaceOwnership, notOwnedError, type NotOwned } from './ownership.ts';
import { generatePassword } from '../platform/passwords.ts';
import type { GrafanaOrgRole } from './tenant-config.ts';
import {
  completePlan,
  diffInventory,
  namesToLookUp,
  pruneNeedsForce,
  type GrafanaAccount,
  type SyncInventory,
  type SyncPlan,
  type TenantIdentity,
  type TenantNamespaceState,
  type TenantRepair,
} from './sync-plan.ts';
import {
  placeholderEmail,
  renderTenantObjects,
  tenantGroupName,
  type TenantAccessSettings,
} from './tenant-objects.ts';

export interface SyncPorts {
  readonly identity: {
    findGroup(name: string, parentId?: string): Promise<string | undefined>;
    ensureGroup(name: string, parentId?: string): Promise<string>;
    addToGroup(userId: string, groupId: string): Promise<void>;
    findUserByUsername(username: string): Promise<TenantIdentity | undefined>;
    userGroups(userId: string): Promise<{ id: string; name: string }[]>;
    groupMembers(groupId: string): AsyncIterable<readonly TenantIdentity[]>;
  };
  readonly cluster: {
    namespacePages(selector: string): AsyncIterable<readonly TenantNamespaceState[]>;
    readNamespace(name: string): Promise<TenantNamespaceState | undefined>;
    create(object: KubernetesObject): Promise<void>;
    deleteNamespace(name: string, uid?: string): Promise<'deleted' | 'absent'>;
    /** Objects of a kind matching the label selector, in every namespace or in `namespace`, in pages (API JSON). */
    objectPages(
      kind: BaselineKind,
      selector: string,
      namespace?: string,
    ): AsyncIterable<readonly Readonly<Record<string, unknown>>[]>;
    /** One object (API JSON), or undefined when there is none. */
    read(object: KubernetesObject): Promise<Readonly<Record<string, unknown>> | undefined>;
    /** PUT; the object's metadata.uid and resourceVersion are preconditions (a change meanwhile is a 409). */
    replace(object: KubernetesObject): Promise<void>;
    /** Deletes the object only if it still has this uid. */
    deleteObject(object: KubernetesObject, uid: string): Promise<'deleted' | 'absent'>;
    /** Adds labels and annotations to the namespace read (its resourceVersion makes a change meanwhile a 409). */
    labelNamespace(
      namespace: { name: string; resourceVersion: string },
      add: { labels: Record<string, string>; annotations: Record<string, string> },
    ): Promise<void>;
  };
  readonly grafana: {
    searchUsers(): AsyncIterable<readonly GrafanaAccount[]>;
    lookupUser(login: string): Promise<GrafanaAccount | undefined>;
    createUser(user: { login: string; email: string; name?: string; password: string }): Promise<number>;
    setOrgRole(userId: number, login: string, role: GrafanaOrgRole): Promise<void>;
    deleteUser(id: number): Promise<boolean>;
  };
  /** Which of these (lower-case) logins provision ever succeeded on: Grafana users this product made. */
  readonly productLogins: (logins: readonly string[]) => Promise<ReadonlySet<string>>;
  /**
   * Runs `work` holding the tenant's lock (the one provision, deprovision and reset hold), without waiting:
   * throws a retryable `conflict` when another operation holds it. Without it, repairs take no lock.
   */
  readonly tenantLock?: <T>(username: string, work: () => Promise<T>) => Promise<T>;
}

export interface SyncSettings {
  readonly markerGroup: string;
  /** Names never treated as a tenant's namespace (not repaired, never pruned), whatever their labels. */
  readonly reserved?: ReservedNames;
  readonly plans: ReadonlyMap<string, TenantPlan>;
  /** The plan a recreated namespace gets (its old plan label went with it). */
  readonly defaultPlan: string;
  readonly access: TenantAccessSettings;
  readonly grafanaRole: GrafanaOrgRole;
  /** Prune at most this share of the tenant namespaces in one run unless forced (0..1). */
  readonly pruneMaxShare: number;
  /** Tenants repaired at the same time. */
  readonly concurrency: number;
}

export interface SyncRequest {
  readonly username?: string | undefined;
  readonly dryRun?: boolean | undefined;
  readonly prune?: boolean | undefined;
  readonly force?: boolean | undefined;
  /** With `username`: take the tenant's same-named foreign namespace over (see the module comment). */
  readonly adopt?: boolean | undefined;
}

export interface FixedUser {
  readonly username: string;
  readonly fixed_grafana: boolean;
  readonly fixed_namespace: boolean;
  readonly fixed_membership: boolean;
}

export interface OrphansReport {
  readonly namespaces: readonly string[];
  readonly grafana_users: readonly string[];
}

/**
 * The sync answer: `message` and `results.total_users/fixed_users/failed_fixes` as docs/compatibility.md
 * keeps them, and more.
 */
export interface SyncReport {
  readonly message: string;
  readonly dryRun?: true;
  /** The run stopped at a safe point (its signal): the repairs and prunes it did not start. */
  readonly stopped?: { readonly not_started: readonly string[] };
  readonly results: {
    readonly total_users: number;
    readonly fixed_users: readonly FixedUser[];
    readonly failed_fixes: readonly { readonly username: string; readonly error: string }[];
    readonly orphans: OrphansReport;
    /** Dry run: what a real run would repair. */
    readonly would_fix?: readonly FixedUser[];
    readonly would_prune?: OrphansReport;
    readonly pruned?: OrphansReport;
    /** Objects under a tenant's name the product did not make: nothing was done with them. */
    readonly not_owned: readonly NotOwned[];
    /** Namespaces taken over with `adopt` (or, in a dry run, that would be). */
    readonly adopted?: readonly string[];
    /** Baseline objects of existing tenant namespaces created or replaced because they drifted. */
    readonly baseline_repaired: readonly BaselineDrift[];
    /** Dry run: the baseline objects a real run would create or replace. */
    readonly would_repair_baseline?: readonly BaselineDrift[];
  };
  readonly counts: {
    readonly tenants: number;
    readonly namespaces: number;
    readonly grafana_users: number;
    readonly to_repair: number;
    readonly orphans: number;
    /** Baseline objects found missing or drifted in existing tenant namespaces. */
    readonly baseline_drift: number;
  };
}

async function collect<T>(pages: AsyncIterable<readonly T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const page of pages) all.push(...page);
  return all;
}

const lower = (names: Iterable<string>): string[] => [...names].map((n) => n.toLowerCase());

/** Every system listed once, in pages; then a Keycloak lookup for each stray name only. */
async function planAll(ports: SyncPorts, settings: SyncSettings) {
  const marker = await ports.identity.findGroup(settings.markerGroup);
  const [tenants, namespaces, grafanaUsers] = await Promise.all([
    marker === undefined ? [] : collect(ports.identity.groupMembers(marker)),
    collect(ports.cluster.namespacePages(tenantNamespaceSelector)),
    collect(ports.grafana.searchUsers()),
  ]);
  if (marker === undefined && namespaces.length > 0) {
    throw new PlatformError({
      reason: 'conflict',
      message: `the tenant marker group "${settings.markerGroup}" does not exist in Keycloak but ${namespaces.length} tenant namespaces do; refusing to sync (every tenant would look like an orphan): check KEYCLOAK_TENANT_GROUP and the realm`,
    });
  }
  const inventory: SyncInventory = { tenants, namespaces, grafanaUsers };
  return { inventory, ...(await resolve(inventory, ports, settings.reserved)) };
}

/** One tenant: targeted reads in place of the lists; the same plan functions. */
async function planOne(username: string, adopt: boolean, ports: SyncPorts, settings: SyncSettings) {
  const name = username.toLowerCase();
  const [user, namespace, grafanaUser, marker] = await Promise.all([
    ports.identity.findUserByUsername(name),
    ports.cluster.readNamespace(name),
    ports.grafana.lookupUser(name),
    ports.identity.findGroup(settings.markerGroup),
  ]);
  // A tenant is a member of the marker group and of its own group; missing either is repaired.
  const groups = user === undefined ? [] : await ports.identity.userGroups(user.id);
  const inMarker = user !== undefined && groups.some((g) => g.id === marker);
  const isTenant = inMarker && groups.some((g) => g.name === tenantGroupName(name));
  // Unlike a list by selector, a read by name finds any namespace: only the tenant's own is inventory.
  const namespaceState = namespaceOwnership(name, namespace, settings.reserved);
  const foreign: NotOwned[] = namespaceState.status === 'not_owned' ? [namespaceState.object] : [];
  const adoption =
    adopt && namespace !== undefined && foreign.length > 0 ? adoptable(name, namespace, inMarker) : undefined;
  const inventory: SyncInventory = {
    tenants: isTenant ? [user] : [],
    namespaces: namespace === undefined || namespaceState.status !== 'owned' ? [] : [namespace],
    grafanaUsers: grafanaUser === undefined ? [] : [grafanaUser],
  };
  const planned = await resolve(inventory, ports, settings.reserved, user);
  const refused = [...(adoption === undefined ? foreign : []), ...planned.plan.notOwned];
  if (refused.length > 0) throw notOwnedError('sync', name, refused);
  const known =
    isTenant ||
    planned.plan.repairs.length > 0 ||
    planned.plan.orphans.namespaces.length + planned.plan.orphans.grafanaUsers.length > 0;
  if (!known) {
    throw new PlatformError({
      reason: 'not_found',
      message:
        user === undefined
          ? `no tenant named "${name}": no Keycloak user, tenant namespace or Grafana user made by this product`
          : `"${name}" is a Keycloak user but not a tenant (not in the group "${settings.markerGroup}", no tenant namespace)`,
    });
  }
  return { inventory, adoption, ...planned };
}

/**
 * The namespace `adopt` may take over: the tenant is a marker-group member, and the namespace is no other
 * tenant's (another tenant's labels stay another tenant's, adopt or not).
 */
function adoptable(name: string, namespace: TenantNamespaceState, inMarker: boolean): TenantNamespaceState {
  const labelled = namespace.labels[labels.tenant];
  const owner = namespace.annotations[annotations.ownerTenant];
  const other = [labelled, owner].find((t) => t !== undefined && t !== name);
  if (!inMarker || other !== undefined || namespace.terminating) {
    throw notOwnedError('adopt the namespace of', name, [
      {
        kind: 'Namespace',
        name: namespace.name,
        reason: !inMarker
          ? `"${name}" is not a member of the tenant marker group`
          : other !== undefined
            ? `it belongs to tenant "${other}"`
            : 'it is being deleted',
      },
    ]);
  }
  return namespace;
}

async function resolve(
  inventory: SyncInventory,
  ports: SyncPorts,
  reserved: ReservedNames | undefined,
  knownUser?: TenantIdentity,
) {
  const diff = diffInventory(inventory, reserved);
  const product = await ports.productLogins(lower(diff.strayGrafanaUsers.map((g) => g.login)));
  const found = new Map<string, TenantIdentity | undefined>();
  const limit = pLimit(8);
  await Promise.all(
    namesToLookUp(diff, product).map((name) =>
      limit(async () => {
        found.set(
          name,
          knownUser?.username.toLowerCase() === name
            ? knownUser
            : await ports.identity.findUserByUsername(name),
        );
      }),
    ),
  );
  return { plan: completePlan(inventory, diff, found, product), owned: [...diff.owned.values()] };
}

const message = (error: unknown): string => toPlatformError(error).message;

const isConflict = (error: unknown): boolean => error instanceof PlatformError && error.reason === 'conflict';

async function createIgnoringExisting(ports: SyncPorts, object: KubernetesObject): Promise<void> {
  try {
    await ports.cluster.create(object);
  } catch (error) {
    // Created meanwhile (a concurrent sync or provision): it is there, which is what was wanted.
    if (!isConflict(error)) throw error;
  }
}

/**
 * Creates the tenant's namespace. One that exists already is fine only when it is the tenant's (a concurrent
 * provision or sync made it); any other is a 409 not_owned, and nothing is created in it.
 */
async function createTenantNamespace(ports: SyncPorts, username: string, object: KubernetesObject) {
  try {
    await ports.cluster.create(object);
  } catch (error) {
    if (!isConflict(error)) throw error;
    const ownership = namespaceOwnership(username, await ports.cluster.readNamespace(username));
    if (ownership.status === 'not_owned') throw notOwnedError('sync', username, [ownership.object]);
  }
}

class Repairer {
  private markerId: Promise<string> | undefined;
  private readonly ports: SyncPorts;
  private readonly settings: SyncSettings;
  private readonly now: Date;

  constructor(ports: SyncPorts, settings: SyncSettings, now: Date) {
    this.ports = ports;
    this.settings = settings;
    this.now = now;
  }

  private plan(): TenantPlan {
    const plan = this.settings.plans.get(this.settings.defaultPlan);
    if (plan === undefined)
      throw new Error(`the default plan "${this.settings.defaultPlan}" is not configured`);
    return plan;
  }

  async membership(r: TenantRepair): Promise<void> {
    const { identity } = this.ports;
    this.markerId ??= identity.ensureGroup(this.settings.markerGroup);
    const marker = await this.markerId;
    const group = await identity.ensureGroup(tenantGroupName(r.username), marker);
    // Both adds are idempotent (PUT): a membership that exists stays as it is.
    await identity.addToGroup(r.userId, marker);
    await identity.addToGroup(r.userId, group);
  }

  async namespace(r: TenantRepair, adoption?: TenantNamespaceState): Promise<void> {
    if (r.namespace === 'terminating') {
      throw new Error(`namespace ${r.username} is being deleted; sync again once it is gone`);
    }
    const objects = renderTenantObjects(
      {
        username: r.username,
        ...(r.email === undefined ? {} : { ownerEmail: r.email }),
        contactEmail: r.email ?? placeholderEmail(r.username),
        plan: this.plan(),
        createdAt: this.now,
      },
      this.settings.access,
    );
    const [namespace, ...inside] = objects;
    if (namespace === undefined) return;
    if (adoption === undefined) {
      // The namespace first: everything else lives in it, and only in the tenant's own.
      await createTenantNamespace(this.ports, r.username, namespace);
    } else {
      await this.ports.cluster.labelNamespace(
        { name: adoption.name, resourceVersion: adoption.resourceVersion ?? '' },
        {
          labels: { ...namespace.metadata.labels },
          annotations: { ...namespace.metadata.annotations },
        },
      );
    }
    for (const object of inside) await createIgnoringExisting(this.ports, object);
  }

  async grafana(r: TenantRepair): Promise<void> {
    const id = await this.ports.grafana.createUser({
      login: r.username,
      email: r.email ?? placeholderEmail(r.username),
      name: r.username,
      // Random and discarded: never predictable, never logged or returned (see the module comment).
      password: generatePassword(),
    });
    await this.ports.grafana.setOrgRole(id, r.username, this.settings.grafanaRole);
  }

  /** Repairs every part of one tenant independently; a failing part does not stop the others. */
  async repair(
    r: TenantRepair,
    adoption?: TenantNamespaceState,
  ): Promise<{ fixed: FixedUser; errors: string[]; notOwned: NotOwned[] }> {
    const errors: string[] = [];
    const notOwned: NotOwned[] = [];
    const attempt = async (part: string, needed: boolean, fn: () => Promise<void>): Promise<boolean> => {
      if (!needed) return false;
      try {
        await fn();
        return true;
      } catch (error) {
        errors.push(`${part}: ${message(error)}`);
        if (error instanceof PlatformError && error.reason === 'not_owned') {
          const objects = (error.extensions?.notOwned ?? []) as NotOwned[];
          notOwned.push(...objects);
        }
        return false;
      }
    };
    // Membership first, so a recreated namespace's group binding refers to a group the tenant is in.
    const fixedMembership = await attempt('membership', r.membership, () => this.membership(r));
    const [fixedNamespace, fixedGrafana] = await Promise.all([
      attempt('namespace', r.namespace !== 'ok', () => this.namespace(r, adoption)),
      attempt('grafana', r.grafana !== 'ok', () => this.grafana(r)),
    ]);
    return {
      fixed: {
        username: r.username,
        fixed_grafana: fixedGrafana,
        fixed_namespace: fixedNamespace,
        fixed_membership: fixedMembership,
      },
      errors,
      notOwned,
    };
  }
}

const wouldFix = (r: TenantRepair): FixedUser => ({
  username: r.username,
  fixed_grafana: r.grafana !== 'ok',
  fixed_namespace: r.namespace !== 'ok',
  fixed_membership: r.membership,
});

function orphansReport(plan: SyncPlan): OrphansReport {
  return {
    namespaces: plan.orphans.namespaces,
    grafana_users: plan.orphans.grafanaUsers.map((g) => g.login),
  };
}

type RepairOutcome = Awaited<ReturnType<Repairer['repair']>>;

const noRepair = (username: string, errors: string[] = [], notOwned: NotOwned[] = []): RepairOutcome => ({
  fixed: { username, fixed_grafana: false, fixed_namespace: false, fixed_membership: false },
  errors,
  notOwned,
});

/**
 * One tenant's repair in a sweep, under the tenant's lock: a provision or deprovision in flight holds it, and
 * repairing its half-made tenant would race it (a Grafana user created under a running provision makes that
 * provision fail). A held lock skips the tenant (the next run repairs what is still drifted); once the lock
 * is ours the tenant is read again, so what a concurrent operation finished or removed is left alone.
 */
async function repairLocked(
  username: string,
  ports: SyncPorts,
  settings: SyncSettings,
  repairer: Repairer,
  tenantLock: NonNullable<SyncPorts['tenantLock']>,
): Promise<RepairOutcome> {
  try {
    return await tenantLock(username, async () => {
      const fresh = await planOne(username, false, ports, settings).catch((error: unknown) => {
        // Deprovisioned meanwhile: nothing of it is left to repair.
        if (isNotFound(error)) return undefined;
        throw error;
      });
      const repair = fresh?.plan.repairs.find((r) => r.username === username);
      return repair === undefined ? noRepair(username) : await repairer.repair(repair, undefined);
    });
  } catch (error) {
    const problem = toPlatformError(error);
    if (problem.reason === 'not_owned') {
      const objects = problem.extensions?.notOwned;
      return noRepair(username, [], Array.isArray(objects) ? (objects as NotOwned[]) : []);
    }
    if (problem.reason === 'conflict' && problem.retryable)
      return noRepair(username, [
        'not repaired: another operation on this tenant was running; the next run repairs what is still drifted',
      ]);
    return noRepair(username, [problem.message]);
  }
}

/**
 * The baseline repairs of the owned namespaces that are not being deleted: one list per kind (in every
 * namespace for a sweep, in the tenant's for one `username`), the four kinds at once, each page compared as
 * it arrives (BaselineComparison keeps only what drifted).
 */
async function planBaseline(
  ports: SyncPorts,
  settings: SyncSettings,
  owned: readonly TenantNamespaceState[],
  namespace: string | undefined,
): Promise<BaselineRepair[]> {
  const live = owned.filter((n) => !n.terminating);
  if (live.length === 0) return [];
  const comparison = new BaselineComparison(
    live,
    settings,
    settings.plans.get(settings.defaultPlan) ?? builtInDefaultPlan,
  );
  await Promise.all(
    baselineKinds.map(async (kind) => {
      for await (const page of ports.cluster.objectPages(kind, baselineSelector, namespace))
        for (const item of page) comparison.add(item);
    }),
  );
  return comparison.repairs();
}

/**
 * Applies one baseline repair: create a missing object, replace a drifted one (its uid and resourceVersion as
 * preconditions), delete and create a RoleBinding whose roleRef changed. A create that meets an object of
 * that name (one without the baseline label, so the list did not show it) compares it and repairs it in
 * turn. 'gone' when the object or its namespace went meanwhile: nothing is left to repair.
 */
async function applyBaselineRepair(ports: SyncPorts, repair: BaselineRepair): Promise<'repaired' | 'gone'> {
  const { cluster } = ports;
  try {
    if (repair.action === 'update') {
      await cluster.replace(replacement(repair));
      return 'repaired';
    }
    if (repair.action === 'recreate') {
      await cluster.deleteObject(repair.desired, repair.stored?.metadata.uid ?? '');
    }
    try {
      await cluster.create(repair.desired);
      return 'repaired';
    } catch (error) {
      if (!isConflict(error)) throw error;
      const read = await cluster.read(repair.desired);
      const existing = read === undefined ? undefined : storedShape(read);
      if (existing === undefined) throw error;
      const next = baselineRepair(repair.desired, existing);
      if (next === undefined) return 'repaired';
      if (next.action === 'recreate') {
        await cluster.deleteObject(next.desired, existing.metadata.uid ?? '');
        await cluster.create(next.desired);
      } else await cluster.replace(replacement(next));
      return 'repaired';
    }
  } catch (error) {
    if (isNotFound(error)) return 'gone';
    throw error;
  }
}

interface BaselineOutcome {
  readonly repaired: BaselineDrift[];
  readonly errors: string[];
}

/** One tenant's baseline repairs, one after the other; a failing object does not stop the others. */
async function applyBaseline(ports: SyncPorts, repairs: readonly BaselineRepair[]): Promise<BaselineOutcome> {
  const repaired: BaselineDrift[] = [];
  const errors: string[] = [];
  for (const repair of repairs) {
    try {
      if ((await applyBaselineRepair(ports, repair)) === 'repaired') repaired.push(driftReport(repair));
    } catch (error) {
      errors.push(`baseline ${repair.kind} ${repair.name}: ${message(error)}`);
    }
  }
  return { repaired, errors };
}

/** A sweep repairs a tenant's baseline under its lock (see repairLocked); a held lock skips it this run. */
async function applyBaselineLocked(
  tenant: string,
  ports: SyncPorts,
  repairs: readonly BaselineRepair[],
): Promise<BaselineOutcome> {
  if (ports.tenantLock === undefined) return applyBaseline(ports, repairs);
  try {
    return await ports.tenantLock(tenant, () => applyBaseline(ports, repairs));
  } catch (error) {
    const problem = toPlatformError(error);
    return {
      repaired: [],
      errors: [
        problem.reason === 'conflict' && problem.retryable
          ? 'baseline not repaired: another operation on this tenant was running; the next run repairs what is still drifted'
          : `baseline: ${problem.message}`,
      ],
    };
  }
}

function byTenant(repairs: readonly BaselineRepair[]): Map<string, BaselineRepair[]> {
  const groups = new Map<string, BaselineRepair[]>();
  for (const r of repairs) {
    const group = groups.get(r.tenant);
    if (group === undefined) groups.set(r.tenant, [r]);
    else group.push(r);
  }
  return groups;
}

/**
 * `signal` stops the run at its next safe point: between tenants (one tenant's repair, its namespace with
 * its objects, its Grafana user and its membership, runs to its end once started) and between pruned
 * orphans. The answer then names what was not started (`not_started`) and the record is partial. Sync has no
 * continuation of its own: the next run (hourly schedule, or the caller's retry) plans again from what the
 * systems hold then, so it repairs exactly what is still drifted, this run's leftovers included.
 */
export async function sync(
  request: SyncRequest,
  settings: SyncSettings,
  ports: SyncPorts,
  now = new Date(),
  signal?: AbortSignal,
): Promise<SyncReport> {
  if (request.adopt === true && request.username === undefined) {
    throw new PlatformError({
      reason: 'validation',
      message: 'adopt needs a username: a namespace is adopted for one tenant at a time',
    });
  }
  const planned =
    request.username === undefined
      ? { ...(await planAll(ports, settings)), adoption: undefined }
      : await planOne(request.username, request.adopt === true, ports, settings);
  const { inventory, plan } = planned;
  // An orphan namespace that prune deletes in this run needs no repair.
  const pruning = new Set(request.prune === true ? plan.orphans.namespaces : []);
  const baseline = await planBaseline(
    ports,
    settings,
    planned.owned.filter((n) => !pruning.has(n.name)),
    request.username?.toLowerCase(),
  );
  const candidate = planned.adoption;
  const adoption =
    candidate !== undefined &&
    plan.repairs.some((r) => r.username === candidate.name && r.namespace === 'create')
      ? candidate
      : undefined;
  const adopted = adoption === undefined ? {} : { adopted: [adoption.name] };
  const notOwned = [...plan.notOwned];
  const scope = request.username === undefined ? 'all users' : `user ${request.username.toLowerCase()}`;
  const counts = {
    tenants: plan.totalTenants,
    namespaces: inventory.namespaces.length,
    grafana_users: inventory.grafanaUsers.length,
    to_repair: plan.repairs.length,
    orphans: plan.orphans.namespaces.length + plan.orphans.grafanaUsers.length,
    baseline_drift: baseline.length,
  };
  if (request.dryRun === true) {
    return {
      message: `Dry run of sync for ${scope}: nothing was changed`,
      dryRun: true,
      results: {
        total_users: plan.totalTenants,
        fixed_users: [],
        failed_fixes: [],
        would_fix: plan.repairs.map(wouldFix),
        orphans: orphansReport(plan),
        ...(request.prune === true ? { would_prune: orphansReport(plan) } : {}),
        not_owned: notOwned,
        ...adopted,
        baseline_repaired: [],
        would_repair_baseline: baseline.map(driftReport),
      },
      counts,
    };
  }
  if (request.prune === true && request.force !== true) {
    if (pruneNeedsForce(plan, inventory.namespaces.length, settings.pruneMaxShare)) {
      throw new PlatformError({
        reason: 'conflict',
        message: `refusing to prune ${plan.orphans.namespaces.length} namespaces and ${plan.orphans.grafanaUsers.length} Grafana users of ${inventory.namespaces.length} tenant namespaces in one run (more than ${Math.round(settings.pruneMaxShare * 100)}%); check the marker group and realm, or send force: true`,
        extensions: { orphans: orphansReport(plan) },
      });
    }
  }

  const repairer = new Repairer(ports, settings, now);
  const limit = pLimit(settings.concurrency);
  const fixed: FixedUser[] = [];
  const failed: { username: string; error: string }[] = [];
  const notStarted: string[] = [];
  await Promise.all(
    plan.repairs.map((r) =>
      limit(async () => {
        if (signal?.aborted === true) {
          notStarted.push(r.username);
          return;
        }
        const outcome =
          ports.tenantLock === undefined || request.username !== undefined
            ? await repairer.repair(r, r.username === adoption?.name ? adoption : undefined)
            : await repairLocked(r.username, ports, settings, repairer, ports.tenantLock);
        notOwned.push(...outcome.notOwned);
        const f = outcome.fixed;
        if (f.fixed_grafana || f.fixed_namespace || f.fixed_membership) fixed.push(f);
        if (outcome.errors.length > 0)
          failed.push({ username: r.username, error: outcome.errors.join('; ') });
      }),
    ),
  );

  const baselineRepaired: BaselineDrift[] = [];
  await Promise.all(
    [...byTenant(baseline)].map(([tenant, repairs]) =>
      limit(async () => {
        if (signal?.aborted === true) {
          notStarted.push(`baseline ${tenant}`);
          return;
        }
        const outcome =
          request.username === undefined
            ? await applyBaselineLocked(tenant, ports, repairs)
            : await applyBaseline(ports, repairs);
        baselineRepaired.push(...outcome.repaired);
        if (outcome.errors.length > 0) failed.push({ username: tenant, error: outcome.errors.join('; ') });
      }),
    ),
  );

  const pruned = { namespaces: [] as string[], grafana_users: [] as string[] };
  // Only the namespace that was listed is deleted, never one made since under the same name.
  const uids = new Map(inventory.namespaces.map((n) => [n.name, n.uid]));
  if (request.prune === true) {
    await Promise.all([
      ...plan.orphans.namespaces.map((name) =>
        limit(async () => {
          if (signal?.aborted === true) {
            notStarted.push(`prune namespace ${name}`);
            return;
          }
          try {
            await ports.cluster.deleteNamespace(name, uids.get(name));
            pruned.namespaces.push(name);
          } catch (error) {
            failed.push({ username: name, error: `prune namespace: ${message(error)}` });
          }
        }),
      ),
      ...plan.orphans.grafanaUsers.map((g) =>
        limit(async () => {
          if (signal?.aborted === true) {
            notStarted.push(`prune Grafana user ${g.login}`);
            return;
          }
          try {
            await ports.grafana.deleteUser(g.id);
            pruned.grafana_users.push(g.login);
          } catch (error) {
            failed.push({ username: g.login, error: `prune Grafana user: ${message(error)}` });
          }
        }),
      ),
    ]);
  }
  const byName = (a: { username: string }, b: { username: string }) => a.username.localeCompare(b.username);
  return {
    message:
      notStarted.length === 0
        ? `Sync completed for ${scope}`
        : `Sync for ${scope} stopped early: ${notStarted.length} repairs or prunes were not started; the next run does them`,
    ...(notStarted.length === 0 ? {} : { stopped: { not_started: notStarted.sort() } }),
    results: {
      total_users: plan.totalTenants,
      fixed_users: fixed.sort(byName),
      failed_fixes: failed.sort(byName),
      orphans: orphansReport(plan),
      ...(request.prune === true
        ? { pruned: { namespaces: pruned.namespaces.sort(), grafana_users: pruned.grafana_users.sort() } }
        : {}),
      not_owned: notOwned,
      ...adopted,
      baseline_repaired: baselineRepaired.sort(byTenantKindName),
    },
    counts,
  };
}
