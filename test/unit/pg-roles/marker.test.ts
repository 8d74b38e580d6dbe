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
});
