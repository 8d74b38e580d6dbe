/** The Keycloak profile of a tenant (pure): first name, last name and email from whatever the request gave. */
import { describe, expect, it } from 'vitest';
import { ownEmail, tenantProfile, usernameRefusal } from '../../../shared/tenancy/tenant-profile.ts';

/** Keycloak's default `person-name-prohibited-characters` pattern (26.x; \p{Cc} holds Java's \p{Cntrl}). */
const KEYCLOAK_PERSON_NAME = /^[^<>&"\v$%!#?§;*~/\\|^=[\]{}()\p{Cc}]+$/u;

describe('tenantProfile', () => {
  it('keeps a full name and an email as given', () => {
    expect(
      tenantProfile({ username: 'john-doe', fullName: 'John Doe', email: 'john.doe@example.org' }),
    ).toEqual({ firstName: 'John', lastName: 'Doe', email: 'john.doe@example.org' });
  });

  it('splits a full name into its first word and the rest, and gives a placeholder email', () => {
    expect(tenantProfile({ username: 'jean-de-la-fontaine', fullName: '  Jean  de la Fontaine ' })).toEqual({
      firstName: 'Jean',
      lastName: 'de la Fontaine',
      email: 'jean-de-la-fontaine@tenants.invalid',
    });
  });

  it('uses a one-word full name as both names', () => {
    expect(tenantProfile({ username: 'madonna', fullName: 'Madonna' })).toEqual({
      firstName: 'Madonna',
      lastName: 'Madonna',
      email: 'madonna@tenants.invalid',
    });
  });

  it("takes the names from the email's local part when there is no full name", () => {
    expect(tenantProfile({ username: 'erin-example', email: 'erin.example@example.org' })).toEqual({
      firstName: 'erin',
      lastName: 'example',
      email: 'erin.example@example.org',
    });
    expect(tenantProfile({ username: 'jean-pierre-dupont', email: 'jean-pierre_dupont+tl@x.org' })).toEqual({
      firstName: 'jean-pierre',
      lastName: 'dupont tl',
      email: 'jean-pierre_dupont+tl@x.org',
    });
    expect(tenantProfile({ username: 'ops', email: 'ops@example.org' })).toMatchObject({
      firstName: 'ops',
      lastName: 'ops',
    });
  });

  it('prefers the full name to the email for the names', () => {
    expect(tenantProfile({ username: 'jd', fullName: 'Jane Roe', email: 'jd@example.org' })).toMatchObject({
      firstName: 'Jane',
      lastName: 'Roe',
    });
  });

  it('drops what Keycloak refuses in a name, and falls back to the email, then the tenant name', () => {
    const profile = tenantProfile({ username: 'o-brien', fullName: "Seán (Jack) O'Brien & Co. <b>" });
    expect(profile).toMatchObject({ firstName: 'Seán', lastName: "Jack O'Brien Co. b" });
    expect(profile.firstName).toMatch(KEYCLOAK_PERSON_NAME);
    expect(profile.lastName).toMatch(KEYCLOAK_PERSON_NAME);
    expect(tenantProfile({ username: 'ann', fullName: '$$$', email: 'ann@example.org' })).toMatchObject({
      firstName: 'ann',
      lastName: 'ann',
    });
    expect(tenantProfile({ username: 'li-xiao-long', fullName: '{}' })).toMatchObject({
      firstName: 'li-xiao-long',
      lastName: 'li-xiao-long',
    });
  });

  it('keeps names of other scripts as written', () => {
    expect(tenantProfile({ username: 'li-xiao-long', fullName: '李 小龙' })).toMatchObject({
      firstName: '李',
      lastName: '小龙',
    });
  });

  it('cuts each name to the 255 UTF-16 units the default user profile allows, never inside a character', () => {
    const long = 'a'.repeat(300);
    const profile = tenantProfile({ username: 'a', fullName: `${long} ${long}` });
    expect(profile.firstName).toBe('a'.repeat(255));
    expect(profile.lastName).toBe('a'.repeat(255));
    const wide = tenantProfile({ username: 'a', fullName: `${'a'.repeat(254)}😀` });
    expect(wide.firstName).toBe('a'.repeat(254));
  });

  it('fills all three fields for every request shape', () => {
    for (const request of [
      { username: 'a-b', email: 'a.b@example.org' },
      { username: 'a-b', fullName: 'A B' },
      { username: 'a-b', fullName: 'A B', email: 'a.b@example.org' },
    ]) {
      const profile = tenantProfile(request);
      expect(profile.firstName).not.toBe('');
      expect(profile.lastName).not.toBe('');
      expect(profile.email).toMatch(/^[^@\s]+@[^@\s]+\.[a-z]+$/);
    }
  });
});

describe('usernameRefusal', () => {
  it('refuses a tenant name shorter than the 3 characters Keycloak requires, and accepts 3', () => {
    expect(usernameRefusal('jo')).toMatch(/"jo" is shorter than the 3 characters/);
    expect(usernameRefusal('j')).toBeDefined();
    expect(usernameRefusal('joe')).toBeUndefined();
  });
});

describe('ownEmail', () => {
  it("is the tenant's email, and nothing for none or the tenant's placeholder", () => {
    expect(ownEmail('ann', 'ann@example.org')).toBe('ann@example.org');
    expect(ownEmail('ann', undefined)).toBeUndefined();
    expect(ownEmail('ann', '')).toBeUndefined();
    expect(ownEmail('ann', 'ann@tenants.invalid')).toBeUndefined();
    expect(ownEmail('Ann', 'ANN@Tenants.Invalid')).toBeUndefined();
  });

  it("keeps another tenant's placeholder (it is not this tenant's)", () => {
    expect(ownEmail('ann', 'bob@tenants.invalid')).toBe('bob@tenants.invalid');
  });
});
