import { describe, expect, it } from 'vitest';
import { readActualState, type Queryable } from '../../../shared/pg-roles/catalog.ts';
import { renderMarker } from '../../../shared/pg-roles/marker.ts';
import { desired } from './fixtures.ts';

/** Answers the head query and the roles query with canned rows, the way pg hands them over. */
function fakeCatalog(head: Record<string, unknown>, roles: unknown[][]): Queryable & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    query: ((query: string | { text: string; rowMode?: string }) => {
      const text = typeof query === 'string' ? query : query.text;
      sent.push(text);
      if (text.includes('current_user')) return Promise.resolve({ rows: [head] });
      if (text.includes('pg_shdescription')) {
        expect(query).toMatchObject({ rowMode: 'array' });
        return Promise.resolve({ rows: roles });
      }
      throw new Error(`unexpected query ${text}`);
    }) as Queryable['query'],
  };
}

/** (member, role) oid pairs as the head query's bytea. */
function pairs(...oids: number[]): Buffer {
  const bytes = Buffer.alloc(oids.length * 4);
  oids.forEach((oid, i) => bytes.writeUInt32BE(oid, i * 4));
  return bytes;
}

/** What the reconcile asks the third query for when no user may be dropped and no verifier needs checking. */
const nothingMore = () => ({ drop: [], verify: [] });

const marker = renderMarker({ scope: 's/cm', kind: 'user', secret: 'uid/1', salt: '4096:abc=' });

describe('readActualState', () => {
  it('names memberships and CONNECT grants from oids, sorted and once each, and reads flags and markers', async () => {
    const db = fakeCatalog(
      {
        me: 'postgres',
        db: 'postgres',
        authid: true,
        databases: ['myapp', 'postgres'],
        // alice in writer (twice: two grantors) and reader, writer in reader, zed (oid 2^32 - 1) in reader
        members: pairs(100, 300, 100, 200, 100, 300, 300, 200, 4294967295, 200),
        connects: { myapp: '100 0 100', 'other db': '100' },
      },
      [
        ['10', 'postgres', 1 + 2 + 4 + 8 + 16, -1, null, null],
        ['100', 'alice', 1 + 16, 3, '4096:abc=', marker],
        ['200', 'reader', 0, -1, null, 'a hand-written comment'],
        ['300', 'writer', 8, -1, null, null],
        ['4294967295', 'zed', 1 + 16, -1, null, null],
      ],
    );
    const state = await readActualState(db, desired('users:\n  - username: alice\n').users, nothingMore);
    expect(state.queries).toBe(2);
    expect(db.sent).toHaveLength(2);
    expect(state.roles.get('alice')).toEqual({
      name: 'alice',
      login: true,
      superuser: false,
      elevated: false,
      createdb: false,
      inherit: true,
      connectionLimit: 3,
      marker: { scope: 's/cm', kind: 'user', secret: 'uid/1', salt: '4096:abc=' },
      memberOf: ['reader', 'writer'],
      connect: ['myapp', 'other db'],
      ownsIn: [],
      salt: '4096:abc=',
    });
    expect(state.roles.get('postgres')).toMatchObject({ superuser: true, elevated: true, createdb: true });
    expect(state.roles.get('reader')).toMatchObject({ marker: undefined, memberOf: [], login: false });
    expect(state.roles.get('writer')).toMatchObject({ memberOf: ['reader'], createdb: true, inherit: false });
    expect(state.roles.get('zed')).toMatchObject({ memberOf: ['reader'], connect: [] });
    expect(state).toMatchObject({ currentUser: 'postgres', passwordsReadable: true });
    expect([...state.databases]).toEqual(['myapp', 'postgres']);
  });

  it('reads no salt without pg_authid, and copes with no memberships and no grants at all', async () => {
    const db = fakeCatalog(
      { me: 'rec', db: 'postgres', authid: false, databases: ['postgres'], members: null, connects: null },
      [['100', 'alice', 1 + 16, -1, null, marker]],
    );
    const state = await readActualState(db, desired('users:\n  - username: alice\n').users, nothingMore);
    expect(db.sent[1]).toContain('FROM pg_roles r');
    expect(state.passwordsReadable).toBe(false);
    expect(state.roles.get('alice')).toMatchObject({ memberOf: [], connect: [], salt: undefined });
  });
});
