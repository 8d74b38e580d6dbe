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

/** The users whose stored verifier must be read and checked (the catalog's third query reads them). */
export function verifiersToCheck(
  users: readonly DesiredUser[],
  secrets: ReadonlyMap<string, UserSecret>,
  roles: ReadonlyMap<string, ActualRole>,
  passwordsReadable: boolean,
  scope: string,
): string[] {
  if (!passwordsReadable) return [];
  const out: string[] = [];
  for (const user of users) {
    const role = roles.get(user.username);
    const secret = secrets.get(user.secretName);
    if (managedUser(role, scope) && secret !== undefined && !knownCurrent(role, secret, true))
      out.push(user.username);
  }
  return out;
}

export async function passwordStates(
  users: readonly DesiredUser[],
  secrets: ReadonlyMap<string, UserSecret>,
  actual: ActualState,
  scope: string,
): Promise<Map<string, PasswordState>> {
  const states = new Map<string, PasswordState>();
  const checks: Promise<void>[] = [];
  for (const user of users) {
    const role = actual.roles.get(user.username);
    const secret = secrets.get(user.secretName);
    if (!managedUser(role, scope) || secret === undefined) continue;
    if (knownCurrent(role, secret, actual.passwordsReadable)) {
      states.set(user.username, 'current');
    } else if (actual.passwordsReadable) {
      // role.password was read for exactly these users (verifiersToCheck); absent means "no verifier".
      checks.push(
        verifierMatches(role.password, secret.password).then((matches) => {
          states.set(user.username, matches ? 'refresh-marker' : 'changed');
        }),
      );
    } else {
      states.set(user.username, 'changed');
    }
  }
  await Promise.all(checks);
  return states;
}
