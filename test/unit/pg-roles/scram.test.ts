import { describe, expect, it } from 'vitest';
import {
  parseVerifier,
  scramVerifier,
  verifierSalt,
  verifierMatches,
} from '../../../shared/pg-roles/scram.ts';

describe('SCRAM-SHA-256 verifiers', () => {
  it("are in PostgreSQL's storage format, with a fresh salt each time", async () => {
    const a = await scramVerifier('pencil');
    const b = await scramVerifier('pencil');
    expect(a).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('pencil');
    expect(parseVerifier(a)).toMatchObject({ iterations: 4096 });
  });

  it('match the password they were made from, and only that one', async () => {
    const v = await scramVerifier('correct horse', 4096);
    expect(await verifierMatches(v, 'correct horse')).toBe(true);
    expect(await verifierMatches(v, 'correct horsE')).toBe(false);
    expect(await verifierMatches(v, '')).toBe(false);
  });

  it('use the stored iteration count when checking', async () => {
    const v = await scramVerifier('pw', 5000);
    expect(v.startsWith('SCRAM-SHA-256$5000:')).toBe(true);
    expect(await verifierMatches(v, 'pw')).toBe(true);
  });

  it('normalise non-ASCII passwords (NFKC) as SASLprep does', async () => {
    const v = await scramVerifier('ﬁle'); // U+FB01 LATIN SMALL LIGATURE FI
    expect(await verifierMatches(v, 'file')).toBe(true);
  });

  it('never match md5 hashes, plaintext, null or broken values', async () => {
    for (const stored of [
      null,
      undefined,
      'md5abcdef',
      'pencil',
      'SCRAM-SHA-256$x:y$z:w',
      'SCRAM-SHA-256$0:AA==$AA==:AA==',
    ])
      expect(await verifierMatches(stored, 'pencil')).toBe(false);
    expect(parseVerifier('md5abc')).toBeUndefined();
  });

  it('give their iterations and salt (what PostgreSQL tells anyone who starts a login), nothing more', async () => {
    const v = await scramVerifier('pw');
    const salt = verifierSalt(v);
    expect(salt).toMatch(/^4096:[A-Za-z0-9+/]{22}==$/);
    expect(v.startsWith(`SCRAM-SHA-256$${salt ?? ''}$`)).toBe(true);
    expect(verifierSalt(await scramVerifier('pw'))).not.toBe(salt);
    expect(verifierSalt('md5abc')).toBeUndefined();
    expect(verifierSalt(null)).toBeUndefined();
  });
});
