/**
 * Tenant passwords: random, 24 characters from a 62-symbol alphabet (about 143 bits), with at least one
 * lower-case letter, upper-case letter and digit so that common password policies accept it. Never derived
 * from the name or the date (the predecessor's "<user>@<year>" is gone), returned once, never stored.
 */
import { randomInt } from 'node:crypto';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
const ALL = LOWER + UPPER + DIGITS;

export function generatePassword(length = 24): string {
  for (;;) {
    let password = '';
    for (let i = 0; i < length; i++) password += ALL.charAt(randomInt(ALL.length));
    if (/[a-z]/.test(password) && /[A-Z]/.test(password) && /\d/.test(password)) return password;
  }
}
