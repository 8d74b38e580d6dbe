import { describe, expect, it } from 'vitest';
import { defaultSecretName, DesiredStateError, parseDesiredState } from '../../../shared/pg-roles/desired.ts';
import { SEED_YAML } from './fixtures.ts';

const parse = (yaml: string) => parseDesiredState(yaml, 'postgres');

describe('parseDesiredState', () => {
  it("reads the predecessor's example unchanged", () => {
    const state = parse(SEED_YAML);
    expect(state.problems).toEqual([]);
    expect(state.users).toEqual([
      {
        username: 'alice',
        database: 'myapp',
        roles: ['analyst', 'read_only'],
        attributes: { createdb: false, inherit: true, connectionLimit: -1 },
        secretName: 'user-alice-secret',
      },
      {
        username: 'bob',
        database: 'myapp',
        roles: ['developer', 'read_write'],
        attributes: { createdb: false, inherit: true, connectionLimit: -1 },
        secretName: 'user-bob-secret',
      },
    ]);
  });

  it('defaults database to the configured one and roles to none; ignores extra top-level keys', () => {
    const state = parse('timestamp: 2025-10-29\nusers:\n  - username: carol\n');
    expect(state.users[0]).toMatchObject({ username: 'carol', database: 'postgres', roles: [] });
  });

  it('derives the Secret name as the predecessor did (underscores become dashes)', () => {
    expect(defaultSecretName('data_team')).toBe('user-data-team-secret');
    expect(parse('users:\n  - username: data_team\n').users[0]?.secretName).toBe('user-data-team-secret');
  });

  it.each([
    ['empty content', ''],
    ['blank content', '  \n\n'],
    ['invalid YAML', 'users: [alice'],
    ['a list at the top', '- username: alice'],
    ['no users key', 'people: []'],
    ['an empty users list', 'users: []'],
    ['users that is not a list', 'users: alice'],
    ['only bad entries', 'users:\n  - name: alice\n'],
  ])('refuses %s as a whole (the run is skipped, nothing dropped)', (_, yaml) => {
    expect(() => parse(yaml)).toThrow(DesiredStateError);
  });

  it('refuses a missing document', () => {
    expect(() => parseDesiredState(undefined, 'postgres')).toThrow(/missing or empty/);
  });

  it('rejects a bad entry with a message, keeps the others, and protects the rejected name', () => {
    const state = parse(`
users:
  - username: alice
  - username: pg_evil
  - username: carol
    attributes: { superuser: true }
  - username: 12345
  - username: dave
    roles: [postgres]
`);
    expect(state.users.map((u) => u.username)).toEqual(['alice']);
    expect(state.problems).toEqual([
      { entry: 1, username: 'pg_evil', message: expect.stringMatching(/reserved/) as unknown },
      { entry: 2, username: 'carol', message: expect.stringMatching(/superuser cannot be set/) as unknown },
      { entry: 3, message: expect.stringMatching(/must be a string/) as unknown },
      { entry: 4, username: 'dave', message: expect.stringMatching(/system role/) as unknown },
    ]);
    expect(state.protectedNames).toEqual(['carol', 'dave', 'pg_evil']);
  });

  it('rejects a duplicate username but keeps the first entry', () => {
    const state = parse('users:\n  - username: a\n    roles: [x]\n  - username: a\n');
    expect(state.users).toHaveLength(1);
    expect(state.users[0]?.roles).toEqual(['x']);
    expect(state.problems[0]?.message).toMatch(/listed twice/);
    expect(state.protectedNames).toEqual([]);
  });

  it('keeps names with quotes, spaces and SQL metacharacters (they are quoted later), with a secretName', () => {
    const state = parse(`
users:
  - username: "o'brien; DROP TABLE t; --"
    secretName: hostile-1
    roles: ['weird "role"', 'with space']
`);
    expect(state.problems).toEqual([]);
    expect(state.users[0]).toMatchObject({
      username: "o'brien; DROP TABLE t; --",
      roles: ['weird "role"', 'with space'],
      secretName: 'hostile-1',
    });
  });

  it('asks for a secretName when none can be derived from the username', () => {
    const state = parse('users:\n  - username: "Robert Tables"\n  - username: ok\n');
    expect(state.problems[0]?.message).toMatch(/set secretName/);
  });

  it.each([
    ['a name over 63 bytes', `"${'x'.repeat(64)}"`, /longer than 63 bytes/],
    ['a control character', '"a\\nb"', /control character/],
    ['public', 'public', /reserved by PostgreSQL/],
    ['CURRENT_USER', 'CURRENT_USER', /reserved by PostgreSQL/],
    ['an empty name', '""', /empty/],
  ])('rejects %s', (_, name, message) => {
    const state = parse(`users:\n  - username: ${name}\n  - username: ok\n`);
    expect(state.problems[0]?.message).toMatch(message);
  });

  it('accepts granting built-in pg_* roles but not creating one', () => {
    const state = parse('users:\n  - username: mon\n    roles: [pg_monitor, pg_signal_backend]\n');
    expect(state.problems).toEqual([]);
    expect(state.users[0]?.roles).toEqual(['pg_monitor', 'pg_signal_backend']);
  });

  it('refuses the whole document when any entry grants a role with access to the server’s files or programs', () => {
    for (const forbidden of [
      'pg_execute_server_program',
      'pg_write_server_files',
      'pg_read_server_files',
      'pg_read_all_data',
    ]) {
      const yaml = `users:\n  - username: alice\n    roles: [analyst]\n  - username: mallory\n    roles: [read_only, ${forbidden}]\n`;
      expect(() => parse(yaml)).toThrow(
        new DesiredStateError(
          `users[1] (mallory): role ${forbidden} is never granted (it reads the server's files or every password verifier, or runs programs: a way to superuser)`,
        ),
      );
      // Positive control: the same document without the forbidden grant is read, both users kept.
      expect(parse(yaml.replace(`, ${forbidden}`, '')).users.map((u) => u.username)).toEqual([
        'alice',
        'mallory',
      ]);
    }
    // Other built-ins may be granted: pg_monitor reads statistics and settings, no data and no verifier.
    expect(parse('users:\n  - username: alice\n    roles: [pg_monitor]\n').users[0]?.roles).toEqual([
      'pg_monitor',
    ]);
  });

  it('rejects a user that is a member of itself', () => {
    expect(parse('users:\n  - username: a\n    roles: [a]\n  - username: b\n').problems[0]?.message).toMatch(
      /member of itself/,
    );
  });

  it('reads attributes and refuses unknown or dangerous ones', () => {
    const state = parse(`
users:
  - username: a
    attributes: { createdb: true, connectionLimit: 5, inherit: false }
  - username: b
    attributes: { replication: true }
  - username: c
    attributes: { colour: blue }
  - username: d
    attributes: { connectionLimit: -2 }
`);
    expect(state.users[0]?.attributes).toEqual({ createdb: true, connectionLimit: 5, inherit: false });
    expect(state.problems.map((p) => p.username)).toEqual(['b', 'c', 'd']);
  });

  it('bounds connectionLimit to what PostgreSQL holds (integer)', () => {
    const state = parse(`
users:
  - username: a
    attributes: { connectionLimit: 2147483647 }
  - username: b
    attributes: { connectionLimit: 2147483648 }
  - username: c
    attributes: { connectionLimit: 1.5 }
`);
    expect(state.users.map((u) => [u.username, u.attributes.connectionLimit])).toEqual([['a', 2147483647]]);
    expect(state.problems.map((p) => p.username)).toEqual(['b', 'c']);
  });

  it('reads privileges: schema-qualified or public, ALL expanded, case-insensitive, sorted', () => {
    const state = parse(`
users:
  - username: a
    privileges:
      orders: [select, Insert]
      sales.items: [ALL]
`);
    expect(state.users[0]?.privileges).toEqual([
      { schema: 'public', table: 'orders', privileges: ['SELECT', 'INSERT'] },
      {
        schema: 'sales',
        table: 'items',
        privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
      },
    ]);
  });

  it('rejects a privilege that is not a table privilege (no SQL smuggled through it)', () => {
    const state = parse(`
users:
  - username: a
    privileges:
      orders: ["SELECT; DROP TABLE orders"]
  - username: b
`);
    expect(state.problems[0]?.message).toMatch(/is not a table privilege/);
  });

  it('leaves privileges unmanaged when the key is absent', () => {
    expect(parse('users:\n  - username: a\n').users[0]?.privileges).toBeUndefined();
  });

  it('reports unknown fields of an entry as warnings', () => {
    const state = parse('users:\n  - username: a\n    password: nope\n');
    expect(state.users).toHaveLength(1);
    expect(state.warnings).toEqual(['users[0]: unknown field "password" ignored']);
  });
});
