import { describe, expect, it } from 'vitest';
import { tableKey } from '../../../shared/pg-roles/catalog.ts';
import {
  dropAllowance,
  escalationOf,
  planReconcile,
  unlistedManagedUsers,
  type PasswordState,
  type PlanOptions,
} from '../../../shared/pg-roles/plan.ts';
import { verifierSalt } from '../../../shared/pg-roles/scram.ts';
import { refusal } from '../../support/platform-error.ts';
import type { UserSecret } from '../../../shared/pg-roles/source.ts';
import { actual, desired, managedRole, managedUser, planInput, role, SCOPE, secrets } from './fixtures.ts';

const options: PlanOptions = { scope: SCOPE, maxDropShare: 0.25, force: false };
const plan = (
  input: {
    yaml?: string;
    roles?: Parameters<typeof actual>[0];
    secrets?: ReadonlyMap<string, UserSecret>;
    passwords?: ReadonlyMap<string, PasswordState>;
    state?: Partial<ReturnType<typeof actual>>;
  },
  extra: Partial<PlanOptions> = {},
) =>
  planReconcile(
    planInput(
      desired(input.yaml),
      actual(input.roles ?? [], input.state),
      input.secrets ?? secrets('alice', 'bob'),
      input.passwords,
    ),
    { ...options, ...extra },
  );

const ops = (p: ReturnType<typeof plan>) => p.steps.map((s) => `${s.op} ${'user' in s ? s.user : s.role}`);

const current = (...users: string[]) => new Map(users.map((u) => [u, 'current' as const]));

describe('planReconcile', () => {
  it("from empty: creates the seed's roles first, then alice and bob with their roles and CONNECT", () => {
    const p = plan({});
    expect(ops(p)).toEqual([
      'create-role analyst',
      'create-role developer',
      'create-role read_only',
      'create-role read_write',
      'create-user alice',
      'create-user bob',
      'grant-roles alice',
      'grant-roles bob',
      'grant-connect alice',
      'grant-connect bob',
    ]);
    expect(p.steps[6]).toEqual({ op: 'grant-roles', user: 'alice', roles: ['analyst', 'read_only'] });
    expect(p.steps[8]).toEqual({ op: 'grant-connect', user: 'alice', database: 'myapp' });
    expect(p.summary).toMatchObject({ users_created: 2, roles_created: 4, drift_detected: 2, errors: 0 });
    expect(p.managed).toEqual({ users: 2, roles: 4 });
  });

  it('plans nothing when everything is in place and the passwords are current', () => {
    const p = plan({
      roles: [
        managedRole('analyst'),
        managedRole('read_only'),
        role('developer'),
        role('read_write'),
        managedUser('alice', { memberOf: ['analyst', 'read_only'] }),
        managedUser('bob', { memberOf: ['developer', 'read_write'] }),
      ],
      passwords: current('alice', 'bob'),
    });
    expect(p.steps).toEqual([]);
    expect(p.summary.drift_detected).toBe(0);
    expect(p.managed).toEqual({ users: 2, roles: 2 });
  });

  it('never creates a role that exists, managed or not', () => {
    const p = plan({ roles: [role('analyst'), role('read_only', { login: true })] });
    expect(ops(p).filter((o) => o.startsWith('create-role'))).toEqual([
      'create-role developer',
      'create-role read_write',
    ]);
  });

  it('a role change: revokes what is no longer listed and grants what is new', () => {
    const p = plan({
      yaml: 'users:\n  - username: alice\n    database: myapp\n    roles: [analyst, writer]\n',
      roles: [
        role('analyst'),
        role('read_only'),
        role('writer'),
        managedUser('alice', { memberOf: ['analyst', 'read_only'] }),
      ],
      secrets: secrets('alice'),
      passwords: current('alice'),
    });
    expect(p.steps).toEqual([
      { op: 'revoke-roles', user: 'alice', roles: ['read_only'] },
      { op: 'grant-roles', user: 'alice', roles: ['writer'] },
    ]);
    expect(p.summary).toMatchObject({ users_updated: 1, drift_detected: 1 });
  });

  it('corrects memberships granted by hand to a managed user (drift)', () => {
    const p = plan({
      yaml: 'users:\n  - username: alice\n    database: myapp\n',
      roles: [role('admins'), managedUser('alice', { memberOf: ['admins'] })],
      secrets: secrets('alice'),
      passwords: current('alice'),
    });
    expect(p.steps).toEqual([{ op: 'revoke-roles', user: 'alice', roles: ['admins'] }]);
  });

  it('rotates a password whose Secret changed, and only refreshes the marker when the password is the same', () => {
    const stored = 'SCRAM-SHA-256$4096:c2FsdA==$a:b';
    const p = plan({
      roles: [
        role('analyst'),
        role('read_only'),
        role('developer'),
        role('read_write'),
        managedUser('alice', {
          memberOf: ['analyst', 'read_only'],
          password: stored,
          salt: verifierSalt(stored),
        }),
        managedUser('bob', {
          memberOf: ['developer', 'read_write'],
          password: stored,
          salt: verifierSalt(stored),
        }),
      ],
      passwords: new Map<string, PasswordState>([
        ['alice', 'changed'],
        ['bob', 'refresh-marker'],
      ]),
      state: { passwordsReadable: true },
    });
    expect(p.steps).toEqual([
      { op: 'set-password', user: 'alice', secret: 'user-alice-secret', secretVersion: 'uid-alice/1' },
      { op: 'refresh-marker', user: 'bob', secretVersion: 'uid-bob/1', salt: verifierSalt(stored) },
    ]);
    expect(p.summary).toMatchObject({ passwords_rotated: 1, users_updated: 1 });
    expect(JSON.stringify(p)).not.toContain('SCRAM-SHA-256$');
  });

  it('rotates when nothing tells the password is current (no password state)', () => {
    const p = plan({
      yaml: 'users:\n  - username: alice\n    database: myapp\n',
      roles: [managedUser('alice')],
      secrets: secrets('alice'),
    });
    expect(ops(p)).toEqual(['set-password alice']);
  });

  it('alters attributes that differ', () => {
    const p = plan({
      yaml: 'users:\n  - username: alice\n    database: myapp\n    attributes: { createdb: true, connectionLimit: 3 }\n',
      roles: [managedUser('alice', { connectionLimit: 10 })],
      secrets: secrets('alice'),
      passwords: current('alice'),
    });
    expect(p.steps).toEqual([
      { op: 'alter-user', user: 'alice', changes: { createdb: true, connectionLimit: 3 } },
    ]);
  });

  it('moves CONNECT when the database changes (the predecessor ignored this)', () => {
    const p = plan({
      yaml: 'users:\n  - username: alice\n    database: postgres\n',
      roles: [managedUser('alice')],
      secrets: secrets('alice'),
      passwords: current('alice'),
    });
    expect(p.steps).toEqual([
      { op: 'grant-connect', user: 'alice', database: 'postgres' },
      { op: 'revoke-connect', user: 'alice', database: 'myapp' },
    ]);
  });

  it('turns a managed group role that is now listed as a user into a login user with a password', () => {
    const p = plan({
      yaml: 'users:\n  - username: analyst\n    database: myapp\n',
      roles: [managedRole('analyst')],
      secrets: secrets('analyst'),
    });
    expect(ops(p)).toEqual(['alter-user analyst', 'set-password analyst', 'grant-connect analyst']);
    expect(p.steps[0]).toMatchObject({ changes: { login: true } });
  });

  it('creates a role that is also a user only once, as the user, before granting it', () => {
    const p = plan({
      yaml: 'users:\n  - username: dev\n    roles: [lead]\n  - username: lead\n',
      secrets: secrets('lead', 'dev'),
    });
    expect(ops(p)).toEqual([
      'create-user dev',
      'create-user lead',
      'grant-roles dev',
      'grant-connect dev',
      'grant-connect lead',
    ]);
  });

  describe('skips and reports, never touching', () => {
    it('a user whose Secret is missing (the others go on)', () => {
      const p = plan({ secrets: secrets('bob') });
      expect(p.skipped).toEqual([
        {
          username: 'alice',
          reason: 'missing_secret',
          message: 'Secret user-alice-secret (key password) not found',
        },
      ]);
      expect(ops(p)).toContain('create-user bob');
      expect(ops(p)).not.toContain('create-user alice');
      expect(p.summary.errors).toBe(1);
    });

    it('a role that exists and is not managed (made by hand)', () => {
      const p = plan({ roles: [role('alice', { login: true })] });
      expect(p.skipped[0]).toMatchObject({ username: 'alice', reason: 'unmanaged' });
      expect(ops(p).some((o) => o.endsWith(' alice'))).toBe(false);
    });

    it("a role managed by another reconciler's scope", () => {
      const p = plan({
        roles: [role('alice', { login: true, marker: { scope: 'other/cm', kind: 'user' } })],
      });
      expect(p.skipped[0]?.message).toMatch(/managed by another reconciler \(other\/cm\)/);
    });

    it('a managed user made superuser by hand', () => {
      const p = plan({ roles: [managedUser('alice', { superuser: true })] });
      expect(p.skipped[0]).toMatchObject({ username: 'alice', reason: 'unsafe_role' });
    });

    it('a user of a database that does not exist', () => {
      const p = plan({
        yaml: 'users:\n  - username: alice\n    database: nope\n',
        secrets: secrets('alice'),
      });
      expect(p.skipped[0]).toMatchObject({ reason: 'missing_database' });
    });

    it('a built-in pg_ role that does not exist on this server', () => {
      const p = plan({
        yaml: 'users:\n  - username: alice\n    roles: [pg_future]\n',
        secrets: secrets('alice'),
      });
      expect(p.skipped[0]).toMatchObject({ reason: 'missing_role' });
    });

    it("the reconciler's own role and the fallback role", () => {
      const p = plan(
        { yaml: 'users:\n  - username: keeper\n', secrets: secrets('keeper') },
        { fallbackRole: 'keeper' },
      );
      expect(p.skipped[0]).toMatchObject({ username: 'keeper', reason: 'unmanaged' });
    });

    it('rejected entries, reported with their reason', () => {
      const p = plan({ yaml: 'users:\n  - username: pg_x\n  - username: ok\n', secrets: secrets('ok') });
      expect(p.skipped[0]).toMatchObject({ username: 'pg_x', reason: 'invalid_entry' });
    });
  });

  describe('refuses the whole run (400, no step) when a granted role leads to superuser or similar', () => {
    const yaml = (granted: string) =>
      `users:\n  - username: alice\n    roles: [${granted}]\n  - username: bob\n    roles: [reader]\n`;
    const refused = (granted: string, roles: Parameters<typeof actual>[0]) =>
      refusal(() => plan({ yaml: yaml(granted), roles: [...roles, role('reader')] }));

    it('directly: SUPERUSER, CREATEROLE/REPLICATION/BYPASSRLS', () => {
      expect(refused('boss', [role('boss', { superuser: true })])).toBe(
        '400 ConfigMap grants boss, which would hand out superuser or similar rights (boss: boss has SUPERUSER); the run was refused and nothing was changed',
      );
      expect(refused('boss', [role('boss', { elevated: true })])).toMatch(
        /^400 .*boss has CREATEROLE, REPLICATION or BYPASSRLS/,
      );
    });

    it('transitively, through memberships in the catalog (cycles included)', () => {
      const chain = [
        role('admins', { superuser: true }),
        role('ops', { memberOf: ['admins'] }),
        role('team', { memberOf: ['ops'] }),
      ];
      expect(refused('ops', chain)).toMatch(/\(ops -> admins: admins has SUPERUSER\)/);
      expect(refused('team', chain)).toMatch(/\(team -> ops -> admins: admins has SUPERUSER\)/);
      const cycle = [
        role('a', { memberOf: ['b'] }),
        role('b', { memberOf: ['a', 'c'] }),
        role('c', { memberOf: ['pg_execute_server_program'] }),
      ];
      expect(refused('a', cycle)).toMatch(/a -> b -> c -> pg_execute_server_program: .*programs/);
    });

    it('positive control: the same ConfigMap with an ordinary role, or a role whose parents are ordinary, plans', () => {
      const p = plan({
        yaml: yaml('ops'),
        roles: [role('ops', { memberOf: ['readers'] }), role('readers'), role('reader')],
        secrets: secrets('alice', 'bob'),
      });
      expect(ops(p)).toEqual([
        'create-user alice',
        'create-user bob',
        'grant-roles alice',
        'grant-roles bob',
        'grant-connect alice',
        'grant-connect bob',
      ]);
      expect(escalationOf('ops', new Map([['ops', role('ops', { memberOf: ['pg_monitor'] })]]))).toBe(
        undefined,
      );
      expect(escalationOf('ops', new Map([['ops', role('ops', { memberOf: ['pg_read_all_data'] })]]))).toBe(
        "ops -> pg_read_all_data: pg_read_all_data is a built-in role that reads the server's files or every password verifier, or runs programs",
      );
    });
  });

  describe('drops', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => managedUser(`u${String(i)}`));

    it('drops a managed user gone from the ConfigMap after REASSIGN/DROP OWNED in every database where it owns objects', () => {
      const p = plan(
        {
          yaml: 'users:\n  - username: alice\n    database: myapp\n',
          roles: [managedUser('alice'), managedUser('bob', { ownsIn: ['myapp'] }), ...many(3)],
          secrets: secrets('alice'),
          passwords: current('alice'),
          state: {},
        },
        { maxDropShare: 1 },
      );
      expect(p.steps.filter((s) => s.op === 'drop-user')).toEqual([
        { op: 'drop-user', user: 'bob', databases: ['myapp', 'postgres'], fallback: 'postgres' },
        { op: 'drop-user', user: 'u0', databases: ['postgres'], fallback: 'postgres' },
        { op: 'drop-user', user: 'u1', databases: ['postgres'], fallback: 'postgres' },
        { op: 'drop-user', user: 'u2', databases: ['postgres'], fallback: 'postgres' },
      ]);
      expect(p.summary.users_deleted).toBe(4);
    });

    it('uses the configured fallback role', () => {
      const p = plan(
        {
          yaml: 'users:\n  - username: alice\n',
          roles: [managedUser('alice'), managedUser('bob')],
          secrets: secrets('alice'),
          passwords: current('alice'),
        },
        { fallbackRole: 'owner_of_last_resort' },
      );
      expect(p.steps.at(-1)).toMatchObject({
        op: 'drop-user',
        user: 'bob',
        fallback: 'owner_of_last_resort',
      });
    });

    it('never drops unmanaged roles, system roles, group roles or roles of another scope', () => {
      const p = plan({
        yaml: 'users:\n  - username: alice\n',
        roles: [
          managedUser('alice'),
          role('handmade', { login: true }),
          managedRole('analyst'),
          role('theirs', { login: true, marker: { scope: 'other/cm', kind: 'user' } }),
          role('pg_monitor'),
        ],
        secrets: secrets('alice'),
        passwords: current('alice'),
      });
      expect(p.steps.filter((s) => s.op === 'drop-user')).toEqual([]);
    });

    it('never drops a managed user whose entry was rejected (still wanted, only unreadable)', () => {
      const p = plan({
        yaml: 'users:\n  - username: alice\n  - username: bob\n    attributes: { superuser: true }\n',
        roles: [managedUser('alice'), managedUser('bob')],
        secrets: secrets('alice', 'bob'),
        passwords: current('alice'),
      });
      expect(p.steps.filter((s) => s.op === 'drop-user')).toEqual([]);
    });

    it('never drops a managed user whose Secret is missing (it is still listed)', () => {
      const p = plan({
        yaml: 'users:\n  - username: alice\n  - username: bob\n',
        roles: [managedUser('alice'), managedUser('bob')],
        secrets: secrets('alice'),
        passwords: current('alice'),
      });
      expect(p.steps.filter((s) => s.op === 'drop-user')).toEqual([]);
      expect(p.skipped[0]).toMatchObject({ username: 'bob', reason: 'missing_secret' });
    });

    it('refuses to drop more than the share of managed users unless forced', () => {
      const input = {
        yaml: 'users:\n  - username: u0\n',
        roles: many(8),
        secrets: secrets('u0'),
        passwords: current('u0'),
      };
      const refused = plan(input);
      expect(refused.steps.filter((s) => s.op === 'drop-user')).toEqual([]);
      expect(refused.refusedDrops?.users).toHaveLength(7);
      expect(refused.refusedDrops?.message).toMatch(
        /refusing to drop 7 of 8 managed users.*at most 2.*force/,
      );
      expect(refused.summary.errors).toBe(1);
      const forced = plan(input, { force: true });
      expect(forced.steps.filter((s) => s.op === 'drop-user')).toHaveLength(7);
    });

    it('allows drops within the share', () => {
      const p = plan({
        yaml: `users:\n${['u0', 'u1', 'u2', 'u3', 'u4', 'u5'].map((u) => `  - username: ${u}\n`).join('')}`,
        roles: many(8),
        secrets: secrets('u0', 'u1', 'u2', 'u3', 'u4', 'u5'),
        passwords: current('u0', 'u1', 'u2', 'u3', 'u4', 'u5'),
      });
      expect(p.steps.filter((s) => s.op === 'drop-user').map((s) => s.user)).toEqual(['u6', 'u7']);
    });

    it('always allows one drop (removing bob from alice and bob works without force)', () => {
      expect(dropAllowance(2, 0.25)).toBe(1);
      expect(dropAllowance(0, 0.25)).toBe(1);
      expect(dropAllowance(100, 0.25)).toBe(25);
      expect(dropAllowance(100, 0)).toBe(1);
    });

    it('does not drop a managed user that is still needed as a role', () => {
      const p = plan({
        yaml: 'users:\n  - username: dev\n    database: myapp\n    roles: [lead]\n',
        roles: [managedUser('dev'), managedUser('lead')],
        secrets: secrets('dev'),
        passwords: current('dev'),
      });
      expect(p.steps).toEqual([{ op: 'grant-roles', user: 'dev', roles: ['lead'] }]);
    });
  });

  describe('table privileges', () => {
    const yaml =
      'users:\n  - username: alice\n    privileges:\n      orders: [SELECT, INSERT]\n      sales.items: [SELECT]\n';
    const orders = tableKey('public', 'orders');
    const items = tableKey('sales', 'items');

    it('grants declared privileges on a new user', () => {
      const p = plan({
        yaml,
        secrets: secrets('alice'),
        state: { existingTables: new Set([orders, items]) },
      });
      expect(p.steps.filter((s) => s.op === 'grant-privileges')).toEqual([
        {
          op: 'grant-privileges',
          user: 'alice',
          schema: 'public',
          table: 'orders',
          privileges: ['SELECT', 'INSERT'],
        },
        { op: 'grant-privileges', user: 'alice', schema: 'sales', table: 'items', privileges: ['SELECT'] },
      ]);
    });

    it('grants what is missing, revokes what is extra, and revokes privileges on undeclared tables', () => {
      const p = plan({
        yaml,
        roles: [managedUser('alice', { connect: ['postgres'] })],
        secrets: secrets('alice'),
        passwords: current('alice'),
        state: {
          existingTables: new Set([orders, items]),
          tablePrivileges: new Map([
            [
              'alice',
              new Map([
                [orders, new Set(['SELECT', 'DELETE'] as const)],
                [tableKey('public', 'secrets'), new Set(['SELECT'] as const)],
              ]),
            ],
          ]),
        },
      });
      expect(p.steps.filter((s) => s.op.endsWith('privileges'))).toEqual([
        { op: 'grant-privileges', user: 'alice', schema: 'public', table: 'orders', privileges: ['INSERT'] },
        { op: 'revoke-privileges', user: 'alice', schema: 'public', table: 'orders', privileges: ['DELETE'] },
        { op: 'grant-privileges', user: 'alice', schema: 'sales', table: 'items', privileges: ['SELECT'] },
        {
          op: 'revoke-privileges',
          user: 'alice',
          schema: 'public',
          table: 'secrets',
          privileges: ['SELECT'],
        },
      ]);
    });

    it('reports a declared table that does not exist instead of failing the run', () => {
      const p = plan({ yaml, secrets: secrets('alice'), state: { existingTables: new Set([orders]) } });
      expect(p.problems).toEqual([
        { username: 'alice', message: expect.stringMatching(/sales\.items does not exist/) as unknown },
      ]);
      expect(p.steps.filter((s) => s.op === 'grant-privileges')).toHaveLength(1);
    });
  });

  it('names the possible drops for the catalog (managed users of this scope no longer listed)', () => {
    const state = actual([
      managedUser('alice'),
      managedUser('bob'),
      managedRole('grp'),
      role('handmade', { login: true }),
      role('theirs', { login: true, marker: { scope: 'other/cm', kind: 'user' } }),
      managedUser('rejected'),
    ]);
    const want = desired('users:\n  - username: alice\n  - username: pg_rejected\n');
    const userRoles = want.users.map((u) => state.roles.get(u.username));
    expect(unlistedManagedUsers(want, state.roles, SCOPE, userRoles)).toEqual(['bob', 'rejected']);
  });
});
