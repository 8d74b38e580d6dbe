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
 * What the plan needs per desired user, aligned with `desired.users`: the user's role (as the roles query
 * read it), its Secret's version and its password state. The reconcile looks each user up once, for the
 * password triage (passwords.ts), and hands the same lookups to the drop count and the plan.
 */
export interface ResolvedUsers {
  readonly roles: readonly (ActualRole | undefined)[];
  readonly versions: readonly (string | undefined)[];
  readonly passwords: readonly (PasswordState | undefined)[];
}

export interface PlanInput {
  readonly desired: DesiredState;
  readonly actual: ActualState;
  readonly resolved: ResolvedUsers;
}

/** Whether the role is a user this reconciler's scope manages. */
function isManagedUser(role: ActualRole | undefined, scope: string): role is ActualRole {
  return role?.marker !== undefined && role.marker.scope === scope && role.marker.kind === 'user';
}

/** How many managed users and group roles of this scope there are (forEach: no iterator per call). */
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
 * Managed users of this scope that the ConfigMap no longer names: the possible drops. `userRoles` is each
 * desired user's role, aligned with desired.users (ResolvedUsers.roles).
 */
export function unlistedManagedUsers(
  desired: DesiredState,
  roles: ReadonlyMap<string, ActualRole>,
  scope: string,
  userRoles: readonly (ActualRole | undefined)[],
): string[] {
  let listedManaged = 0;
  for (let i = 0; i < userRoles.length; i++) if (isManagedUser(userRoles[i], scope)) listedManaged++;
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

/**
 * Refuses the whole run when a granted role would hand out superuser or similar rights, directly or through
 * its memberships: whoever edits the ConfigMap must not get them through it. One walk up the memberships
 * per distinct granted role, not per user.
 */
function refuseEscalatingGrants(granted: ReadonlySet<string>, roles: ReadonlyMap<string, ActualRole>): void {
  for (const name of granted) {
    const escalation = escalationOf(name, roles);
    if (escalation !== undefined)
      throw new PlatformError({
        reason: 'bad_request',
        message: `ConfigMap grants ${name}, which would hand out superuser or similar rights (${escalation}); the run was refused and nothing was changed`,
        retryable: false,
      });
  }
}

/** The granted built-in (pg_) roles this server does not have: the users granted one are skipped. */
function missingBuiltinRoles(
  granted: ReadonlySet<string>,
  roles: ReadonlyMap<string, ActualRole>,
): ReadonlySet<string> {
  const missing = new Set<string>();
  for (const name of granted) if (!roles.has(name) && name.startsWith('pg_')) missing.add(name);
  return missing;
}

/** What decides whether a desired user can be worked on at all. */
interface SkipRules {
  readonly scope: string;
  readonly currentUser: string;
  readonly fallback: string;
  readonly databases: ReadonlySet<string>;
  readonly missingBuiltins: ReadonlySet<string>;
}

/** The first of the user's roles that is a missing built-in (an indexed loop: no iterator per user). */
function firstMissingBuiltin(user: DesiredUser, missingBuiltins: ReadonlySet<string>): string | undefined {
  if (missingBuiltins.size === 0) return undefined;
  for (let k = 0; k < user.roles.length; k++) {
    const name = user.roles[k] as string;
    if (missingBuiltins.has(name)) return name;
  }
  return undefined;
}

/**
 * Why a desired user is left alone, or undefined when it can be worked on: the reconciler's own and the
 * fallback role are never managed, nor a role made by hand or by another reconciler, nor a managed role
 * given superuser or similar rights by hand; a user whose database, Secret or built-in role is missing waits.
 */
function whySkipped(
  user: DesiredUser,
  role: ActualRole | undefined,
  secretVersion: string | undefined,
  rules: SkipRules,
): Skipped | undefined {
  const { username } = user;
  if (username === rules.currentUser || username === rules.fallback)
    return {
      username,
      reason: 'unmanaged',
      message: `${username} is the reconciler's own or fallback role and is never managed`,
    };
  if (role !== undefined && !isManaged(role, rules.scope))
    return {
      username,
      reason: 'unmanaged',
      message:
        role.marker === undefined
          ? `role ${username} exists and is not managed by pg-reconcile; it is left unchanged`
          : `role ${username} is managed by another reconciler (${role.marker.scope}); it is left unchanged`,
    };
  if (role !== undefined && (role.superuser || role.elevated))
    return {
      username,
      reason: 'unsafe_role',
      message: `role ${username} was given superuser or similar rights by hand; it is left unchanged`,
    };
  if (!rules.databases.has(user.database))
    return { username, reason: 'missing_database', message: `database ${user.database} does not exist` };
  if (secretVersion === undefined)
    return {
      username,
      reason: 'missing_secret',
      message: `Secret ${user.secretName} (key password) not found`,
    };
  const missing = firstMissingBuiltin(user, rules.missingBuiltins);
  if (missing !== undefined)
    return { username, reason: 'missing_role', message: `built-in role ${missing} does not exist` };
  return undefined;
}

/** The roles granted to the workable users: those of every desired user when all are workable (usually). */
function rolesNeeded(desired: DesiredState, workable: readonly number[]): ReadonlySet<string> {
  if (workable.length === desired.users.length) return grantedRoles(desired);
  const needed = new Set<string>();
  for (let w = 0; w < workable.length; w++) {
    const user = desired.users[workable[w] as number] as DesiredUser;
    for (let k = 0; k < user.roles.length; k++) needed.add(user.roles[k] as string);
  }
  return needed;
}

/**
 * The group roles to create, sorted: every needed role that does not exist, is not a system role and is not
 * created in this run as a user.
 */
function roleCreations(needed: ReadonlySet<string>, input: PlanInput, workable: readonly number[]): Step[] {
  const creatingUsers = new Set<string>();
  for (let w = 0; w < workable.length; w++) {
    const i = workable[w] as number;
    if (input.resolved.roles[i] === undefined)
      creatingUsers.add((input.desired.users[i] as DesiredUser).username);
  }
  const steps: Step[] = [];
  for (const role of [...needed].sort()) {
    if (input.actual.roles.has(role) || creatingUsers.has(role) || SYSTEM_ROLES.has(role)) continue;
    steps.push({ op: 'create-role', role });
  }
  return steps;
}

/** A new user: created with its attributes and password, then its roles, CONNECT and table privileges. */
function newUserSteps(
  user: DesiredUser,
  secretVersion: string,
  input: PlanInput,
  steps: Step[],
  problems: Plan['problems'][number][],
): void {
  steps.push({
    op: 'create-user',
    user: user.username,
    attributes: user.attributes,
    secret: user.secretName,
    secretVersion,
  });
  if (user.roles.length > 0) steps.push({ op: 'grant-roles', user: user.username, roles: user.roles });
  steps.push({ op: 'grant-connect', user: user.username, database: user.database });
  if (user.privileges !== undefined) steps.push(...privilegeSteps(user, input, problems));
}

/** What bringing an existing user in line did: nothing, a change, or a change that set a new password. */
type UserOutcome = 'unchanged' | 'updated' | 'rotated';

/**
 * An existing managed user brought in line with its entry: attributes, password (set when it changed, or
 * only the marker refreshed when the Secret changed but the password did not), roles, CONNECT on its one
 * database and table privileges. A managed group role listed as a user gets a password.
 */
function existingUserSteps(
  user: DesiredUser,
  role: ActualRole,
  passwordState: PasswordState | undefined,
  secretVersion: string,
  input: PlanInput,
  steps: Step[],
  problems: Plan['problems'][number][],
): UserOutcome {
  const { username } = user;
  const before = steps.length;
  const changes = attributeChanges(role, user.attributes);
  if (changes !== undefined) steps.push({ op: 'alter-user', user: username, changes });
  const password = role.marker?.kind === 'role' ? 'changed' : (passwordState ?? 'changed');
  if (password === 'changed')
    steps.push({ op: 'set-password', user: username, secret: user.secretName, secretVersion });
  else if (password === 'refresh-marker')
    steps.push({
      op: 'refresh-marker',
      user: username,
      secretVersion,
      ...(role.salt == null || !input.actual.passwordsReadable ? {} : { salt: role.salt }),
    });
  if (!sameList(role.memberOf, user.roles)) {
    const revoke = role.memberOf.filter((r) => !user.roles.includes(r));
    const grant = user.roles.filter((r) => !role.memberOf.includes(r));
    if (revoke.length > 0) steps.push({ op: 'revoke-roles', user: username, roles: revoke });
    if (grant.length > 0) steps.push({ op: 'grant-roles', user: username, roles: grant });
  }
  if (!role.connect.includes(user.database))
    steps.push({ op: 'grant-connect', user: username, database: user.database });
  for (let k = 0; k < role.connect.length; k++) {
    const database = role.connect[k] as string;
    if (database !== user.database) steps.push({ op: 'revoke-connect', user: username, database });
  }
  if (user.privileges !== undefined) steps.push(...privilegeSteps(user, input, problems));
  if (password === 'changed') return 'rotated';
  // A marker refresh alone is bookkeeping after a Secret update, not drift.
  return steps.length - before > (password === 'refresh-marker' ? 1 : 0) ? 'updated' : 'unchanged';
}

/**
 * The drops: managed users of this scope no longer listed, except a user still granted as a role, the
 * reconciler's own and the fallback role, and a user given superuser or similar rights by hand. More than
 * the allowed share of the managed users is held back unless forced. Each drop hands the user's objects to
 * the fallback role in every database where it owns some, and in the connected one.
 */
function plannedDrops(
  input: PlanInput,
  options: PlanOptions,
  context: {
    readonly fallback: string;
    readonly needed: ReadonlySet<string>;
    readonly managedUsers: number;
    readonly listedManaged: number;
  },
): { readonly steps: Step[]; readonly refused: Plan['refusedDrops'] } {
  const { actual, desired } = input;
  const { fallback, needed, managedUsers } = context;
  const candidates = unlisted(
    actual.roles,
    options.scope,
    managedUsers,
    context.listedManaged,
    listedNames(desired),
  )
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
  if (candidates.length > allowance && !options.force)
    return {
      steps: [],
      refused: {
        users: candidates,
        message: `refusing to drop ${candidates.length} of ${managedUsers} managed users in one run (more than ${Math.round(options.maxDropShare * 100)}%, at most ${allowance}); check the ConfigMap or send force: true`,
      },
    };
  const steps: Step[] = candidates.map((name) => {
    const role = actual.roles.get(name);
    const databases = [...new Set([...(role?.ownsIn ?? []), actual.currentDatabase])].sort();
    return { op: 'drop-user', user: name, databases, fallback };
  });
  return { steps, refused: undefined };
}

export function planReconcile(input: PlanInput, options: PlanOptions): Plan {
  const { desired, actual, resolved } = input;
  const { scope } = options;
  const fallback = options.fallbackRole ?? actual.currentUser;
  const skipped: Skipped[] = [];
  const problems: Plan['problems'][number][] = [];

  for (const p of desired.problems) {
    if (p.username !== undefined)
      skipped.push({ username: p.username, reason: 'invalid_entry', message: p.message });
  }

  const granted = grantedRoles(desired);
  refuseEscalatingGrants(granted, actual.roles);
  const rules: SkipRules = {
    scope,
    currentUser: actual.currentUser,
    fallback,
    databases: actual.databases,
    missingBuiltins: missingBuiltinRoles(granted, actual.roles),
  };
  // Which users can be worked on (indexes into desired.users), and how many listed names are managed
  // users of this scope (when that is all of them, nobody is to be dropped).
  const workable: number[] = [];
  let listedManaged = 0;
  for (let i = 0; i < desired.users.length; i++) {
    const role = resolved.roles[i];
    if (isManagedUser(role, scope)) listedManaged++;
    const skip = whySkipped(desired.users[i] as DesiredUser, role, resolved.versions[i], rules);
    if (skip === undefined) workable.push(i);
    else skipped.push(skip);
  }
  for (const name of desired.protectedNames)
    if (isManagedUser(actual.roles.get(name), scope)) listedManaged++;

  // Group roles first: everything granted must exist.
  const needed = rolesNeeded(desired, workable);
  const roleSteps = roleCreations(needed, input, workable);

  const userSteps: Step[] = [];
  let created = 0;
  let updated = 0;
  let rotated = 0;
  for (let w = 0; w < workable.length; w++) {
    const i = workable[w] as number;
    const user = desired.users[i] as DesiredUser;
    const role = resolved.roles[i];
    const secretVersion = resolved.versions[i] ?? '';
    if (role === undefined) {
      newUserSteps(user, secretVersion, input, userSteps, problems);
      created++;
      continue;
    }
    const outcome = existingUserSteps(
      user,
      role,
      resolved.passwords[i],
      secretVersion,
      input,
      userSteps,
      problems,
    );
    if (outcome !== 'unchanged') updated++;
    if (outcome === 'rotated') rotated++;
  }

  const { users: managedUsers, roles: managedRoles } = countManaged(actual.roles, scope);
  const drops = plannedDrops(input, options, { fallback, needed, managedUsers, listedManaged });

  const rolesCreated = roleSteps.length;
  const deleted = drops.steps.length;
  const errors = skipped.length + problems.length + (drops.refused === undefined ? 0 : 1);
  return {
    steps: [...roleSteps, ...inPhases(userSteps), ...drops.steps],
    skipped,
    problems,
    ...(drops.refused === undefined ? {} : { refusedDrops: drops.refused }),
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
