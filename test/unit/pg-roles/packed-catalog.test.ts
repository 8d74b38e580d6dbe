import { describe, expect, it } from 'vitest';
import { oidList } from '../../../shared/pg-roles/packed-catalog.ts';

describe('oidList', () => {
  it('reads the numbers of a space-separated list', () => {
    expect([...oidList('16384 10 4294967295 0')]).toEqual([16384, 10, 4294967295, 0]);
    expect([...oidList('')]).toEqual([]);
    expect([...oidList(null)]).toEqual([]);
  });
});
