/**
 * The plan: a pure function from the desired state, the Secrets' versions, what the password check found
 * and the actual catalog state to the ordered list of changes. Order: roles are created before they are
 * granted; users are created or altered, then their memberships, CONNECT and table privileges follow;
 * drops come last. Only roles carrying this reconciler's marker are altered or dropped; system roles,
 * roles made by hand and roles of another reconciler's scope are never touched.
 */
import type { ActualRole, ActualState } from './catalog.ts';
import { tableKey } from './catalog.ts';
import type { DesiredState, DesiredUser, TablePrivilege, UserAttributes } from './desired.ts';
import { PlatformError } from '../platform/errors.ts';
import { FORBIDDEN_GRANTS, SYSTEM_ROLES } from './names.ts';

/** Attributes that differ: login (a managed group role that became a user), createdb, inherit, limit. */
export type AttributeChanges = Partial<UserAttributes> & { readonly login?: boolean };

export type PasswordState = 'current' | 'refresh-marker' | 'changed';

export type Step =
  | { readonly op: 'create-role'; readonly role: string }
  | {
      readonly op: 'create-user';
      readonly user: string;
      readonly attributes: UserAttributes;
      readonly secret: string;
      readonly secretVersion: string;
    }
  | { readonly op: 'alter-user'; readonly user: string; readonly changes: AttributeChanges }
  | {
      readonly op: 'set-password';
      readonly user: string;
      readonly secret: string;
      readonly secretVersion: string;
    }
  /** The password is already right; the marker records the Secret's new version (and the verifier's salt). */
  | {
      readonly op: 'refresh-marker';
      readonly user: string;
      readonly secretVersion: string;
      readonly salt?: string;
    }
  | { readonly op: 'grant-roles'; readonly user: string; readonly roles: readonly string[] }
  | { readonly op: 'revoke-roles'; readonly user: string; readonly roles: readonly string[] }
  | { readonly op: 'grant-connect'; readonly user: string; readonly database: string }
  | { readonly op: 'revoke-connect'; readonly user: string; readonly database: string }
  | {
      readonly op: 'grant-privileges' | 'revoke-privileges';
      readonly user: string;
      readonly schema: string;
      readonly table: string;
      readonly privileges: readonly TablePrivilege[];
    }
  | {
      readonly op: 'drop-user';
      readonly user: string;
      /** Where REASSIGN OWNED and DROP OWNED run: where it owns objects, and the connected database. */
      readonly databases: readonly string[];
      readonly fallback: string;
    };

export interface Skipped {
  readonly username: string;
  readonly reason:
    'missing_secret' | 'unmanaged' | 'missing_database' | 'missing_role' | 'unsafe_role' | 'invalid_entry';
  readonly message: string;
}

export interface PlanSummary {
  readonly users_created: number;
  readonly users_updated: number;
  readonly users_deleted: number;
  readonly roles_created: number;
  readonly roles_deleted: number;
  readonly passwords_rotated: number;
  readonly drift_detected: number;
  readonly errors: number;
}

export interface Plan {
  readonly steps: readonly Step[];
  readonly skipped: readonly Skipped[];
  /** Problems that did not stop a user (a declared table that does not exist, ...). */
  readonly problems: readonly { readonly username: string; readonly message: string }[];
  /** Drops held back by the safety bound (not forced). */
  readonly refusedDrops?: { readonly users: readonly string[]; readonly message: string };
  readonly summary: PlanSummary;
  /** Managed users and roles of this scope after the plan (for metrics). */
  readonly managed: { readonly users: number; readonly roles: number };
}

export interface PlanOptions {
  readonly scope: string;
  /** REASSIGN OWNED target of dropped users; default: the connected user. */
  readonly fallbackRole?: string;
  /** Share (0..1) of this scope's managed users one run may drop unless forced. */
  readonly maxDropShare: number;
  readonly force: boolean;
}

/**
 * The lookups the plan needs per desired user, aligned with `desired.users`: the user's role (as read by
 * the roles query), its Secret's version and the password state. At 10,000 users the lookups are most of
 * a no-op run's planning; the reconcile makes them once (passwords.ts, triagePasswords) and hands them in.
 */
export interface ResolvedUsers {
  readonly roles: readonly (ActualRole | undefined)[];
  readonly versions: readonly (string | undefined)[];
  readonly passwords: readonly (PasswordState | undefined)[];
}

export type PlanInput = {
  readonly desired: DesiredState;
  readonly actual: ActualState;
} & (
  | {
      /** secretName -> version (uid/resourceVersion) of the Secrets that hold a password. */
      readonly secrets: ReadonlyMap<string, string>;
      /** For existing managed login users: is the stored password the Secret's? */
      readonly passwords: ReadonlyMap<string, PasswordState>;
      readonly resolved?: undefined;
    }
  | { readonly resolved: ResolvedUsers; readonly secrets?: undefined; readonly passwords?: undefined }
);

function resolve(input: PlanInput): ResolvedUsers {
  if (input.resolved !== undefined) return input.resolved;
  const { desired, actual, secrets, passwords } = input;
  return {
    roles: desired.users.map((u) => actual.roles.get(u.username)),
    versions: desired.users.map((u) => secrets.get(u.secretName)),
    passwords: desired.users.map((u) => passwords.get(u.username)),
  };
}

/** Whether the role is a user this reconciler's scope manages. */
function isManagedUser(role: ActualRole | undefined, scope: string): role is ActualRole {
  return role?.marker !== undefined && role.marker.scope === scope && role.marker.kind === 'user';
}

/** How many managed users and group roles of this scope there are (forEach: no iterator result per role). */
function countManaged(
  roles: ReadonlyMap<string, ActualRole>,
  scope: string,
): { users: number; roles: number } {
  const count = { users: 0, roles: 0 };
  roles.forEach((role) => {
    if (role.marker === undefined || role.marker.scope !== scope) return;
    if (role.marker.kind === 'user') count.users++;
    else count.roles++;
  });
  return count;
}

/**
 * The managed users of this scope whose names are not in `listed`. `listedManaged` is how many of the
 * listed names (distinct) are managed users of this scope: when that is all of the `managedUsers`,
 * nobody is unlisted and the names need not be collected into a set (the no-op run at 10,000 users).
 */
function unlisted(
  roles: ReadonlyMap<string, ActualRole>,
  scope: string,
  managedUsers: number,
  listedManaged: number,
  listed: () => ReadonlySet<string>,
): string[] {
  if (managedUsers === listedManaged) return [];
  const names = listed();
  const out: string[] = [];
  roles.forEach((role) => {
    if (isManagedUser(role, scope) && !names.has(role.name)) out.push(role.name);
  });
  return out;
}

const listedNames = (desired: DesiredState) => () =>
  new Set([...desired.users.map((u) => u.username), ...desired.protectedNames]);

/**
 * Managed users of this scope that the ConfigMap no longer names: the possible drops. `userRoles`, when
 * given, is each desired user's role already looked up (aligned with desired.users).
 */
export function unlistedManagedUsers(
  desired: DesiredState,
  roles: ReadonlyMap<string, ActualRole>,
  scope: string,
  userRoles?: readonly (ActualRole | undefined)[],
): string[] {
  let listedManaged = 0;
  if (userRoles === undefined) {
    for (const user of desired.users) if (isManagedUser(roles.get(user.username), scope)) listedManaged++;
  } else for (let i = 0; i < userRoles.length; i++) if (isManagedUser(userRoles[i], scope)) listedManaged++;
  for (const name of desired.protectedNames) if (isManagedUser(roles.get(name), scope)) listedManaged++;
  return unlisted(roles, scope, countManaged(roles, scope).users, listedManaged, listedNames(desired));
}

export function isManaged(role: ActualRole | undefined, scope: string): boolean {
  return role?.marker !== undefined && role.marker.scope === scope;
}

/** How many managed users one run may drop: the share, but at least one. */
export function dropAllowance(managedUsers: number, maxShare: number): number {
  return Math.max(1, Math.floor(maxShare * managedUsers));
}

/** The attributes that differ, or undefined when none does. */
function attributeChanges(role: ActualRole, want: UserAttributes): AttributeChanges | undefined {
  if (
    role.login &&
    role.createdb === want.createdb &&
    role.inherit === want.inherit &&
    role.connectionLimit === want.connectionLimit
  )
    return undefined;
  const changes: { -readonly [K in keyof AttributeChanges]: AttributeChanges[K] } = {};
  if (!role.login) changes.login = true;
  if (role.createdb !== want.createdb) changes.createdb = want.createdb;
  if (role.inherit !== want.inherit) changes.inherit = want.inherit;
  if (role.connectionLimit !== want.connectionLimit) changes.connectionLimit = want.connectionLimit;
  return changes;
}

/** Whether two sorted lists hold the same names. */
function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function privilegeSteps(user: DesiredUser, input: PlanInput, problems: Plan['problems'][number][]): Step[] {
  if (user.privileges === undefined) return [];
  const steps: Step[] = [];
  const held = input.actual.tablePrivileges.get(user.username) ?? new Map<string, Set<TablePrivilege>>();
  const declared = new Set<string>();
  for (const grant of user.privileges) {
    const key = tableKey(grant.schema, grant.table);
    declared.add(key);
    if (!input.actual.existingTables.has(key)) {
      problems.push({
        username: user.username,
        message: `table ${grant.schema}.${grant.table} does not exist in database ${input.actual.currentDatabase}; its privileges were not granted`,
      });
      continue;
    }
    const has = held.get(key) ?? new Set<TablePrivilege>();
    const missing = grant.privileges.filter((p) => !has.has(p));
    const extra = [...has].filter((p) => !grant.privileges.includes(p)).sort();
    const where = { user: user.username, schema: grant.schema, table: grant.table };
    if (missing.length > 0) steps.push({ op: 'grant-privileges', ...where, privileges: missing });
    if (extra.length > 0) steps.push({ op: 'revoke-privileges', ...where, privileges: extra });
  }
  for (const [key, has] of held) {
    if (declared.has(key) || has.size === 0) continue;
    const [schema, table] = JSON.parse(key) as [string, string];
    steps.push({ op: 'revoke-privileges', user: user.username, schema, table, privileges: [...has].sort() });
  }
  return steps;
}

/** Users exist before anything is granted to or revoked from them (a user may be another user's role). */
const PHASE: Readonly<Record<Step['op'], number>> = {
  'create-role': 0,
  'create-user': 1,
  'alter-user': 1,
  'set-password': 1,
  'refresh-marker': 1,
  'revoke-roles': 2,
  'grant-roles': 2,
  // CONNECT steps together, so that they become one statement per database (sql.ts planSql).
  'grant-connect': 3,
  'revoke-connect': 3,
  'grant-privileges': 4,
  'revoke-privileges': 4,
  'drop-user': 5,
};

function inPhases(steps: readonly Step[]): Step[] {
  return steps
    .map((step, i) => ({ step, i }))
    .sort((a, b) => PHASE[a.step.op] - PHASE[b.step.op] || a.i - b.i)
    .map((x) => x.step);
}

/** The roles granted to any desired user, kept with the (cached, unchanged) desired state. */
const grantedOf = new WeakMap<DesiredState, ReadonlySet<string>>();
function grantedRoles(desired: DesiredState): ReadonlySet<string> {
  let roles = grantedOf.get(desired);
  if (roles === undefined) {
    roles = new Set(desired.users.flatMap((u) => u.roles));
    grantedOf.set(desired, roles);
  }
  return roles;
}

/** What makes a role unsafe to hand out by itself: its attributes, or being a forbidden built-in. */
function unsafeAttribute(name: string, role: ActualRole | undefined): string | undefined {
  if (FORBIDDEN_GRANTS.has(name))
    return "is a built-in role that reads the server's files or every password verifier, or runs programs";
  if (role === undefined) return undefined;
  if (role.superuser) return 'has SUPERUSER';
  if (role.elevated) return 'has CREATEROLE, REPLICATION or BYPASSRLS';
  return undefined;
}

/**
 * Why granting `name` would hand out superuser or similar rights, directly or through the roles it is a
 * member of, transitively (a member may SET ROLE to any of them, inherited or not), or undefined when it
 * would not. A breadth-first walk up the memberships: each role at most once, cycles included.
 */
export function escalationOf(name: string, roles: ReadonlyMap<string, ActualRole>): string | undefined {
  const via = new Map<string, string | undefined>([[name, undefined]]);
  const queue = [name];
  for (let next = 0; next < queue.length; next++) {
    const current = queue[next] as string;
    const role = roles.get(current);
    const why = unsafeAttribute(current, role);
    if (why !== undefined) {
      const path = [current];
      for (let step = via.get(current); step !== undefined; step = via.get(step)) path.unshift(step);
      return `${path.join(' -> ')}: ${current} ${why}`;
    }
    for (const parent of role?.memberOf ?? [])
      if (!via.has(parent)) {
        via.set(parent, current);
        queue.push(parent);
      }
  }
  return undefined;
}

export function planReconcile(input: PlanInput, options: PlanOptions): Plan {
  const { desired, actual } = input;
  const { scope } = options;
  const lookedUp = resolve(input);
  const skipped: Skipped[] = [];
  const problems: { username: string; message: string }[] = [];
  const roleSteps: Step[] = [];
  const userSteps: Step[] = [];
  const fallback = options.fallbackRole ?? actual.currentUser;
  let created = 0;
  let updated = 0;
  let rotated = 0;

  for (const p of desired.problems) {
    if (p.username !== undefined)
      skipped.push({ username: p.username, reason: 'invalid_entry', message: p.message });
  }

  // Which users can be worked on at all (indexes into desired.users).
  const workable: number[] = [];
  /** Per granted role: 2 a built-in (pg_) role that does not exist, 0 fine. */
  const verdicts = new Map<string, 0 | 2>();
  const allGranted = grantedRoles(desired);
  // One walk up the memberships per distinct granted role, not per user.
  for (const name of allGranted) {
    const g = actual.roles.get(name);
    const escalation = escalationOf(name, actual.roles);
    // Whoever edits the ConfigMap must not get superuser through it: the whole run is refused.
    if (escalation !== undefined)
      throw new PlatformError({
        reason: 'bad_request',
        message: `ConfigMap grants ${name}, which would hand out superuser or similar rights (${escalation}); the run was refused and nothing was changed`,
        retryable: false,
      });
    verdicts.set(name, g === undefined && name.startsWith('pg_') ? 2 : 0);
  }
  // Mostly every granted role is fine: then no user's roles need looking at.
  const anyRefused = [...verdicts.values()].some((v) => v !== 0);
  let listedManaged = 0;
  for (let i = 0; i < desired.users.length; i++) {
    const user = desired.users[i] as DesiredUser;
    const role = lookedUp.roles[i];
    if (isManagedUser(role, scope)) listedManaged++;
    const secretVersion = lookedUp.versions[i];
    let reason: Skipped['reason'] | undefined;
    let message = '';
    if (user.username === actual.currentUser || user.username === fallback) {
      reason = 'unmanaged';
      message = `${user.username} is the reconciler's own or fallback role and is never managed`;
    } else if (role !== undefined && !isManaged(role, scope)) {
      reason = 'unmanaged';
      message =
        role.marker === undefined
          ? `role ${user.username} exists and is not managed by pg-reconcile; it is left unchanged`
          : `role ${user.username} is managed by another reconciler (${role.marker.scope}); it is left unchanged`;
    } else if (role !== undefined && (role.superuser || role.elevated)) {
      reason = 'unsafe_role';
      message = `role ${user.username} was given superuser or similar rights by hand; it is left unchanged`;
    } else if (!actual.databases.has(user.database)) {
      reason = 'missing_database';
      message = `database ${user.database} does not exist`;
    } else if (secretVersion === undefined) {
      reason = 'missing_secret';
      message = `Secret ${user.secretName} (key password) not found`;
    } else {
      let missing: string | undefined;
      // Indexed loops in the per-user paths: for-of allocated an iterator (and results) per user.
      for (let k = 0; anyRefused && k < user.roles.length; k++) {
        const r = user.roles[k] as string;
        if (verdicts.get(r) === 2) missing ??= r;
      }
      if (missing !== undefined) {
        reason = 'missing_role';
        message = `built-in role ${missing} does not exist`;
      } else workable.push(i);
    }
    if (reason !== undefined) skipped.push({ username: user.username, reason, message });
  }
  for (const name of desired.protectedNames)
    if (isManagedUser(actual.roles.get(name), scope)) listedManaged++;

  // Group roles first: everything granted must exist.
  const creatingUsers = new Set<string>();
  // The roles granted to workable users: those of every user when all are workable (the usual case).
  const everyone = workable.length === desired.users.length;
  const needed: ReadonlySet<string> = everyone ? allGranted : new Set<string>();
  for (let w = 0; w < workable.length; w++) {
    const i = workable[w] as number;
    const user = desired.users[i] as DesiredUser;
    if (lookedUp.roles[i] === undefined) creatingUsers.add(user.username);
    if (!everyone)
      for (let k = 0; k < user.roles.length; k++) (needed as Set<string>).add(user.roles[k] as string);
  }
  const neededRoles = [...needed].sort();
  for (const role of neededRoles) {
    if (actual.roles.has(role) || creatingUsers.has(role) || SYSTEM_ROLES.has(role)) continue;
    roleSteps.push({ op: 'create-role', role });
  }

  for (let w = 0; w < workable.length; w++) {
    const i = workable[w] as number;
    const user = desired.users[i] as DesiredUser;
    const role = lookedUp.roles[i];
    const secretVersion = lookedUp.versions[i] ?? '';
    if (role === undefined) {
      userSteps.push({
        op: 'create-user',
        user: user.username,
        attributes: user.attributes,
        secret: user.secretName,
        secretVersion,
      });
      if (user.roles.length > 0)
        userSteps.push({ op: 'grant-roles', user: user.username, roles: user.roles });
      userSteps.push({ op: 'grant-connect', user: user.username, database: user.database });
      if (user.privileges !== undefined) userSteps.push(...privilegeSteps(user, input, problems));
      created++;
      continue;
    }
    const before = userSteps.length;
    let refreshed = false;
    const changes = attributeChanges(role, user.attributes);
    if (changes !== undefined) userSteps.push({ op: 'alter-user', user: user.username, changes });
    const password = role.marker?.kind === 'role' ? 'changed' : (lookedUp.passwords[i] ?? 'changed');
    if (password === 'changed') {
      userSteps.push({ op: 'set-password', user: user.username, secret: user.secretName, secretVersion });
      rotated++;
    } else if (password === 'refresh-marker') {
      userSteps.push({
        op: 'refresh-marker',
        user: user.username,
        secretVersion,
        ...(role.salt == null || !actual.passwordsReadable ? {} : { salt: role.salt }),
      });
      refreshed = true;
    }
    if (!sameList(role.memberOf, user.roles)) {
      const revoke = role.memberOf.filter((r) => !user.roles.includes(r));
      const grant = user.roles.filter((r) => !role.memberOf.includes(r));
      if (revoke.length > 0) userSteps.push({ op: 'revoke-roles', user: user.username, roles: revoke });
      if (grant.length > 0) userSteps.push({ op: 'grant-roles', user: user.username, roles: grant });
    }
    if (!role.connect.includes(user.database))
      userSteps.push({ op: 'grant-connect', user: user.username, database: user.database });
    for (let k = 0; k < role.connect.length; k++) {
      const db = role.connect[k] as string;
      if (db !== user.database) userSteps.push({ op: 'revoke-connect', user: user.username, database: db });
    }
    if (user.privileges !== undefined) userSteps.push(...privilegeSteps(user, input, problems));
    // A marker refresh alone is bookkeeping after a Secret update, not drift.
    if (userSteps.length - before > (refreshed ? 1 : 0)) updated++;
  }

  // Drops: managed users of this scope that are no longer wanted, within the safety bound.
  const { users: managedUsers, roles: managedRoles } = countManaged(actual.roles, scope);
  const candidates = unlisted(actual.roles, scope, managedUsers, listedManaged, listedNames(desired))
    .filter((name) => {
      const r = actual.roles.get(name);
      return (
        r !== undefined &&
        !needed.has(name) &&
        name !== actual.currentUser &&
        name !== fallback &&
        !r.superuser &&
        !r.elevated
      );
    })
    .sort();
  const allowance = dropAllowance(managedUsers, options.maxDropShare);
  const dropSteps: Step[] = [];
  let refusedDrops: Plan['refusedDrops'];
  if (candidates.length > allowance && !options.force) {
    refusedDrops = {
      users: candidates,
      message: `refusing to drop ${candidates.length} of ${managedUsers} managed users in one run (more than ${Math.round(options.maxDropShare * 100)}%, at most ${allowance}); check the ConfigMap or send force: true`,
    };
  } else {
    for (const name of candidates) {
      const role = actual.roles.get(name);
      const databases = [...new Set([...(role?.ownsIn ?? []), actual.currentDatabase])].sort();
      dropSteps.push({ op: 'drop-user', user: name, databases, fallback });
    }
  }

  const rolesCreated = roleSteps.length;
  const deleted = dropSteps.length;
  const errors = skipped.length + problems.length + (refusedDrops === undefined ? 0 : 1);
  return {
    steps: [...roleSteps, ...inPhases(userSteps), ...dropSteps],
    skipped,
    problems,
    ...(refusedDrops === undefined ? {} : { refusedDrops }),
    summary: {
      users_created: created,
      users_updated: updated,
      users_deleted: deleted,
      roles_created: rolesCreated,
      roles_deleted: 0,
      passwords_rotated: rotated,
      drift_detected: created + updated + deleted,
      errors,
    },
    managed: {
      users: managedUsers + created - deleted,
      roles: managedRoles + rolesCreated,
    },
  };
}
