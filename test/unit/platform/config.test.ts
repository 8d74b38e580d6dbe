import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, defineConfig, loadPlatformConfig } from '../../../shared/platform/config.ts';

const token = 'a-token-of-sufficient-length';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadPlatformConfig', () => {
  it('refuses to start without any token and names the variable', () => {
    const error = configError(() => loadPlatformConfig({}));
    expect(error.problems.map((p) => p.variable)).toEqual(['API_TOKEN']);
    expect(error.message).toMatch(/API_TOKEN/);
  });

  it('accepts the predecessors variable names and several tokens for rotation', () => {
    const config = loadPlatformConfig({
      VERIFICATION_TOKEN: `${token}-1, ${token}-2`,
      ADMIN_API_KEY: `${token}-3`,
    });
    expect(config.apiTokens).toEqual([`${token}-1`, `${token}-2`, `${token}-3`]);
  });

  it('applies documented defaults', () => {
    const config = loadPlatformConfig({ API_TOKEN: token });
    expect(config).toMatchObject({
      port: 8080,
      maxBodyBytes: 1048576,
      logLevel: 'info',
      trustUnauthenticatedEvents: false,
      requestTimeoutMs: 300_000,
    });
  });

  it('names each bad variable, without echoing token values', () => {
    const error = configError(() =>
      loadPlatformConfig({ API_TOKEN: 'short', PORT: 'eighty', TRUST_UNAUTHENTICATED_EVENTS: 'maybe' }),
    );
    expect(error.problems.map((p) => p.variable).sort()).toEqual([
      'API_TOKEN',
      'PORT',
      'TRUST_UNAUTHENTICATED_EVENTS',
    ]);
    expect(error.message).not.toContain('short');
  });
});

describe('defineConfig', () => {
  const loadConfig = defineConfig(
    { DATABASE_URL: z.url(), RETENTION_DAYS: z.coerce.number().int().positive().default(365) },
    (v) => ({ databaseUrl: v.DATABASE_URL, retentionDays: v.RETENTION_DAYS }),
  );

  it('merges platform and function settings', () => {
    const config = loadConfig({ API_TOKEN: token, DATABASE_URL: 'postgres://db/x' });
    expect(config.retentionDays).toBe(365);
    expect(config.databaseUrl).toBe('postgres://db/x');
    expect(config.apiTokens).toEqual([token]);
  });

  it('reports platform and function problems together', () => {
    const error = configError(() => loadConfig({ RETENTION_DAYS: '-1' }));
    expect(error.problems.map((p) => p.variable).sort()).toEqual([
      'API_TOKEN',
      'DATABASE_URL',
      'RETENTION_DAYS',
    ]);
    expect(error.problems.find((p) => p.variable === 'DATABASE_URL')?.message).toBe('required');
  });
});
