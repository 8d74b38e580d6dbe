/**
 * The SQL of each planned step. Every name is quoted with escapeIdentifier and every literal (the marker,
 * the SCRAM verifier) with escapeLiteral: nothing from the ConfigMap is spliced raw, so a name such as
 * `x"; DROP TABLE t; --` stays one identifier. Passwords appear only as client-computed SCRAM verifiers.
 */
import { escapeLiteral } from 'pg';
import type { UserAttributes } from './desired.ts';
import { renderMarker } from './marker.ts';
import { ident, qualified } from './names.ts';
import type { Step } from './plan.ts';
import { verifierSalt } from './scram.ts';

export interface RenderContext {
  readonly scope: string;
  /** Record the verifier's salt in the marker (when the reconciler can read pg_authid). */
  readonly passwordsReadable: boolean;
  /** user -> SCRAM verifier, for create-user and set-password steps. */
  readonly verifiers: ReadonlyMap<string, string>;
}

function attributeSql(a: Partial<UserAttributes> & { login?: boolean }): string {
  const parts: string[] = [];
  if (a.login !== undefined) parts.push(a.login ? 'LOGIN' : 'NOLOGIN');
  if (a.createdb !== undefined) parts.push(a.createdb ? 'CREATEDB' : 'NOCREATEDB');
  if (a.inherit !== undefined) parts.push(a.inherit ? 'INHERIT' : 'NOINHERIT');
  if (a.connectionLimit !== undefined) parts.push(`CONNECTION LIMIT ${Math.trunc(a.connectionLimit)}`);
  return parts.join(' ');
}

function comment(role: string, text: string): string {
  return `COMMENT ON ROLE ${ident(role)} IS ${escapeLiteral(text)}`;
}

function userMarker(ctx: RenderContext, secretVersion: string, verifier?: string): string {
  return renderMarker({
    scope: ctx.scope,
    kind: 'user',
    secret: secretVersion,
    ...(ctx.passwordsReadable && verifierSalt(verifier) !== undefined
      ? { salt: verifierSalt(verifier) }
      : {}),
  });
}

function verifierOf(ctx: RenderContext, user: string): string {
  const v = ctx.verifiers.get(user);
  if (v === undefined) throw new Error(`no verifier computed for ${user}`);
  return v;
}

/** REASSIGN OWNED and DROP OWNED, for each database where a dropped user owns objects or has privileges. */
export function ownedCleanupSql(user: string, fallback: string): string[] {
  return [`REASSIGN OWNED BY ${ident(user)} TO ${ident(fallback)}`, `DROP OWNED BY ${ident(user)}`];
}

/** The statements of one step in the connected database. */
export function stepSql(step: Step, ctx: RenderContext): string[] {
  switch (step.op) {
    case 'create-role':
      return [
        `CREATE ROLE ${ident(step.role)} NOLOGIN`,
        comment(step.role, renderMarker({ scope: ctx.scope, kind: 'role' })),
      ];
    case 'create-user': {
      const verifier = verifierOf(ctx, step.user);
      return [
        `CREATE ROLE ${ident(step.user)} ${attributeSql({ login: true, ...step.attributes })} PASSWORD ${escapeLiteral(verifier)}`,
        comment(step.user, userMarker(ctx, step.secretVersion, verifier)),
      ];
    }
    case 'alter-user':
      return [`ALTER ROLE ${ident(step.user)} ${attributeSql(step.changes)}`];
    case 'set-password': {
      const verifier = verifierOf(ctx, step.user);
      return [
        `ALTER ROLE ${ident(step.user)} PASSWORD ${escapeLiteral(verifier)}`,
        comment(step.user, userMarker(ctx, step.secretVersion, verifier)),
      ];
    }
    case 'refresh-marker':
      return [
        comment(
          step.user,
          renderMarker({
            scope: ctx.scope,
            kind: 'user',
            secret: step.secretVersion,
            ...(step.salt === undefined ? {} : { salt: step.salt }),
          }),
        ),
      ];
    case 'grant-roles':
      return [`GRANT ${step.roles.map(ident).join(', ')} TO ${ident(step.user)}`];
    case 'revoke-roles':
      return [`REVOKE ${step.roles.map(ident).join(', ')} FROM ${ident(step.user)}`];
    case 'grant-connect':
      return [`GRANT CONNECT ON DATABASE ${ident(step.database)} TO ${ident(step.user)}`];
    case 'revoke-connect':
      return [`REVOKE CONNECT ON DATABASE ${ident(step.database)} FROM ${ident(step.user)}`];
    case 'grant-privileges':
      return [
        `GRANT ${step.privileges.join(', ')} ON TABLE ${qualified(step.schema, step.table)} TO ${ident(step.user)}`,
      ];
    case 'revoke-privileges':
      return [
        `REVOKE ${step.privileges.join(', ')} ON TABLE ${qualified(step.schema, step.table)} FROM ${ident(step.user)}`,
      ];
    case 'drop-user':
      return [...ownedCleanupSql(step.user, step.fallback), `DROP ROLE ${ident(step.user)}`];
  }
}

/** Grantees per GRANT/REVOKE CONNECT statement. */
const GRANTEES_PER_STATEMENT = 1000;

/**
 * The statements of a whole plan, in order. CONNECT grants and revokes on one database are merged into
 * one statement per 1000 users: each GRANT on a database rewrites its whole ACL (one entry per user), so
 * one statement per user costs time and catalog bloat quadratic in the number of users.
 */
export function planSql(steps: readonly Step[], ctx: RenderContext): string[] {
  const out: string[] = [];
  // (op, database) -> users, for the CONNECT steps met since the last other step.
  const pending = new Map<
    string,
    { op: 'grant-connect' | 'revoke-connect'; database: string; users: string[] }
  >();
  const flush = () => {
    for (const run of pending.values()) {
      for (let i = 0; i < run.users.length; i += GRANTEES_PER_STATEMENT) {
        const users = run.users
          .slice(i, i + GRANTEES_PER_STATEMENT)
          .map(ident)
          .join(', ');
        out.push(
          run.op === 'grant-connect'
            ? `GRANT CONNECT ON DATABASE ${ident(run.database)} TO ${users}`
            : `REVOKE CONNECT ON DATABASE ${ident(run.database)} FROM ${users}`,
        );
      }
    }
    pending.clear();
  };
  for (const step of steps) {
    if (step.op === 'grant-connect' || step.op === 'revoke-connect') {
      const key = JSON.stringify([step.op, step.database]);
      const run = pending.get(key) ?? { op: step.op, database: step.database, users: [] };
      pending.set(key, run);
      run.users.push(step.user);
      continue;
    }
    flush();
    out.push(...stepSql(step, ctx));
  }
  flush();
  return out;
}
