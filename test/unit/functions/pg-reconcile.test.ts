import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../functions/pg-reconcile/config.ts';
import { concernsDesiredState } from '../../../functions/pg-reconcile/index.ts';
import { ConfigError } from '../../../shared/platform/config.ts';

const base = { API_TOKEN: 'a-token-of-sixteen-chars', DATABASE_URL: 'postgresql://store/db' };

describe('pg-reconcile config', () => {
  it("builds the target from the predecessor's DB_* variables, with its defaults", () => {
    const c = loadConfig({ ...base, DB_HOST: 'acid.example', DB_PASS: 'p@ss word' });
    expect(c.targetUrl).toBe('postgresql://postgres:p%40ss%20word@acid.example:5432/postgres');
    expect(c).toMatchObject({
      namespace: 'postgres',
      configMap: 'postgres-users-config',
      scope: 'postgres/postgres-users-config',
      defaultDatabase: 'postgres',
      maxDropShare: 0.25,
      dryRun: false,
      retries: 5,
    });
    expect(c.targetDatabaseUrl('myapp')).toBe('postgresql://postgres:p%40ss%20word@acid.example:5432/myapp');
  });

  it('takes PG_URL, its database as the default database', () => {
    const c = loadConfig({ ...base, PG_URL: 'postgres://admin:x@db:6432/appdb', DRY_RUN: 'true' });
    expect(c.defaultDatabase).toBe('appdb');
    expect(c.dryRun).toBe(true);
  });

  it('names the missing variable', () => {
    expect(() => loadConfig(base)).toThrow(ConfigError);
    expect(() => loadConfig(base)).toThrow(/PG_URL: required/);
    expect(() => loadConfig({ ...base, DB_HOST: 'h' })).toThrow(/DB_PASS: required with DB_HOST/);
    expect(() => loadConfig({ ...base, PG_URL: 'mysql://x' })).toThrow(/PG_URL/);
    expect(() => loadConfig({ ...base, PG_URL: 'postgres://x/y', PG_DROP_MAX_SHARE: '2' })).toThrow(
      /PG_DROP_MAX_SHARE/,
    );
  });

  it('never puts the password in a config error', () => {
    try {
      loadConfig({ ...base, DB_HOST: 'h', DB_PASS: 'hunter2-secret', DB_PORT: 'x' });
    } catch (error) {
      expect(String(error)).not.toContain('hunter2');
    }
  });
});

describe('concernsDesiredState', () => {
  const where = { namespace: 'postgres', configMap: 'postgres-users-config' };
  it.each([
    [{ kind: 'ConfigMap', metadata: { namespace: 'postgres', name: 'postgres-users-config' } }, true],
    [{ kind: 'ConfigMap', namespace: 'postgres', name: 'postgres-users-config' }, true],
    [{ kind: 'Secret', metadata: { namespace: 'postgres', name: 'user-alice-secret' } }, true],
    [{ kind: 'ConfigMap', metadata: { namespace: 'postgres', name: 'other' } }, false],
    [{ kind: 'Secret', metadata: { namespace: 'elsewhere', name: 'user-alice-secret' } }, false],
    [{ kind: 'Pod', metadata: { namespace: 'postgres', name: 'x' } }, false],
    [{}, false],
  ])('%j -> %s', (data, expected) => {
    expect(concernsDesiredState(data, where)).toBe(expected);
  });
});
