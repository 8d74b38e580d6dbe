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
import type { ActualRole, ActualState } from './catalog.ts';
import type { DesiredUser } from './desired.ts';
import { isManaged, type PasswordState } from './plan.ts';
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
 * What the marker alone tells, in one pass over the users (two lookups each: at 10,000 users the lookups
 * are what costs): `states` holds the users whose password is known current (and, when verifiers cannot be
 * read, those whose Secret changed: 'changed'); `verify` the users whose stored verifier must be read and
 * checked against their Secret.
 */
export interface PasswordTriage {
  readonly states: Map<string, PasswordState>;
  readonly verify: readonly { readonly user: string; readonly secret: UserSecret }[];
}

export function triagePasswords(
  users: readonly DesiredUser[],
  secrets: ReadonlyMap<string, UserSecret>,
  roles: ReadonlyMap<string, ActualRole>,
  passwordsReadable: boolean,
  scope: string,
): PasswordTriage {
  const states = new Map<string, PasswordState>();
  const verify: { user: string; secret: UserSecret }[] = [];
  for (const user of users) {
    const role = roles.get(user.username);
    if (!managedUser(role, scope)) continue;
    const secret = secrets.get(user.secretName);
    if (secret === undefined) continue;
    if (knownCurrent(role, secret, passwordsReadable)) states.set(user.username, 'current');
    else if (passwordsReadable) verify.push({ user: user.username, secret });
    else states.set(user.username, 'changed');
  }
  return { states, verify };
}

/**
 * Completes the triage: PBKDF2 of each Secret's password with the salt and iterations of the stored
 * verifier (`roles` as read with the verifiers of `triage.verify`; none means "no verifier").
 */
export async function checkPasswords(
  triage: PasswordTriage,
  roles: ReadonlyMap<string, ActualRole>,
): Promise<Map<string, PasswordState>> {
  const { states } = triage;
  await Promise.all(
    triage.verify.map(async ({ user, secret }) => {
      const matches = await verifierMatches(roles.get(user)?.password, secret.password);
      states.set(user, matches ? 'refresh-marker' : 'changed');
    }),
  );
  return states;
}

/** The users whose stored verifier must be read and checked (the catalog's third query reads them). */
export function verifiersToCheck(
  users: readonly DesiredUser[],
  secrets: ReadonlyMap<string, UserSecret>,
  roles: ReadonlyMap<string, ActualRole>,
  passwordsReadable: boolean,
  scope: string,
): string[] {
  if (!passwordsReadable) return [];
  return triagePasswords(users, secrets, roles, true, scope).verify.map((v) => v.user);
}

/** Whether each existing managed user's stored password is its Secret's (triage, then check). */
export async function passwordStates(
  users: readonly DesiredUser[],
  secrets: ReadonlyMap<string, UserSecret>,
  actual: ActualState,
  scope: string,
): Promise<Map<string, PasswordState>> {
  return checkPasswords(
    triagePasswords(users, secrets, actual.roles, actual.passwordsReadable, scope),
    actual.roles,
  );
}
