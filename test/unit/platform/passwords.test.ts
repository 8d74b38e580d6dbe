/** The one password generator: length, alphabet, the three character classes, and no repeats in practice. */
import { describe, expect, it } from 'vitest';
import { GENERATED_PASSWORD_ALPHABET, PASSWORD_RULE } from '../../../shared/everest/accounts.ts';
import { ALPHANUMERIC, generatePassword } from '../../../shared/platform/passwords.ts';

function onlyFrom(alphabet: string, text: string): boolean {
  for (const c of text) if (!alphabet.includes(c)) return false;
  return true;
}

describe('generatePassword', () => {
  it('gives 24 letters and digits with each class present, different every time', () => {
    const passwords = Array.from({ length: 200 }, () => generatePassword());
    for (const p of passwords) {
      expect(p).toHaveLength(24);
      expect(onlyFrom(ALPHANUMERIC, p)).toBe(true);
      expect(p).toMatch(/[a-z]/);
      expect(p).toMatch(/[A-Z]/);
      expect(p).toMatch(/\d/);
    }
    expect(new Set(passwords).size).toBe(passwords.length);
  });

  it("draws from the caller's alphabet: Everest's generated passwords pass Everest's rule", () => {
    for (let i = 0; i < 200; i++) {
      const p = generatePassword({ alphabet: GENERATED_PASSWORD_ALPHABET, length: 30 });
      expect(p).toHaveLength(30);
      expect(onlyFrom(GENERATED_PASSWORD_ALPHABET, p)).toBe(true);
      expect(p).toMatch(PASSWORD_RULE);
      // No look-alike characters.
      expect(p).not.toMatch(/[IOl01]/);
    }
  });

  it('refuses an alphabet that cannot give all three classes, and accepts one that can', () => {
    expect(() => generatePassword({ alphabet: 'abcdef0123' })).toThrow(/alphabet/);
    expect(generatePassword({ alphabet: 'aB3' })).toMatch(/^[aB3]{24}$/);
  });
});
