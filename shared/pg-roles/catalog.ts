/**
 * The actual state, read in at most three catalog queries whatever the number of roles:
 *   1. who we are, whether pg_authid (the stored verifiers) is readable, the databases, every membership
 *      and every explicit CONNECT grant (as strings of oids);
 *   2. every role with its attributes, comment (the marker) and, when readable, the salt of its verifier;
 *   3. only when needed: the table privileges of the users that declare some and which of the declared
 *      tables exist (connected database), the databases where the users to be dropped own objects or hold
 *      privileges (pg_shdepend), and the stored verifiers of the users whose password must be checked
 *      (a Secret changed, or the salt is not the one the reconciler set). A no-op run reads no verifier.
 */
import type pg from 'pg';
import type { DesiredUser, TablePrivilege } from './desired.ts';
import { parseMarker, type Marker } from './marker.ts';
import { connectGrantsByGrantee, membershipsByMember } from './packed-catalog.ts';

export interface ActualRole {
  readonly name: string;
  readonly login: boolean;
  readonly superuser: boolean;
  /** CREATEROLE, REPLICATION or BYPASSRLS: a role the reconciler would not hand out. */
  readonly elevated: boolean;
  readonly createdb: boolean;
  readonly inherit: boolean;
  readonly connectionLimit: number;
  readonly marker: Marker | undefined;
  /** Roles this role is a member of, sorted. */
  readonly memberOf: readonly string[];
  /** Databases with an explicit CONNECT grant to this role. */
  readonly connect: readonly string[];
  /** Databases where it owns objects or holds privileges (REASSIGN/DROP OWNED must run there). */
  readonly ownsIn: readonly string[];
  /** `<iterations>:<salt>` of the stored SCRAM verifier (null: none); undefined when pg_authid is not readable. */
  readonly salt?: string | null;
  /** The stored verifier, read only for the users whose password must be checked. */
  readonly password?: string | null;
}

/** What the third query must read, decided from the roles read by the second. */
export interface CatalogNeeds {
  /** Users that may be dropped: the databases where they own objects. */
  readonly drop: readonly string[];
  /** Users whose stored verifier must be checked against their Secret. */
  readonly verify: readonly string[];
}

export interface ActualState {
  readonly currentUser: string;
  readonly currentDatabase: string;
  /** Whether stored verifiers could be read (superuser, or SELECT on pg_authid). */
  readonly passwordsReadable: boolean;
  readonly databases: ReadonlySet<string>;
  readonly roles: ReadonlyMap<string, ActualRole>;
  /** user -> tableKey -> privileges, for users that declare privileges; tables they own are left out. */
  readonly tablePrivileges: ReadonlyMap<string, ReadonlyMap<string, ReadonlySet<TablePrivilege>>>;
  /** tableKey of the declared tables that exist in the connected database. */
  readonly existingTables: ReadonlySet<string>;
  /** Number of catalog queries it took. */
  readonly queries: number;
}

export function tableKey(schema: string, table: string): string {
  return JSON.stringify([schema, table]);
}

/** What sends catalog queries; a pg client fits (tests count the calls through it). */
export type Queryable = Pick<pg.ClientBase, 'query'>;

/*
 * aclexplode(acl) detoasts its argument again for every row it returns, which is quadratic in the size of
 * an ACL stored out of line (a database with 10,000 CONNECT grants); array_cat(acl, '{}') hands it an
 * in-memory copy instead. A NULL ACL must stay NULL (array_cat would make it a 0-D array).
 *
 * At 10,000 roles what costs is the work per row on both ends, not the round trips: a json_build_array
 * per row costs the server more than the rows themselves, and every string the pg driver makes costs the
 * client allocation and garbage collection. So the memberships are one bytea of (member, role) oid pairs
 * (int8send), the CONNECT grants one string of grantee oids per database (database names go through JSON,
 * which escapes them), both unpacked by packed-catalog.ts, and the roles come as arrays (rowMode 'array')
 * of six fields, the flags folded into one integer.
 */
const HEAD_SQL = `
SELECT current_user::text AS me, current_database()::text AS db,
       has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS authid,
       array(SELECT datname::text FROM pg_database WHERE datallowconn ORDER BY 1) AS databases,
       (SELECT string_agg(int8send((member::int8 << 32) | roleid::int8), '') FROM pg_auth_members) AS members,
       (SELECT json_object_agg(datname, grantees)
          FROM (SELECT d.datname::text AS datname, string_agg(a.grantee::text, ' ') AS grantees
                  FROM pg_database d,
                       aclexplode(CASE WHEN d.datacl IS NOT NULL THEN array_cat(d.datacl, '{}'::aclitem[]) END) a
                 WHERE a.privilege_type = 'CONNECT'
                 GROUP BY d.datname) c) AS connects`;

/** Bits of the roles query's `flags` column. */
const LOGIN = 1;
const SUPERUSER = 2;
const ELEVATED = 4;
const CREATEDB = 8;
const INHERIT = 16;

const ROLES_SQL = (source: 'pg_authid' | 'pg_roles') => `
SELECT r.oid::text AS oid, r.rolname::text AS name,
       r.rolcanlogin::int * ${LOGIN} + r.rolsuper::int * ${SUPERUSER}
         + (r.rolcreaterole OR r.rolreplication OR r.rolbypassrls)::int * ${ELEVATED}
         + r.rolcreatedb::int * ${CREATEDB} + r.rolinherit::int * ${INHERIT} AS flags,
       r.rolconnlimit AS connlimit,
       ${
         source === 'pg_authid'
           ? `CASE WHEN starts_with(r.rolpassword, 'SCRAM-SHA-256$') THEN split_part(r.rolpassword, '$', 2) END`
           : 'NULL::text'
       } AS salt,
       sd.description AS comment
  FROM ${source} r
  LEFT JOIN pg_shdescription sd ON sd.objoid = r.oid AND sd.classoid = 'pg_authid'::regclass`;

/**
 * The third query, only when needed: the table privileges of the users that declare some and which of
 * the declared tables exist (connected database), the databases where the users about to be dropped own
 * objects or hold privileges (pg_shdepend, every database), and the verifiers to check ($5 false when
 * pg_authid is not readable: the branch is then never executed).
 */
const DETAILS_SQL = `
SELECT 'grant' AS kind, n.nspname::text AS schema, c.relname::text AS table, g.rolname::text AS grantee,
       a.privilege_type AS privilege
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
       aclexplode(CASE WHEN c.relacl IS NOT NULL THEN array_cat(c.relacl, '{}'::aclitem[]) END) a
       JOIN pg_roles g ON g.oid = a.grantee
 WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND g.rolname = ANY($1::text[]) AND a.grantee <> c.relowner
UNION ALL
SELECT 'table', n.nspname::text, c.relname::text, NULL, NULL
  FROM unnest($2::text[], $3::text[]) AS w(schema, tbl)
  JOIN pg_namespace n ON n.nspname = w.schema
  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.tbl AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
UNION ALL
SELECT DISTINCT 'owns', d.datname::text, NULL, r.rolname::text, NULL
  FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.refobjid
 WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = ANY($4::text[])
UNION ALL
SELECT 'verifier', '', NULL, a.rolname::text, a.rolpassword
  FROM pg_authid a WHERE $5::boolean AND a.rolname = ANY($6::text[])`;

/** oid, name, flags, connlimit, salt, comment (rowMode 'array'). */
type RoleRow = [string, string, number, number, string | null, string | null];

interface HeadRow {
  me: string;
  db: string;
  authid: boolean;
  databases: string[];
  /** (member oid, role oid) pairs, each a big-endian uint32 */
  members: Buffer | null;
  /** database -> `grantee grantee ...` (oids; 0 is PUBLIC) */
  connects: Record<string, string> | null;
}

/**
 * Reads the actual state. `needs` decides, from the roles read, what the third query reads besides the
 * declared table privileges: the users that may be dropped and the users whose verifier must be checked.
 */
export async function readActualState(
  db: Queryable,
  desired: readonly DesiredUser[],
  needs: (roles: ReadonlyMap<string, ActualRole>, passwordsReadable: boolean) => CatalogNeeds,
): Promise<ActualState> {
  const info = (await db.query<HeadRow>(HEAD_SQL)).rows[0];
  if (info === undefined) throw new Error('catalog query returned no row');
  const { rows } = await db.query<RoleRow>({
    text: ROLES_SQL(info.authid ? 'pg_authid' : 'pg_roles'),
    rowMode: 'array',
  });
  const oids = rows.map((row) => Number(row[0]));
  const memberships = membershipsByMember(
    info.members,
    oids,
    rows.map((row) => row[1]),
  );
  const connectGrants = connectGrantsByGrantee(info.connects);
  const none: readonly string[] = [];
  const roles = new Map<string, ActualRole>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as RoleRow;
    const name = row[1];
    const flags = row[2];
    const oid = oids[i] ?? 0;
    roles.set(name, {
      name,
      login: (flags & LOGIN) !== 0,
      superuser: (flags & SUPERUSER) !== 0,
      elevated: (flags & ELEVATED) !== 0,
      createdb: (flags & CREATEDB) !== 0,
      inherit: (flags & INHERIT) !== 0,
      connectionLimit: row[3],
      marker: parseMarker(row[5]),
      memberOf: memberships.namesOf(oid),
      connect: connectGrants.namesOf(oid),
      ownsIn: none,
      salt: info.authid ? row[4] : undefined,
    });
  }

  const declaring = desired.filter((u) => u.privileges !== undefined);
  const { drop: dropping, verify } = needs(roles, info.authid);
  const tablePrivileges = new Map<string, Map<string, Set<TablePrivilege>>>();
  const existingTables = new Set<string>();
  let queries = 2;
  const verifying = info.authid ? verify : [];
  if (declaring.length > 0 || dropping.length > 0 || verifying.length > 0) {
    const tables = declaring.flatMap((u) => u.privileges ?? []);
    const result = await db.query<{
      kind: string;
      schema: string;
      table: string | null;
      grantee: string | null;
      privilege: string | null;
    }>(DETAILS_SQL, [
      declaring.map((u) => u.username),
      tables.map((t) => t.schema),
      tables.map((t) => t.table),
      dropping,
      verifying.length > 0,
      verifying,
    ]);
    queries++;
    const owns = new Map<string, string[]>();
    for (const row of result.rows) {
      if (row.kind === 'verifier') {
        const role = row.grantee === null ? undefined : roles.get(row.grantee);
        if (role !== undefined) roles.set(role.name, { ...role, password: row.privilege });
        continue;
      }
      if (row.kind === 'owns') {
        if (row.grantee !== null) owns.set(row.grantee, [...(owns.get(row.grantee) ?? []), row.schema]);
        continue;
      }
      const key = tableKey(row.schema, row.table ?? '');
      if (row.kind === 'table') existingTables.add(key);
      else if (row.grantee !== null && row.privilege !== null) {
        const byTable = tablePrivileges.get(row.grantee) ?? new Map<string, Set<TablePrivilege>>();
        tablePrivileges.set(row.grantee, byTable);
        const set = byTable.get(key) ?? new Set<TablePrivilege>();
        byTable.set(key, set);
        set.add(row.privilege as TablePrivilege);
      }
    }
    for (const [name, databases] of owns) {
      const role = roles.get(name);
      if (role !== undefined) roles.set(name, { ...role, ownsIn: databases.sort() });
    }
  }
  return {
    currentUser: info.me,
    currentDatabase: info.db,
    passwordsReadable: info.authid,
    databases: new Set(info.databases),
    roles,
    tablePrivileges,
    existingTables,
    queries,
  };
}
