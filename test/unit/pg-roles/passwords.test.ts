import { describe, expect, it } from 'vitest';
import { checkPasswords, resolvedUsers, triagePasswords } from '../../../shared/pg-roles/passwords.ts';
import { planReconcile, unlistedManagedUsers } from '../../../shared/pg-roles/plan.ts';
import { scramVerifier, verifierSalt } from '../../../shared/pg-roles/scram.ts';
import {
  actual,
  desired,
  managedRole,
  managedUser,
  passwordStates,
  planInput,
  role,
  SCOPE,
  verifiersToCheck,
} from './fixtures.ts';

const yaml = 'users:\n  - username: alice\n';
const secret = (password: string, version = 'uid-alice/1') =>
  new Map([['user-alice-secret', { version, password }]]);

describe('passwordStates', () => {
  it('is current, without hashing, when the Secret version and the verifier salt are unchanged', async () => {
    const stored = await scramVerifier('one');
    const states = await passwordStates(
      desired(yaml).users,
      // The password is not even looked at: another value proves no PBKDF2 ran.
      secret('not-looked-at'),
      actual(
        [
          managedUser(
            'alice',
            { password: stored, salt: verifierSalt(stored) },
            { salt: verifierSalt(stored) },
          ),
        ],
        {
          passwordsReadable: true,
        },
      ),
      'postgres/postgres-users-config',
    );
    expect(states.get('alice')).toBe('current');
  });

  it('checks the stored verifier when the Secret changed: same password -> refresh the marker only', async () => {
    const stored = await scramVerifier('one');
    const states = await passwordStates(
      desired(yaml).users,
      secret('one', 'uid-alice/2'),
      actual(
        [
          managedUser(
            'alice',
            { password: stored, salt: verifierSalt(stored) },
            { salt: verifierSalt(stored) },
          ),
        ],
        {
          passwordsReadable: true,
        },
      ),
      'postgres/postgres-users-config',
    );
    expect(states.get('alice')).toBe('refresh-marker');
  });

  it('rotates when the Secret holds a new password', async () => {
    const stored = await scramVerifier('one');
    const states = await passwordStates(
      desired(yaml).users,
      secret('two', 'uid-alice/2'),
      actual(
        [
          managedUser(
            'alice',
            { password: stored, salt: verifierSalt(stored) },
            { salt: verifierSalt(stored) },
          ),
        ],
        {
          passwordsReadable: true,
        },
      ),
      'postgres/postgres-users-config',
    );
    expect(states.get('alice')).toBe('changed');
  });

  it('sees a password changed by hand in the database (the verifier salt differs) and sets it back', async () => {
    const ours = await scramVerifier('one');
    const byHand = await scramVerifier('hand-made');
    const states = await passwordStates(
      desired(yaml).users,
      secret('one'),
      actual(
        [
          managedUser(
            'alice',
            { password: byHand, salt: verifierSalt(byHand) },
            { salt: verifierSalt(ours) },
          ),
        ],
        {
          passwordsReadable: true,
        },
      ),
      'postgres/postgres-users-config',
    );
    expect(states.get('alice')).toBe('changed');
  });

  it('without pg_authid: follows the Secret version only', async () => {
    const same = await passwordStates(
      desired(yaml).users,
      secret('x'),
      actual([managedUser('alice')]),
      'postgres/postgres-users-config',
    );
    expect(same.get('alice')).toBe('current');
    const changed = await passwordStates(
      desired(yaml).users,
      secret('x', 'uid-alice/2'),
      actual([managedUser('alice')]),
      'postgres/postgres-users-config',
    );
    expect(changed.get('alice')).toBe('changed');
  });

  it('has no opinion on users that are new, unmanaged or without a Secret', async () => {
    const states = await passwordStates(
      desired('users:\n  - username: alice\n  - username: bob\n  - username: carol\n').users,
      new Map([
        ['user-alice-secret', { version: 'v', password: 'p' }],
        ['user-bob-secret', { version: 'v', password: 'p' }],
      ]),
      actual([role('bob', { login: true })]),
      'postgres/postgres-users-config',
    );
    expect(states.size).toBe(0);
  });

  it('asks the catalog for the verifiers of exactly the users whose marker does not vouch for the password', async () => {
    const stored = await scramVerifier('one');
    const salt = verifierSalt(stored);
    const state = actual(
      [
        managedUser('alice', { salt }, { salt }),
        managedUser('bob', { salt }, { salt, secret: 'uid-bob/0' }),
        managedUser('carol', { salt: '4096:other' }, { salt }),
        role('dave', { login: true }),
      ],
      { passwordsReadable: true },
    );
    const users = desired(
      'users:\n  - username: alice\n  - username: bob\n  - username: carol\n  - username: dave\n',
    ).users;
    const secrets = new Map(
      ['alice', 'bob', 'carol', 'dave'].map((u) => [
        `user-${u}-secret`,
        { version: `uid-${u}/1`, password: 'x' },
      ]),
    );
    expect(verifiersToCheck(users, secrets, state.roles, true, SCOPE)).toEqual(['bob', 'carol']);
    expect(verifiersToCheck(users, secrets, state.roles, false, SCOPE)).toEqual([]);
  });

  it('the triage hands the plan the same lookups the maps give (the reconcile plans from the triage)', async () => {
    const ours = await scramVerifier('one');
    const salt = verifierSalt(ours);
    const state = actual(
      [
        role('analyst'),
        managedUser('alice', { salt, password: ours, memberOf: ['analyst'] }, { salt }),
        managedUser('bob', { salt, password: ours }, { salt, secret: 'uid-bob/0' }),
        managedUser('carol', { salt: '4096:other', password: ours }, { salt }),
        role('dave', { login: true }),
        managedUser('erin', { salt, password: ours }, { salt }),
        managedUser('gone', {}, { salt }),
        managedRole('frank'),
      ],
      { passwordsReadable: true },
    );
    const want = desired(
      [
        'users:',
        ...['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'new'].map(
          (u) => `  - username: ${u}\n    database: myapp\n    roles: [analyst]`,
        ),
      ].join('\n'),
    );
    const secrets = new Map(
      ['alice', 'bob', 'carol', 'dave', 'frank', 'new'].map((u) => [
        `user-${u}-secret`,
        { version: `uid-${u}/1`, password: u === 'carol' ? 'two' : 'one' },
      ]),
    );
    const options = { scope: SCOPE, maxDropShare: 1, force: false };
    const byMaps = planReconcile(
      planInput(want, state, secrets, await passwordStates(want.users, secrets, state, SCOPE)),
      options,
    );
    const triage = triagePasswords(want.users, secrets, state.roles, true, SCOPE);
    expect(triage.verify.map((i) => want.users[i]?.username)).toEqual(['bob', 'carol']);
    expect(unlistedManagedUsers(want, state.roles, SCOPE, triage.roles)).toEqual(['gone']);
    const checked = await checkPasswords(triage, state.roles);
    const byTriage = planReconcile(
      { desired: want, actual: state, resolved: resolvedUsers(checked) },
      options,
    );
    expect(byTriage).toEqual(byMaps);
    expect(byTriage.skipped.map((s) => `${s.reason} ${s.username}`)).toEqual([
      'unmanaged dave',
      'missing_secret erin',
    ]);
    expect(byTriage.steps.map((s) => `${s.op} ${'user' in s ? s.user : s.role}`)).toEqual([
      'refresh-marker bob',
      'set-password carol',
      'alter-user frank',
      'set-password frank',
      'create-user new',
      'grant-roles bob',
      'grant-roles carol',
      'grant-roles frank',
      'grant-roles new',
      'grant-connect frank',
      'grant-connect new',
      'drop-user gone',
    ]);
  });
});
