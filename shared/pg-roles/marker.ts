/**
 * The managed marker lives in the database itself, as the role's comment (COMMENT ON ROLE, stored in the
 * shared catalog pg_shdescription): `tenant-lifecycle/pg-reconcile {"v":1,"scope":...,"kind":...}`. A role
 * is managed by a reconciler only when its comment carries this prefix and the reconciler's own scope
 * (namespace/ConfigMap by default), so two reconcilers sharing a PostgreSQL cluster never take each
 * other's roles, and roles made by hand (no marker) are never altered or dropped.
 *
 * A user's marker also records which Secret version set its password (`secret`: uid/resourceVersion) and
 * the salt of the verifier that was set (`salt`, when pg_authid is readable), so that an unchanged Secret
 * and an untouched password are recognised without any hashing and without any write. Nothing in it is
 * secret: comments are readable by every role, and PostgreSQL hands the salt to anyone starting a login.
 */
export const MARKER_PREFIX = 'tenant-lifecycle/pg-reconcile ';

export interface Marker {
  readonly scope: string;
  readonly kind: 'user' | 'role';
  /** uid/resourceVersion of the Secret whose password was set last (users). */
  readonly secret?: string;
  /** `<iterations>:<salt>` of the verifier set last (users, when the stored verifier is readable). */
  readonly salt?: string;
}

export function renderMarker(marker: Marker): string {
  return `${MARKER_PREFIX}${JSON.stringify({ v: 1, ...marker })}`;
}

const RENDERED = `${MARKER_PREFIX}{"v":1,"scope":"`;
const KIND_USER = ',"kind":"user"';
const KIND_ROLE = ',"kind":"role"';
const SECRET = ',"secret":"';
const SALT = ',"salt":"';

/**
 * The marker as renderMarker writes it (fields in its order, no escapes), read with indexOf: a no-op run
 * reads every role's comment, and at 10,000 roles JSON.parse costs several times as much. Anything else
 * (escaped characters, another order, spaces) is left to JSON.parse: undefined means "not this shape".
 */
function parseRendered(comment: string): Marker | undefined {
  if (!comment.startsWith(RENDERED) || comment.includes('\\')) return undefined;
  const scopeEnd = comment.indexOf('"', RENDERED.length);
  if (scopeEnd < 0) return undefined;
  let at = scopeEnd + 1;
  let kind: Marker['kind'];
  if (comment.startsWith(KIND_USER, at)) kind = 'user';
  else if (comment.startsWith(KIND_ROLE, at)) kind = 'role';
  else return undefined;
  at += KIND_USER.length;
  let secret: string | undefined;
  let salt: string | undefined;
  if (comment.startsWith(SECRET, at)) {
    const end = comment.indexOf('"', at + SECRET.length);
    if (end < 0) return undefined;
    secret = comment.slice(at + SECRET.length, end);
    at = end + 1;
  }
  if (comment.startsWith(SALT, at)) {
    const end = comment.indexOf('"', at + SALT.length);
    if (end < 0) return undefined;
    salt = comment.slice(at + SALT.length, end);
    at = end + 1;
  }
  if (at !== comment.length - 1 || comment.charCodeAt(at) !== 0x7d /* } */) return undefined;
  const scope = comment.slice(RENDERED.length, scopeEnd);
  if (secret === undefined) return salt === undefined ? { scope, kind } : { scope, kind, salt };
  return salt === undefined ? { scope, kind, secret } : { scope, kind, secret, salt };
}

/** The marker in a role comment, or undefined when the comment is not one (absent, hand-written, broken). */
export function parseMarker(comment: string | null | undefined): Marker | undefined {
  if (comment == null || !comment.startsWith(MARKER_PREFIX)) return undefined;
  const rendered = parseRendered(comment);
  if (rendered !== undefined) return rendered;
  let value: unknown;
  try {
    value = JSON.parse(comment.slice(MARKER_PREFIX.length));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if (typeof o.scope !== 'string' || (o.kind !== 'user' && o.kind !== 'role')) return undefined;
  return {
    scope: o.scope,
    kind: o.kind,
    ...(typeof o.secret === 'string' ? { secret: o.secret } : {}),
    ...(typeof o.salt === 'string' ? { salt: o.salt } : {}),
  };
}
