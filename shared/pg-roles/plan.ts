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
import { SYSTEM_ROLES } from './names.ts';

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

export interface PlanInput {
  readonly desired: DesiredState;
  /** secretName -> version (uid/resourceVersion) of the Secrets that hold a password. */
  readonly secrets: ReadonlyMap<string, string>;
  /** For existing managed login users: is the stored password the Secret's? */
  readonly passwords: ReadonlyMap<string, PasswordState>;
  readonly actual: ActualState;
}

/** Managed users of this scope that the ConfigMap no longer names: the possible drops. */
export function unlistedManagedUsers(
  desired: DesiredState,
  roles: ReadonlyMap<string, ActualRole>,
  scope: string,
): string[] {
  const listed = new Set([...desired.users.map((u) => u.username), ...desired.protectedNames]);
  const out: string[] = [];
  for (const role of roles.values())
    if (isManaged(role, scope) && role.marker?.kind === 'user' && !listed.has(role.name)) out.push(role.name);
  return out;
}

export function isManaged(role: ActualRole | undefined, scope: string): boolean {
  return role?.marker !== undefined && role.marker.scope === scope;
}

/** How many managed users one run may drop: the share, but at least one. */
export function dropAllowance(managedUsers: number, maxShare: number): number {
  return Math.max(1, Math.floor(maxShare * managedUsers));
}

function attributeChanges(role: ActualRole, want: UserAttributes): AttributeChanges {
  const changes: { -readonly [K in keyof AttributeChanges]: AttributeChanges[K] } = {};
  if (!role.login) changes.login = true;
  if (role.createdb !== want.createdb) changes.createdb = want.createdb;
  if (role.inherit !== want.inherit) changes.inherit = want.inherit;
  if (role.connectionLimit !== want.connectionLimit) changes.connectionLimit = want.connectionLimit;
  return changes;
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

export function planReconcile(input: PlanInput, options: PlanOptions): Plan {
  const { desired, actual, secrets, passwords } = input;
  const { scope } = options;
  const skipped: Skipped[] = [];
  const problems: { username: string; message: string }[] = [];
  const roleSteps: Step[] = [];
  const userSteps: Step[] = [];
  const wanted = new Set(desired.users.map((u) => u.username));
  const fallback = options.fallbackRole ?? actual.currentUser;
  let created = 0;
  let updated = 0;
  let rotated = 0;

  for (const p of desired.problems) {
    if (p.username !== undefined)
      skipped.push({ username: p.username, reason: 'invalid_entry', message: p.message });
  }

  // Which users can be worked on at all.
  const workable: DesiredUser[] = [];
  for (const user of desired.users) {
    const role = actual.roles.get(user.username);
    const skip = (reason: Skipped['reason'], message: string) =>
      skipped.push({ username: user.username, reason, message });
    if (user.username === actual.currentUser || user.username === fallback) {
      skip('unmanaged', `${user.username} is the reconciler's own or fallback role and is never managed`);
    } else if (role !== undefined && !isManaged(role, scope)) {
      skip(
        'unmanaged',
        role.marker === undefined
          ? `role ${user.username} exists and is not managed by pg-reconcile; it is left unchanged`
          : `role ${user.username} is managed by another reconciler (${role.marker.scope}); it is left unchanged`,
      );
    } else if (role !== undefined && (role.superuser || role.elevated)) {
      skip(
        'unsafe_role',
        `role ${user.username} was given superuser or similar rights by hand; it is left unchanged`,
      );
    } else if (!actual.databases.has(user.database)) {
      skip('missing_database', `database ${user.database} does not exist`);
    } else if (!secrets.has(user.secretName)) {
      skip('missing_secret', `Secret ${user.secretName} (key password) not found`);
    } else {
      const unsafe = user.roles.find((r) => {
        const g = actual.roles.get(r);
        return g !== undefined && (g.superuser || g.elevated);
      });
      const missing = user.roles.find((r) => r.startsWith('pg_') && !actual.roles.has(r));
      if (unsafe !== undefined)
        skip('unsafe_role', `role ${unsafe} has superuser or similar rights; refusing to grant it`);
      else if (missing !== undefined) skip('missing_role', `built-in role ${missing} does not exist`);
      else workable.push(user);
    }
  }

  // Group roles first: everything granted must exist.
  const creatingUsers = new Set(workable.filter((u) => !actual.roles.has(u.username)).map((u) => u.username));
  const neededRoles = [...new Set(workable.flatMap((u) => u.roles))].sort();
  for (const role of neededRoles) {
    if (actual.roles.has(role) || creatingUsers.has(role) || SYSTEM_ROLES.has(role)) continue;
    roleSteps.push({ op: 'create-role', role });
  }

  for (const user of workable) {
    const role = actual.roles.get(user.username);
    const secretVersion = secrets.get(user.secretName) ?? '';
    const steps: Step[] = [];
    if (role === undefined) {
      steps.push({
        op: 'create-user',
        user: user.username,
        attributes: user.attributes,
        secret: user.secretName,
        secretVersion,
      });
      if (user.roles.length > 0) steps.push({ op: 'grant-roles', user: user.username, roles: user.roles });
      steps.push({ op: 'grant-connect', user: user.username, database: user.database });
      userSteps.push(...steps, ...privilegeSteps(user, input, problems));
      created++;
      continue;
    }
    const changes = attributeChanges(role, user.attributes);
    if (Object.keys(changes).length > 0) steps.push({ op: 'alter-user', user: user.username, changes });
    const password = role.marker?.kind === 'role' ? 'changed' : (passwords.get(user.username) ?? 'changed');
    if (password === 'changed') {
      steps.push({ op: 'set-password', user: user.username, secret: user.secretName, secretVersion });
      rotated++;
    } else if (password === 'refresh-marker') {
      steps.push({
        op: 'refresh-marker',
        user: user.username,
        secretVersion,
        ...(role.salt == null || !actual.passwordsReadable ? {} : { salt: role.salt }),
      });
    }
    const revoke = role.memberOf.filter((r) => !user.roles.includes(r));
    const grant = user.roles.filter((r) => !role.memberOf.includes(r));
    if (revoke.length > 0) steps.push({ op: 'revoke-roles', user: user.username, roles: revoke });
    if (grant.length > 0) steps.push({ op: 'grant-roles', user: user.username, roles: grant });
    if (!role.connect.includes(user.database))
      steps.push({ op: 'grant-connect', user: user.username, database: user.database });
    for (const db of role.connect)
      if (db !== user.database) steps.push({ op: 'revoke-connect', user: user.username, database: db });
    steps.push(...privilegeSteps(user, input, problems));
    // A marker refresh alone is bookkeeping after a Secret update, not drift.
    if (steps.some((s) => s.op !== 'refresh-marker')) updated++;
    userSteps.push(...steps);
  }

  // Drops: managed users of this scope that are no longer wanted, within the safety bound.
  const managedUsers = [...actual.roles.values()].filter(
    (r) => isManaged(r, scope) && r.marker?.kind === 'user',
  );
  const protectedNames = new Set(desired.protectedNames);
  const neededAsRole = new Set(neededRoles);
  const candidates = managedUsers
    .filter(
      (r) =>
        !wanted.has(r.name) &&
        !protectedNames.has(r.name) &&
        !neededAsRole.has(r.name) &&
        r.name !== actual.currentUser &&
        r.name !== fallback &&
        !r.superuser &&
        !r.elevated,
    )
    .map((r) => r.name)
    .sort();
  const allowance = dropAllowance(managedUsers.length, options.maxDropShare);
  const dropSteps: Step[] = [];
  let refusedDrops: Plan['refusedDrops'];
  if (candidates.length > allowance && !options.force) {
    refusedDrops = {
      users: candidates,
      message: `refusing to drop ${candidates.length} of ${managedUsers.length} managed users in one run (more than ${Math.round(options.maxDropShare * 100)}%, at most ${allowance}); check the ConfigMap or send force: true`,
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
  const managedRoles = [...actual.roles.values()].filter(
    (r) => isManaged(r, scope) && r.marker?.kind === 'role',
  );
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
      users: managedUsers.length + created - deleted,
      roles: managedRoles.length + rolesCreated,
    },
  };
}
