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
import type { ActualState } from './catalog.ts';
import type { DesiredUser } from './desired.ts';
import { isManaged, type PasswordState } from './plan.ts';
import { verifierMatches, verifierSalt } from './scram.ts';
import type { UserSecret } from './source.ts';

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
    if (role === undefined || secret === undefined || !isManaged(role, scope) || role.marker?.kind !== 'user')
      continue;
    const stored = role.password;
    const sameSecret = role.marker.secret === secret.version;
    const sameVerifier =
      !actual.passwordsReadable ||
      (role.marker.salt !== undefined && role.marker.salt === verifierSalt(stored));
    if (sameSecret && sameVerifier) {
      states.set(user.username, 'current');
    } else if (actual.passwordsReadable) {
      checks.push(
        verifierMatches(stored, secret.password).then((matches) => {
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
