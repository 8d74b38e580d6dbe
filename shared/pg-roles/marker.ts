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

/** The marker in a role comment, or undefined when the comment is not one (absent, hand-written, broken). */
export function parseMarker(comment: string | null | undefined): Marker | undefined {
  if (comment == null || !comment.startsWith(MARKER_PREFIX)) return undefined;
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
