import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MIGRATION_LOCK_KEY, migrations } from '../../../../shared/platform/store/migrations.ts';

describe('migrations', () => {
  it('are numbered 1, 2, 3 ... in order, with a name and a {schema} placeholder', () => {
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
    for (const m of migrations) {
      expect(m.name).not.toBe('');
      expect(m.sql).toContain('{schema}.');
    }
  });

  it('lock on a fixed 64-bit key derived as documented', () => {
    const digest = createHash('sha256').update('tenant-lifecycle:migrations').digest();
    expect(MIGRATION_LOCK_KEY).toBe(digest.readBigInt64BE(0).toString());
  });
});
