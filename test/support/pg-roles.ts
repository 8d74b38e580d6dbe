/**
 * Helpers of the pg-reconcile tests on the real PostgreSQL: unique role-name prefixes (roles are
 * cluster-wide), logging in as a user with a password (the test server asks every login for its password,
 * scram-sha-256), and reading roles back from the catalog.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A prefix like `p3fa9c_` that no other test file uses. */
export function rolePrefix(): string {
  return `p${randomBytes(3).toString('hex')}_`;
}

export function urlAs(url: string, user: string, password: string, database?: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  if (database !== undefined) u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** 'ok', or the SQLSTATE of the refusal (28P01: wrong password). */
export async function login(url: string, user: string, password: string, database?: string): Promise<string> {
  const client = new pg.Client({ connectionString: urlAs(url, user, password, database) });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface RoleRow {
  name: string;
  login: boolean;
  password: string | null;
  comment: string | null;
  member_of: string[];
}

export async function readRoles(superuserUrl: string, prefix: string): Promise<Map<string, RoleRow>> {
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    const { rows } = await client.query<RoleRow>(
      `SELECT r.rolname AS name, r.rolcanlogin AS login, r.rolpassword AS password,
              shobj_description(r.oid, 'pg_authid') AS comment,
              array(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                     WHERE m.member = r.oid ORDER BY 1) AS member_of
         FROM pg_authid r WHERE starts_with(r.rolname, $1)`,
      [prefix],
    );
    return new Map(rows.map((r) => [r.name, r]));
  } finally {
    await client.end();
  }
}

/** Waits until `check` holds (the server reloads its configuration asynchronously). */
export async function eventually(check: () => Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
