import { describe, expect, it } from 'vitest';
import { parseMarker } from '../../../shared/pg-roles/marker.ts';
import { ident } from '../../../shared/pg-roles/names.ts';
import type { Step } from '../../../shared/pg-roles/plan.ts';
import { planSql, stepSql } from '../../../shared/pg-roles/sql.ts';

const VERIFIER = 'SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$AAAA:BBBB';
const ctx = { scope: 'postgres/cm', passwordsReadable: true, verifiers: new Map([['alice', VERIFIER]]) };
const sql = (step: Step) => stepSql(step, ctx);

describe('stepSql', () => {
  it('creates a group role NOLOGIN and marks it', () => {
    expect(sql({ op: 'create-role', role: 'read_only' })).toEqual([
      'CREATE ROLE "read_only" NOLOGIN',
      `COMMENT ON ROLE "read_only" IS 'tenant-lifecycle/pg-reconcile {"v":1,"scope":"postgres/cm","kind":"role"}'`,
    ]);
  });

  it('creates a user with the client-computed verifier, never a plaintext, and marks it with the Secret version', () => {
    const [create, comment] = sql({
      op: 'create-user',
      user: 'alice',
      attributes: { createdb: false, inherit: true, connectionLimit: -1 },
      secret: 'user-alice-secret',
      secretVersion: 'uid/7',
    });
    expect(create).toBe(
      `CREATE ROLE "alice" LOGIN NOCREATEDB INHERIT CONNECTION LIMIT -1 PASSWORD '${VERIFIER}'`,
    );
    const marker = parseMarker(/IS '(.*)'$/.exec(comment ?? '')?.[1]);
    expect(marker).toMatchObject({ scope: 'postgres/cm', kind: 'user', secret: 'uid/7' });
    expect(marker?.salt).toBe('4096:c2FsdHNhbHRzYWx0c2FsdA==');
  });

  it('leaves the verifier digest out of the marker when pg_authid is not readable', () => {
    const [, comment] = stepSql(
      { op: 'set-password', user: 'alice', secret: 's', secretVersion: 'uid/8' },
      { ...ctx, passwordsReadable: false },
    );
    expect(comment).not.toContain('"salt"');
  });

  it('refuses to render a password step without a verifier (never falls back to plaintext)', () => {
    expect(() => sql({ op: 'set-password', user: 'bob', secret: 's', secretVersion: 'v' })).toThrow(
      /no verifier/,
    );
  });

  it('quotes hostile names as single identifiers', () => {
    const evil = `x"; DROP TABLE t; --`;
    expect(ident(evil)).toBe(`"x""; DROP TABLE t; --"`);
    expect(sql({ op: 'grant-roles', user: evil, roles: ["o'brien", 'with space'] })).toEqual([
      `GRANT "o'brien", "with space" TO "x""; DROP TABLE t; --"`,
    ]);
    expect(sql({ op: 'grant-connect', user: 'a', database: 'my"db' })).toEqual([
      'GRANT CONNECT ON DATABASE "my""db" TO "a"',
    ]);
    expect(
      sql({
        op: 'grant-privileges',
        user: 'a',
        schema: 's"x',
        table: 't;y',
        privileges: ['SELECT', 'INSERT'],
      }),
    ).toEqual(['GRANT SELECT, INSERT ON TABLE "s""x"."t;y" TO "a"']);
  });

  it('escapes quotes and backslashes in the marker literal (a scope with a quote stays a literal)', () => {
    const [, comment] = stepSql({ op: 'create-role', role: 'r' }, { ...ctx, scope: "ns/it's\\" });
    // pg's escapeLiteral doubles quotes and switches to E'' with doubled backslashes.
    expect(comment).toBe(
      `COMMENT ON ROLE "r" IS  E'tenant-lifecycle/pg-reconcile {"v":1,"scope":"ns/it''s\\\\\\\\","kind":"role"}'`,
    );
  });

  it('alters only the attributes that changed', () => {
    expect(sql({ op: 'alter-user', user: 'a', changes: { login: true, connectionLimit: 3 } })).toEqual([
      'ALTER ROLE "a" LOGIN CONNECTION LIMIT 3',
    ]);
  });

  it('drops a user after handing its objects to the fallback role', () => {
    expect(sql({ op: 'drop-user', user: 'bob', databases: ['postgres'], fallback: 'postgres' })).toEqual([
      'REASSIGN OWNED BY "bob" TO "postgres"',
      'DROP OWNED BY "bob"',
      'DROP ROLE "bob"',
    ]);
  });

  it('merges CONNECT grants and revokes per database into one statement per 1000 users (a GRANT rewrites the whole ACL)', () => {
    const users = Array.from({ length: 1001 }, (_, i) => `u${String(i)}`);
    const steps: Step[] = [
      { op: 'create-role', role: 'g' },
      ...users.map((user) => ({ op: 'grant-connect' as const, user, database: 'app' })),
      { op: 'grant-connect', user: 'x', database: 'other' },
      { op: 'revoke-connect', user: 'y', database: 'app' },
      { op: 'drop-user', user: 'z', databases: ['postgres'], fallback: 'postgres' },
    ];
    const sql = planSql(steps, ctx);
    expect(sql).toHaveLength(2 + 2 + 1 + 1 + 3);
    expect(sql[2]).toMatch(/^GRANT CONNECT ON DATABASE "app" TO "u0", "u1", .*"u999"$/);
    expect(sql[3]).toBe('GRANT CONNECT ON DATABASE "app" TO "u1000"');
    expect(sql[4]).toBe('GRANT CONNECT ON DATABASE "other" TO "x"');
    expect(sql[5]).toBe('REVOKE CONNECT ON DATABASE "app" FROM "y"');
    expect(sql[6]).toBe('REASSIGN OWNED BY "z" TO "postgres"');
  });
});
