import { describe, expect, it } from 'vitest';
import { isSecretKey, redactedJson, redactSecrets } from '../../../shared/store/audit.ts';

describe('redactSecrets', () => {
  it('redacts secret-looking keys at any depth, in arrays too, and keeps the rest', () => {
    expect(
      redactSecrets({
        username: 'alice',
        Password: 'x',
        steps: [{ name: 'grafana', client_secret: 'y' }],
        nested: { api_key: 'z', privateKey: 'k', count: 2 },
      }),
    ).toEqual({
      username: 'alice',
      Password: '[redacted]',
      steps: [{ name: 'grafana', client_secret: '[redacted]' }],
      nested: { api_key: '[redacted]', privateKey: '[redacted]', count: 2 },
    });
  });

  it('redacts a whole object under a secret key, and keeps dates as ISO strings', () => {
    const at = new Date('2026-01-02T03:04:05.000Z');
    expect(redactSecrets({ credentials: { user: 'a', pass: 'b' }, at, list: [at] })).toEqual({
      credentials: '[redacted]',
      at: '2026-01-02T03:04:05.000Z',
      list: ['2026-01-02T03:04:05.000Z'],
    });
    expect(redactedJson(undefined)).toBe('{}');
    expect(redactedJson({ token: undefined, n: 1 })).toBe('{"token":"[redacted]","n":1}');
  });
});

describe('isSecretKey', () => {
  it.each([
    'password',
    'adminPassword',
    'PASSWD',
    'passphrase',
    'token',
    'apiToken',
    'refresh_token',
    'client_secret',
    'secretRef',
    'credentials',
    'key',
    'keys',
    'accessKey',
    'ssh_key',
    'SSHKey',
    'signing-key',
    'apikey',
    'privatekey',
    'keyData',
  ])('%s is secret', (name) => {
    expect(isSecretKey(name)).toBe(true);
  });

  it.each([
    'username',
    'keycloakUser',
    'keycloakGroup',
    'namespace',
    'target',
    'plan',
    'count',
    'monkeyFarm',
  ])('%s is kept', (name) => {
    expect(isSecretKey(name)).toBe(false);
  });
});

describe('redactedJson', () => {
  it('stores {} for details that have no JSON', () => {
    expect(redactedJson({ toJSON: () => undefined })).toBe('{}');
  });
});
