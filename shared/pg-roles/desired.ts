/**
 * The desired state: the ConfigMap key `users.yaml` (its format is kept for compatibility,
 * docs/compatibility.md),
 *
 *   users:
 *     - username: alice
 *       database: myapp          # default: the configured database (DB_NAME, or PG_URL's database)
 *       roles: [read_only, analyst]
 *
 * and optionally `attributes` (createdb, inherit, connectionLimit), `privileges` (table -> [SELECT, ...],
 * in the connected database; when present, the user's table privileges follow it exactly) and
 * `secretName` (default `user-<name with _ as ->-secret`, which cannot exist for names that are not DNS
 * names). Extra top-level keys (e.g. `timestamp`) are ignored.
 *
 * An unreadable document never means "nobody": empty content, invalid YAML, a missing `users` list or an
 * empty one throw DesiredStateError and the run is skipped (nothing dropped); so does a grant of a
 * FORBIDDEN_GRANTS role (names.ts), anywhere in the list.
 * A single bad entry is rejected with a message, and its name is protected from being dropped.
 */
import { parse } from 'yaml';
import { z } from 'zod';
import { DNS_SUBDOMAIN } from '../platform/kubernetes-names.ts';
import { FORBIDDEN_GRANTS, grantableRoleProblem, identifierProblem, roleNameProblem } from './names.ts';

export const TABLE_PRIVILEGES = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'TRUNCATE',
  'REFERENCES',
  'TRIGGER',
] as const;
export type TablePrivilege = (typeof TABLE_PRIVILEGES)[number];

export interface UserAttributes {
  readonly createdb: boolean;
  readonly inherit: boolean;
  /** -1: no limit. */
  readonly connectionLimit: number;
}

export const DEFAULT_ATTRIBUTES: UserAttributes = { createdb: false, inherit: true, connectionLimit: -1 };

export interface TableGrant {
  readonly schema: string;
  readonly table: string;
  readonly privileges: readonly TablePrivilege[];
}

export interface DesiredUser {
  readonly username: string;
  readonly database: string;
  /** Sorted, without duplicates. */
  readonly roles: readonly string[];
  readonly attributes: UserAttributes;
  /** Declared table privileges (connected database); undefined = the user's table privileges are not managed. */
  readonly privileges?: readonly TableGrant[];
  readonly secretName: string;
}

export interface EntryProblem {
  /** Position in the `users` list (0-based). */
  readonly entry: number;
  readonly username?: string;
  readonly message: string;
}

export interface DesiredState {
  readonly users: readonly DesiredUser[];
  /** Names of rejected entries: still wanted, so never dropped, but not changed either. */
  readonly protectedNames: readonly string[];
  readonly problems: readonly EntryProblem[];
  /** Fields that are ignored (unknown keys), for the report. */
  readonly warnings: readonly string[];
}

/** The document cannot be used at all: the run is skipped and nothing is dropped. */
export class DesiredStateError extends Error {
  override readonly name = 'DesiredStateError';
}

/**
 * `user-<username with "_" as "-">-secret`: the default Secret name, kept for compatibility
 * (docs/compatibility.md).
 */
export function defaultSecretName(username: string): string {
  return `user-${username.replaceAll('_', '-')}-secret`;
}

const FORBIDDEN_ATTRIBUTES = ['superuser', 'replication', 'bypassrls', 'createrole', 'login'];

const attributesSchema = z
  .object({
    createdb: z.boolean().optional(),
    inherit: z.boolean().optional(),
    // pg_authid.rolconnlimit is an integer: a larger limit is a syntax error in CREATE/ALTER ROLE.
    connectionLimit: z.number().int().min(-1).max(2_147_483_647).optional(),
  })
  .strict();

const entrySchema = z.object({
  username: z.string({ error: 'username must be a string (quote names YAML reads as numbers or booleans)' }),
  database: z.string({ error: 'database must be a string' }).optional(),
  roles: z
    .array(z.string({ error: 'every role must be a string' }), { error: 'roles must be a list' })
    .nullish(),
  privileges: z
    .record(z.string(), z.array(z.string()), { error: 'privileges must map tables to lists' })
    .nullish(),
  secretName: z.string().optional(),
  attributes: z.record(z.string(), z.unknown()).nullish(),
});

const KNOWN_FIELDS = new Set(['username', 'database', 'roles', 'privileges', 'secretName', 'attributes']);

function issueText(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length > 0 ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** "orders" -> public.orders; "sales.orders" -> sales.orders (split at the first dot). */
function tableName(key: string): { schema: string; table: string } {
  const dot = key.indexOf('.');
  return dot < 0
    ? { schema: 'public', table: key }
    : { schema: key.slice(0, dot), table: key.slice(dot + 1) };
}

function parsePrivileges(raw: Record<string, string[]>): TableGrant[] | string {
  const grants: TableGrant[] = [];
  for (const [key, list] of Object.entries(raw)) {
    const { schema, table } = tableName(key);
    const problem = identifierProblem(schema, 'schema name') ?? identifierProblem(table, 'table name');
    if (problem !== undefined) return `privileges: ${problem}`;
    const privileges = new Set<TablePrivilege>();
    for (const p of list) {
      const word = p.trim().toUpperCase();
      if (word === 'ALL' || word === 'ALL PRIVILEGES') TABLE_PRIVILEGES.forEach((x) => privileges.add(x));
      else if ((TABLE_PRIVILEGES as readonly string[]).includes(word)) privileges.add(word as TablePrivilege);
      else
        return `privileges: "${p}" on ${key} is not a table privilege (${TABLE_PRIVILEGES.join(', ')}, ALL)`;
    }
    grants.push({ schema, table, privileges: TABLE_PRIVILEGES.filter((x) => privileges.has(x)) });
  }
  return grants.sort((a, b) => (a.schema + a.table < b.schema + b.table ? -1 : 1));
}

function parseEntry(
  raw: unknown,
  defaultDatabase: string,
  warnings: string[],
  index: number,
): DesiredUser | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'an entry must be a mapping';
  const result = entrySchema.safeParse(raw);
  if (!result.success) return issueText(result.error);
  const e = result.data;
  for (const key of Object.keys(raw)) {
    if (!KNOWN_FIELDS.has(key)) warnings.push(`users[${index}]: unknown field "${key}" ignored`);
  }
  const nameProblem = roleNameProblem(e.username, 'username');
  if (nameProblem !== undefined) return nameProblem;
  const database = e.database ?? defaultDatabase;
  const dbProblem = identifierProblem(database, 'database');
  if (dbProblem !== undefined) return dbProblem;
  const roles = [...new Set(e.roles ?? [])].sort();
  for (const role of roles) {
    const problem = grantableRoleProblem(role);
    if (problem !== undefined) return `roles: ${problem}`;
    if (role === e.username) return `roles: a user cannot be a member of itself`;
  }
  const attrs = e.attributes ?? {};
  const forbidden = Object.keys(attrs).filter((k) => FORBIDDEN_ATTRIBUTES.includes(k.toLowerCase()));
  if (forbidden.length > 0)
    return `attributes: ${forbidden.join(', ')} cannot be set by the reconciler (allowed: createdb, inherit, connectionLimit)`;
  const parsedAttrs = attributesSchema.safeParse(attrs);
  if (!parsedAttrs.success) return `attributes: ${issueText(parsedAttrs.error)}`;
  const secretName = e.secretName ?? defaultSecretName(e.username);
  if (!DNS_SUBDOMAIN.test(secretName))
    return e.secretName === undefined
      ? `no valid Secret name follows from this username ("${secretName}"): set secretName`
      : `secretName "${secretName}" is not a valid Kubernetes name`;
  let privileges: TableGrant[] | undefined;
  if (e.privileges != null) {
    const parsed = parsePrivileges(e.privileges);
    if (typeof parsed === 'string') return parsed;
    privileges = parsed;
  }
  return {
    username: e.username,
    database,
    roles,
    attributes: { ...DEFAULT_ATTRIBUTES, ...parsedAttrs.data },
    ...(privileges === undefined ? {} : { privileges }),
    secretName,
  };
}

/**
 * Parses the ConfigMap's users.yaml. Throws DesiredStateError when the document as a whole cannot be
 * trusted (the run must change nothing); returns per-entry problems otherwise.
 */
export function parseDesiredState(content: string | undefined, defaultDatabase: string): DesiredState {
  if (content === undefined || content.trim() === '')
    throw new DesiredStateError('users.yaml is missing or empty');
  let doc: unknown;
  try {
    doc = parse(content);
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : 'unreadable';
    throw new DesiredStateError(`users.yaml is not valid YAML: ${detail ?? 'unreadable'}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new DesiredStateError('users.yaml must be a mapping with a "users" list');
  const list = (doc as Record<string, unknown>).users;
  if (!Array.isArray(list)) throw new DesiredStateError('users.yaml has no "users" list');
  if (list.length === 0) throw new DesiredStateError('users.yaml lists no users');

  const users: DesiredUser[] = [];
  const problems: EntryProblem[] = [];
  const protectedNames = new Set<string>();
  const warnings: string[] = [];
  const seen = new Set<string>();
  list.forEach((raw, entry) => {
    const name = (raw as { username?: unknown } | null)?.username;
    const username = typeof name === 'string' ? name : undefined;
    const roles: unknown = (raw as { roles?: unknown } | null)?.roles;
    const forbidden = Array.isArray(roles)
      ? (roles as unknown[]).find((r): r is string => typeof r === 'string' && FORBIDDEN_GRANTS.has(r))
      : undefined;
    // Whoever edits the ConfigMap must not get superuser through it: not one statement of such a run.
    if (forbidden !== undefined)
      throw new DesiredStateError(
        `users[${entry}]${username === undefined ? '' : ` (${username})`}: role ${forbidden} is never granted (it reads the server's files or every password verifier, or runs programs: a way to superuser)`,
      );
    const parsed = parseEntry(raw, defaultDatabase, warnings, entry);
    const reject = (message: string) => {
      problems.push({ entry, ...(username === undefined ? {} : { username }), message });
      if (username !== undefined) protectedNames.add(username);
    };
    if (typeof parsed === 'string') reject(parsed);
    else if (seen.has(parsed.username)) reject(`username "${parsed.username}" is listed twice`);
    else {
      seen.add(parsed.username);
      users.push(parsed);
    }
  });
  if (users.length === 0 && problems.length > 0)
    throw new DesiredStateError(
      `no usable entry in users.yaml: ${problems
        .slice(0, 3)
        .map((p) => `users[${p.entry}]: ${p.message}`)
        .join('; ')}`,
    );
  // A user that was rejected but also listed valid elsewhere is wanted; keep it out of the protected list.
  return {
    users,
    protectedNames: [...protectedNames].filter((n) => !seen.has(n)).sort(),
    problems,
    warnings,
  };
}
