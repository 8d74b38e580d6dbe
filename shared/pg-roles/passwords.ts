/**
 * Whether each existing managed user's stored password is its Secret's, as cheaply as possible:
 * 1. the marker names the Secret version (uid/resourceVersion) that set the password and, when pg_authid is
 *    readable, the salt of the verifier set (a new password gets a new salt): both unchanged -> current, no
 *    hashing at all (the no-op path);
 * 2. otherwise, when the stored verifier is readable, PBKDF2 with its salt tells whether the Secret's
 *    password is still the one stored (a Secret updated without a new password, or a password set by hand)
 *    -> the marker is refreshed, or the password rotated;
 * 3. otherwise (pg_authid not readable: the reconciler is not a superuser) a new Secret version rotates the
 *    password; a password changed by hand in the database cannot be seen and stays until the Secret changes.
 */
import type { ActualRole } from './catalog.ts';
import type { DesiredUser } from './desired.ts';
import { isManaged, type PasswordState, type ResolvedUsers } from './plan.ts';
import { verifierMatches } from './scram.ts';
import type { UserSecret } from './source.ts';

/** Whether the marker alone says the stored password is the Secret's (no hashing). */
function knownCurrent(role: ActualRole, secret: UserSecret, passwordsReadable: boolean): boolean {
  if (role.marker?.secret !== secret.version) return false;
  return !passwordsReadable || (role.marker.salt !== undefined && role.marker.salt === role.salt);
}

function managedUser(role: ActualRole | undefined, scope: string): role is ActualRole {
  return role !== undefined && isManaged(role, scope) && role.marker?.kind === 'user';
}

/**
 * What the marker alone tells, in one pass over the users with one lookup of each user's role and Secret
 * (at 10,000 users the lookups are what costs; the plan reuses them). Aligned with `users`: each user's
 * role (as the roles query read it), Secret and password state: 'current' when the marker vouches for the
 * password, 'changed' when verifiers cannot be read and the Secret changed, unset when the stored verifier
 * must be checked (`verify`, indexes) or the user is not an existing managed user with a Secret.
 */
export interface PasswordTriage {
  readonly users: readonly DesiredUser[];
  readonly roles: readonly (ActualRole | undefined)[];
  readonly secrets: readonly (UserSecret | undefined)[];
  readonly states: (PasswordState | undefined)[];
  readonly verify: readonly number[];
}

export function triagePasswords(
  users: readonly DesiredUser[],
  secrets: ReadonlyMap<string, UserSecret>,
  roles: ReadonlyMap<string, ActualRole>,
  passwordsReadable: boolean,
  scope: string,
): PasswordTriage {
  const n = users.length;
  const triage = {
    users,
    roles: new Array<ActualRole | undefined>(n),
    secrets: new Array<UserSecret | undefined>(n),
    states: new Array<PasswordState | undefined>(n),
    verify: [] as number[],
  };
  for (let i = 0; i < n; i++) {
    const user = users[i] as DesiredUser;
    const role = roles.get(user.username);
    const secret = secrets.get(user.secretName);
    triage.roles[i] = role;
    triage.secrets[i] = secret;
    if (!managedUser(role, scope) || secret === undefined) continue;
    if (knownCurrent(role, secret, passwordsReadable)) triage.states[i] = 'current';
    else if (passwordsReadable) triage.verify.push(i);
    else triage.states[i] = 'changed';
  }
  return triage;
}

/**
 * Completes the triage: PBKDF2 of each Secret's password with the salt and iterations of the stored
 * verifier (`roles` as read with the verifiers of `triage.verify`; none means "no verifier").
 */
export async function checkPasswords(
  triage: PasswordTriage,
  roles: ReadonlyMap<string, ActualRole>,
): Promise<PasswordTriage> {
  await Promise.all(
    triage.verify.map(async (i) => {
      const user = triage.users[i]?.username ?? '';
      const matches = await verifierMatches(roles.get(user)?.password, triage.secrets[i]?.password ?? '');
      triage.states[i] = matches ? 'refresh-marker' : 'changed';
    }),
  );
  return triage;
}

/** The completed triage as the plan takes it: each user's role, Secret version and password state. */
export function resolvedUsers(triage: PasswordTriage): ResolvedUsers {
  return {
    roles: triage.roles,
    versions: triage.secrets.map((s) => s?.version),
    passwords: triage.states,
  };
}
