import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fingerprintRequest } from '../../../shared/platform/request-hash.ts';

const SECRET = 'unit-test-fingerprint-secret-0123456789';
const fingerprint = (value: unknown) => fingerprintRequest(value, SECRET);

describe('fingerprintRequest', () => {
  it('does not depend on key order, and does on values', () => {
    expect(fingerprint({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(
      fingerprint({ b: { d: 'x', c: [1, 2] }, a: 1 }),
    );
    expect(fingerprint({ a: 1 })).not.toBe(fingerprint({ a: 2 }));
    expect(fingerprint({ a: [1, 2] })).not.toBe(fingerprint({ a: [2, 1] }));
  });

  it('ignores undefined members, as JSON does', () => {
    expect(fingerprint({ a: 1, b: undefined })).toBe(fingerprint({ a: 1 }));
  });

  it('is keyed: another secret gives another fingerprint, and none is the plain hash of the request', () => {
    const request = { username: 'alice', password: 'abc123' };
    const plain = createHash('sha256').update('{"password":"abc123","username":"alice"}').digest('hex');
    expect(fingerprint(request)).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint(request)).not.toBe(plain);
    expect(fingerprintRequest(request, `${SECRET}x`)).not.toBe(fingerprint(request));
  });

  it('refuses a secret shorter than 32 characters', () => {
    expect(() => fingerprintRequest({}, 'x'.repeat(31))).toThrow(/at least 32 characters/);
    expect(fingerprintRequest({}, 'x'.repeat(32))).toMatch(/^[0-9a-f]{64}$/);
  });
});
