import { describe, expect, it } from 'vitest';
import {
  builtinReservedNames,
  requestSlug,
  slugify,
  tenantName,
  toDnsLabel,
} from '../../../shared/tenancy/naming.ts';
import { platformErrorOf } from '../../support/platform-error.ts';

const reserved = {
  exact: [...builtinReservedNames.exact, 'tenant-functions'],
  patterns: [...builtinReservedNames.patterns, /^sys-/],
};

describe('slugify (python-slugify defaults, as the predecessor used)', () => {
  // The predecessor's verified examples (seed internals A.3).
  it.each([
    ['john.doe@x.com', undefined, 'john-doe'],
    [undefined, 'Jean Dupont', 'jean-dupont'],
    ['Élodie.Martin+test@x.fr', undefined, 'elodie-martin-test'],
    [undefined, "José  María__O'Neil", 'jose-maria-o-neil'],
    [undefined, 'Ünïcödé 123,456', 'unicode-123456'],
    ['--x--@y', undefined, 'x'],
    [undefined, '李 小龙', 'li-xiao-long'],
  ])('email %s / full name %s -> %s', (email, fullName, expected) => {
    expect(requestSlug({ email, fullName })).toBe(expected);
  });

  it('lets the email win over the full name', () => {
    expect(requestSlug({ email: 'a.b@x', fullName: 'Someone Else' })).toBe('a-b');
  });

  it('drops emoji and keeps other scripts', () => {
    expect(slugify('😀')).toBe('');
    expect(slugify('Привет мир')).toBe('privet-mir');
  });
});

describe('toDnsLabel', () => {
  it('keeps names up to 63 characters and cuts longer ones with a stable hash', () => {
    const exact = 'a'.repeat(63);
    expect(toDnsLabel(exact)).toBe(exact);
    const long = `${'b'.repeat(60)}-tail-one`;
    const label = toDnsLabel(long);
    expect(label).toHaveLength(63);
    expect(label).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(label).toBe(toDnsLabel(long));
    expect(label).not.toBe(toDnsLabel(`${'b'.repeat(60)}-tail-two`));
  });
});

describe('tenantName', () => {
  it('answers a valid DNS-1123 label for awkward input', () => {
    for (const fullName of [
      "Robert'); DROP TABLE users;--",
      '$(rm -rf /) `id`',
      '"quoted" <b>name</b>',
      'x'.repeat(200),
    ]) {
      const name = tenantName({ fullName }, reserved);
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    }
    expect(tenantName({ fullName: "Robert'); DROP TABLE users;--" }, reserved)).toBe(
      'robert-drop-table-users',
    );
  });

  it('refuses missing fields with the predecessor message', async () => {
    const error = await platformErrorOf(
      Promise.resolve().then(() => tenantName({ email: ' ', fullName: '' }, reserved)),
    );
    expect(error).toMatchObject({
      reason: 'validation',
      status: 400,
      message: 'Email address and full name are missing',
    });
  });

  it('refuses names that slugify to nothing', async () => {
    const error = await platformErrorOf(
      Promise.resolve().then(() => tenantName({ fullName: '😀 !!! ...' }, reserved)),
    );
    expect(error.message).toMatch(/no letters or digits/);
  });

  it.each([
    'kube-system',
    'kube-anything',
    'default',
    'everest-system',
    'knative-serving',
    'tenant-functions',
    'sys-admin',
  ])('refuses the reserved name %s', async (fullName) => {
    const error = await platformErrorOf(Promise.resolve().then(() => tenantName({ fullName }, reserved)));
    expect(error).toMatchObject({ reason: 'validation', status: 400 });
    expect(error.message).toContain('reserved');
  });
});
