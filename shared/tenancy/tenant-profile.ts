/**
 * The profile of a tenant's Keycloak user. Keycloak's default user profile requires a first name, a last
 * name and an email of every user with the role `user`, and refuses a password login ("Account is not
 * fully set up") to a user without them; a provision request may carry only an email or only a full name.
 * So all three are filled from what is known (pure):
 *
 *  - the names come from the full name (first word; the other words, or the first word again when it is
 *    the only one), else from the email's local part split at ".", "_" and "+", else from the tenant name;
 *    characters the default profile refuses in a person's name are dropped, and each name is cut to 255;
 *  - the email is the request's, else the placeholder `<tenant>@tenants.invalid`: the reserved `.invalid`
 *    top-level domain (RFC 2606) says it is none and no mail is ever delivered there.
 */
import { placeholderEmail } from './tenant-objects.ts';

export interface TenantProfile {
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string;
}

/**
 * What Keycloak's `person-name-prohibited-characters` validator refuses in a first or last name; each run
 * of them separates words here.
 */
const NOT_IN_A_NAME = /[\s<>&"\v$%!#?§;*~/\\|^=[\]{}()\p{Cc}]+/u;

/** The length limit of the default user profile for every attribute, in UTF-16 units as Java counts. */
const MAX_ATTRIBUTE_LENGTH = 255;

/** At most the limit, never half of a surrogate pair. */
const cut = (text: string): string =>
  text
    .slice(0, MAX_ATTRIBUTE_LENGTH)
    .replace(/[\uD800-\uDBFF]$/, '')
    .trim();

const words = (text: string | undefined, separator: RegExp): string[] =>
  (text ?? '').split(separator).filter((word) => word !== '');

/** The shortest username Keycloak's default user profile accepts. */
export const MIN_USERNAME_LENGTH = 3;

/**
 * Why Keycloak's default user profile would refuse `username` (it would fail the provision only after other
 * parts were made), or undefined when it accepts it.
 */
export function usernameRefusal(username: string): string | undefined {
  return username.length < MIN_USERNAME_LENGTH
    ? `the tenant name "${username}" is shorter than the ${String(MIN_USERNAME_LENGTH)} characters Keycloak requires of a username; use a longer email local part or full name`
    : undefined;
}

export function tenantProfile(input: {
  readonly username: string;
  readonly fullName?: string | undefined;
  readonly email?: string | undefined;
}): TenantProfile {
  const email = input.email?.trim() ?? '';
  const localPart = email.slice(0, Math.max(email.lastIndexOf('@'), 0));
  const fromName = words(input.fullName, NOT_IN_A_NAME);
  const fromEmail = words(localPart, /[._+]+/).flatMap((word) => words(word, NOT_IN_A_NAME));
  const [first = input.username, ...rest] =
    fromName.length > 0 ? fromName : fromEmail.length > 0 ? fromEmail : [input.username];
  return {
    firstName: cut(first),
    lastName: cut(rest.length > 0 ? rest.join(' ') : first),
    email: email !== '' ? email : placeholderEmail(input.username),
  };
}

/**
 * A Keycloak user's email as the tenant's own: undefined for none and for the placeholder provision gives
 * a tenant without an email (so the placeholder is never recorded as an owner email).
 */
export function ownEmail(username: string, email: string | undefined): string | undefined {
  if (email === undefined || email === '') return undefined;
  return email.toLowerCase() === placeholderEmail(username.toLowerCase()) ? undefined : email;
}
