import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../../../shared/platform/store/audit.ts';

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
});
