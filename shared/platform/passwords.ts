/**
 * Generated passwords: random (node:crypto's randomInt, no modulo bias), 24 characters by default, with at
 * least one lower-case letter, upper-case letter and digit so that common password policies accept them.
 * Never derived from a name or a date; returned once, never stored. The alphabet is the caller's when a
 * system allows a particular set (Everest's accounts); otherwise letters and digits (62 symbols, about 143
 * bits for 24 characters).
 */
import { randomInt } from 'node:crypto';

export const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function generatePassword(
  options: { readonly length?: number; readonly alphabet?: string } = {},
): string {
  const length = options.length ?? 24;
  const alphabet = options.alphabet ?? ALPHANUMERIC;
  if (!/[a-z]/.test(alphabet) || !/[A-Z]/.test(alphabet) || !/\d/.test(alphabet) || length < 3)
    throw new Error(
      'a password alphabet needs lower-case letters, upper-case letters and digits, and 3 places',
    );
  for (;;) {
    let password = '';
    for (let i = 0; i < length; i++) password += alphabet.charAt(randomInt(alphabet.length));
    if (/[a-z]/.test(password) && /[A-Z]/.test(password) && /\d/.test(password)) return password;
  }
}
