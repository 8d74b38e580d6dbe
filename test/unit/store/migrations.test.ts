import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { everestMigrations } from '../../../shared/everest/migrations.ts';
import { MIGRATION_LOCK_KEY, storeMigrations } from '../../../shared/store/migrations.ts';

describe('migrations', () => {
  it('each module numbers its own in order, and together they are 1, 2, 3 ... with no version twice', () => {
    for (const owned of [storeMigrations, everestMigrations]) {
      const versions = owned.map((m) => m.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
    }
    const all = [...storeMigrations, ...everestMigrations].map((m) => m.version).sort((a, b) => a - b);
    expect(all).toEqual(all.map((_, i) => i + 1));
    for (const m of [...storeMigrations, ...everestMigrations]) {
      expect(m.name).not.toBe('');
      expect(m.sql).toContain('{schema}.');
    }
  });

  it('lock on a fixed 64-bit key derived as documented', () => {
    const digest = createHash('sha256').update('tenant-lifecycle:migrations').digest();
    expect(MIGRATION_LOCK_KEY).toBe(digest.readBigInt64BE(0).toString());
  });
});
