/** Builders of catalog states and desired states for the pg-roles unit tests. */
import type { ActualRole, ActualState } from '../../../shared/pg-roles/catalog.ts';
import { parseDesiredState, type DesiredState } from '../../../shared/pg-roles/desired.ts';
import { renderMarker, type Marker } from '../../../shared/pg-roles/marker.ts';
import { parseMarker } from '../../../shared/pg-roles/marker.ts';
import { checkPasswords, resolvedUsers, triagePasswords } from '../../../shared/pg-roles/passwords.ts';
import type { PasswordState, PlanInput } from '../../../shared/pg-roles/plan.ts';
import type { UserSecret } from '../../../shared/pg-roles/source.ts';
import type { DesiredUser } from '../../../shared/pg-roles/desired.ts';

export const SCOPE = 'postgres/postgres-users-config';

export function role(name: string, extra: Partial<ActualRole> = {}): ActualRole {
  return {
    name,
    login: false,
    superuser: false,
    elevated: false,
    createdb: false,
    inherit: true,
    connectionLimit: -1,
    marker: undefined,
    memberOf: [],
    connect: [],
    ownsIn: [],
    ...extra,
  };
}

/** A user this reconciler manages (marker of SCOPE), logging in, with CONNECT on myapp. */
export function managedUser(name: string, extra: Partial<ActualRole> = {}, marker: Partial<Marker> = {}) {
  return role(name, {
    login: true,
    connect: ['myapp'],
    marker: parseMarker(renderMarker({ scope: SCOPE, kind: 'user', secret: `uid-${name}/1`, ...marker })),
    ...extra,
  });
}

export function managedRole(name: string): ActualRole {
  return role(name, { marker: { scope: SCOPE, kind: 'role' } });
}

export function actual(roles: ActualRole[], extra: Partial<ActualState> = {}): ActualState {
  return {
    currentUser: 'postgres',
    currentDatabase: 'postgres',
    passwordsReadable: false,
    databases: new Set(['postgres', 'myapp']),
    roles: new Map([role('postgres', { superuser: true, login: true }), ...roles].map((r) => [r.name, r])),
    tablePrivileges: new Map(),
    existingTables: new Set(),
    queries: 2,
    ...extra,
  };
}

export const SEED_YAML = `
users:
  - username: alice
    database: myapp
    roles:
      - read_only
      - analyst
  - username: bob
    database: myapp
    roles:
      - read_write
      - developer
`;

export function desired(yaml: string = SEED_YAML): DesiredState {
  return parseDesiredState(yaml, 'postgres');
}

/** The Secrets of the given users, at version `uid-<user>/1` (the version managedUser's marker names). */
export function secrets(...users: string[]): Map<string, UserSecret> {
  return new Map(users.map((u) => [`user-${u}-secret`, { version: `uid-${u}/1`, password: `pw-${u}` }]));
}

/**
 * The plan's input as the reconcile builds it: each desired user's role and Secret looked up by the password
 * triage, with `passwords` (by user; a user not named has no state) standing for what the check of the
 * stored verifiers found.
 */
export function planInput(
  want: DesiredState,
  state: ActualState,
  userSecrets: ReadonlyMap<string, UserSecret>,
  passwords: ReadonlyMap<string, PasswordState> = new Map(),
): PlanInput {
  const triage = triagePasswords(want.users, userSecrets, state.roles, state.passwordsReadable, SCOPE);
  const checked = { ...triage, states: want.users.map((u) => passwords.get(u.username)) };
  return { desired: want, actual: state, resolved: resolvedUsers(checked) };
}

/** The users whose stored verifier reconcile reads and checks: the triage's `verify` list, by name. */
export function verifiersToCheck(
  users: readonly DesiredUser[],
  secrets: ReadonlyMap<string, UserSecret>,
  roles: ReadonlyMap<string, ActualRole>,
  passwordsReadable: boolean,
  scope: string,
): string[] {
  if (!passwordsReadable) return [];
  return triagePasswords(users, secrets, roles, true, scope).verify.map((i) => users[i]?.username ?? '');
}

/** Each existing managed user's password state by name: the triage and check reconcile runs. */
export async function passwordStates(
  users: readonly DesiredUser[],
  secrets: ReadonlyMap<string, UserSecret>,
  actual: ActualState,
  scope: string,
): Promise<Map<string, PasswordState>> {
  const triage = await checkPasswords(
    triagePasswords(users, secrets, actual.roles, actual.passwordsReadable, scope),
    actual.roles,
  );
  const states = new Map<string, PasswordState>();
  triage.states.forEach((state, i) => {
    const user = users[i];
    if (state !== undefined && user !== undefined) states.set(user.username, state);
  });
  return states;
}
