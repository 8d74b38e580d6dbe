/**
 * PostgreSQL role, database and table names as they come from the ConfigMap: any text PostgreSQL accepts
 * as a quoted identifier is allowed (quotes, spaces, semicolons... are quoted with pg's escapeIdentifier,
 * never spliced raw), and what it cannot hold or must not be managed is rejected with a message naming the
 * problem. Also the system roles that the reconciler never creates, alters or drops.
 */
import { escapeIdentifier } from 'pg';

/** PostgreSQL's NAMEDATALEN - 1: a longer name would be truncated silently by the server. */
export const MAX_NAME_BYTES = 63;

/** Roles never managed: a list kept for compatibility (docs/compatibility.md) and PostgreSQL's own. */
export const SYSTEM_ROLES: ReadonlySet<string> = new Set([
  'postgres',
  'pg_monitor',
  'pg_read_all_settings',
  'pg_read_all_stats',
  'pg_stat_scan_tables',
  'pg_read_server_files',
  'pg_write_server_files',
  'pg_execute_server_program',
  'pg_signal_backend',
  'rds_superuser',
]);

/**
 * Built-in roles never granted from the ConfigMap, each a way to superuser: the first three let a member
 * read or write any file the server can or run programs as its OS user; pg_read_all_data reads every table
 * including pg_authid, every role's password verifier (an md5 verifier logs in as its role, a superuser's
 * too: checked on PostgreSQL 15). A ConfigMap granting one is refused whole (desired.ts); roles that lead
 * to superuser through memberships are refused by the plan (plan.ts), which sees the catalog.
 */
export const FORBIDDEN_GRANTS: ReadonlySet<string> = new Set([
  'pg_execute_server_program',
  'pg_write_server_files',
  'pg_read_server_files',
  'pg_read_all_data',
]);

/** Role names PostgreSQL gives a meaning of their own (GRANT ... TO public, CURRENT_USER, ...). */
const RESERVED_ROLE_NAMES: ReadonlySet<string> = new Set([
  'public',
  'none',
  'current_user',
  'current_role',
  'session_user',
]);

/** Why `name` cannot be used as an identifier at all, or undefined when it can (quoted). */
export function identifierProblem(name: string, what: string): string | undefined {
  if (name === '') return `${what} is empty`;
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES)
    return `${what} is longer than ${MAX_NAME_BYTES} bytes (PostgreSQL would truncate it)`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return `${what} contains a control character`;
  return undefined;
}

/** Why `name` cannot be a role this reconciler creates or manages, or undefined when it can. */
export function roleNameProblem(name: string, what = 'role name'): string | undefined {
  const problem = identifierProblem(name, what);
  if (problem !== undefined) return problem;
  if (name.startsWith('pg_')) return `${what} "${name}" is reserved (the pg_ prefix belongs to PostgreSQL)`;
  if (RESERVED_ROLE_NAMES.has(name.toLowerCase())) return `${what} "${name}" is reserved by PostgreSQL`;
  if (SYSTEM_ROLES.has(name)) return `${what} "${name}" is a system role and is never managed`;
  return undefined;
}

/** A role that may be granted: a built-in pg_* role (pg_read_all_data, ...) may, a reserved name may not. */
export function grantableRoleProblem(name: string): string | undefined {
  if (name.startsWith('pg_')) return identifierProblem(name, 'role name');
  return roleNameProblem(name);
}

/** The quoted identifier: "a""b" for a"b. The only way a name from the ConfigMap reaches SQL text. */
export function ident(name: string): string {
  return escapeIdentifier(name);
}

/** A schema-qualified table, quoted part by part. */
export function qualified(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`;
}
