import { describe, expect, it } from 'vitest';
import { MARKER_PREFIX, parseMarker, renderMarker } from '../../../shared/pg-roles/marker.ts';

describe('marker', () => {
  it('round-trips', () => {
    const m = { scope: 'postgres/cm', kind: 'user' as const, secret: 'uid/3', salt: '4096:abc=' };
    expect(parseMarker(renderMarker(m))).toEqual(m);
  });

  it.each([
    [null],
    [''],
    ['a comment written by a person'],
    [`${MARKER_PREFIX}not json`],
    [`${MARKER_PREFIX}{"kind":"user"}`],
    [`${MARKER_PREFIX}{"scope":"x","kind":"superuser"}`],
    [`${MARKER_PREFIX}[1]`],
  ])('is not found in %j', (comment) => {
    expect(parseMarker(comment)).toBeUndefined();
  });

  it.each([
    { scope: 'postgres/cm', kind: 'role' as const },
    { scope: 'postgres/cm', kind: 'user' as const },
    { scope: 'postgres/cm', kind: 'user' as const, secret: 'uid/3' },
    { scope: 'postgres/cm', kind: 'user' as const, salt: '4096:abc=' },
    { scope: 'ns/cm "quoted" \\ back', kind: 'user' as const, secret: 'é/ü', salt: '4096:x/y+z==' },
    { scope: 'tab\there', kind: 'role' as const },
  ])('reads what renderMarker writes as JSON.parse does: %j', (m) => {
    expect(parseMarker(renderMarker(m))).toEqual(m);
  });

  it.each([
    `${MARKER_PREFIX}{"v":1,"scope":"a","kind":"user"} trailing`,
    `${MARKER_PREFIX}{"v":1,"scope":"a","kind":"admin"}`,
    `${MARKER_PREFIX}{"v":1,"scope":"a","kind":"user","secret":"s"`,
    `${MARKER_PREFIX}{"v":1,"scope":"a`,
  ])('is not found in the nearly rendered %j', (comment) => {
    expect(parseMarker(comment)).toBeUndefined();
  });

  it('reads markers written in another field order or with spaces (JSON.parse)', () => {
    expect(parseMarker(`${MARKER_PREFIX}{"kind": "user", "scope": "a", "salt": "4096:s", "v": 1}`)).toEqual({
      scope: 'a',
      kind: 'user',
      salt: '4096:s',
    });
    expect(parseMarker(`${MARKER_PREFIX}{"v":2,"scope":"a","kind":"role"}`)).toEqual({
      scope: 'a',
      kind: 'role',
    });
  });
});
