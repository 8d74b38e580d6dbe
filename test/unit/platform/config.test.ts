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
      requestTimeoutMs: 300_000,
      shutdownGraceMs: 25_000,
      lockLeaseMs: 60_000,
      senders: {
        allowed: [],
        issuer: 'https://kubernetes.default.svc.cluster.local',
        jwksUrl: 'https://kubernetes.default.svc/openid/v1/jwks',
        tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
        caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
      },
    });
    expect(config.senders.audience).toBeUndefined();
  });

  it('bounds each outbound call by default, and reads each bound from its variable', () => {
    expect(loadPlatformConfig({ API_TOKEN: token }).callTimeouts).toEqual({
      kubernetesMs: 30_000,
      keycloakMs: 10_000,
      grafanaMs: 10_000,
      eventSinkMs: 10_000,
      databaseConnectMs: 10_000,
      databaseStatementMs: 30_000,
      databaseLockMs: 10_000,
    });
    expect(
      loadPlatformConfig({
        API_TOKEN: token,
        KUBERNETES_TIMEOUT_SECONDS: '5',
        DATABASE_LOCK_TIMEOUT_SECONDS: '2',
      }).callTimeouts,
    ).toMatchObject({ kubernetesMs: 5_000, databaseLockMs: 2_000, keycloakMs: 10_000 });
  });

  it('refuses a set call timeout whose call and two retries do not fit in the request, naming it', () => {
    // REQUEST_TIMEOUT_SECONDS=60: 54 s of work, so at most 18 s per call.
    const error = configError(() =>
      loadPlatformConfig({
        API_TOKEN: token,
        REQUEST_TIMEOUT_SECONDS: '60',
        GRAFANA_TIMEOUT_SECONDS: '19',
        KUBERNETES_TIMEOUT_SECONDS: '30',
      }),
    );
    expect(error.problems.map((p) => p.variable)).toEqual([
      'KUBERNETES_TIMEOUT_SECONDS',
      'GRAFANA_TIMEOUT_SECONDS',
    ]);
    expect(error.message).toMatch(/at most a third of the request's work time \(18 s/);
    // The same request timeout with bounds that fit is accepted.
    const fitting = loadPlatformConfig({
      API_TOKEN: token,
      REQUEST_TIMEOUT_SECONDS: '60',
      GRAFANA_TIMEOUT_SECONDS: '18',
      KUBERNETES_TIMEOUT_SECONDS: '18',
    });
    expect(fitting.callTimeouts).toMatchObject({ grafanaMs: 18_000, kubernetesMs: 18_000 });
  });

  it('shrinks an unset call timeout to a third of a short request, keeping shorter defaults', () => {
    // 60 s: 54 s of work, 18 s per call; the 30 s defaults shrink, the 10 s ones stay.
    expect(loadPlatformConfig({ API_TOKEN: token, REQUEST_TIMEOUT_SECONDS: '60' }).callTimeouts).toEqual({
      kubernetesMs: 18_000,
      keycloakMs: 10_000,
      grafanaMs: 10_000,
      eventSinkMs: 10_000,
      databaseConnectMs: 10_000,
      databaseStatementMs: 18_000,
      databaseLockMs: 10_000,
    });
    // 15 s: 13.5 s of work, 4 s per call for every bound.
    const short = loadPlatformConfig({ API_TOKEN: token, REQUEST_TIMEOUT_SECONDS: '15' }).callTimeouts;
    expect(new Set(Object.values(short))).toEqual(new Set([4_000]));
  });

  it('reads the allowed event senders and their audience', () => {
    const pingSource =
      'system:serviceaccount:tenant-functions:reset-monthly-oidc-sources.knative.dev-pingsource';
    const trigger = 'system:serviceaccount:tenant-functions:reset-continue-oidc-eventing.knative.dev-trigger';
    const config = loadPlatformConfig({
      API_TOKEN: token,
      EVENT_SENDERS: ` ${pingSource},${trigger}, `,
      EVENT_AUDIENCE: 'tenant-lifecycle/reset',
      SERVICE_ACCOUNT_JWKS_URL: 'https://127.0.0.1:6443/openid/v1/jwks',
    });
    expect(config.senders).toMatchObject({
      allowed: [pingSource, trigger],
      audience: 'tenant-lifecycle/reset',
      jwksUrl: 'https://127.0.0.1:6443/openid/v1/jwks',
    });
  });

  it('names bad sender settings', () => {
    const error = configError(() =>
      loadPlatformConfig({
        API_TOKEN: token,
        EVENT_SENDERS: 'system:serviceaccount:ns:ok,alice',
        SERVICE_ACCOUNT_ISSUER: 'not a url',
        SERVICE_ACCOUNT_JWKS_URL: 'http://kubernetes.default.svc/openid/v1/jwks',
        SERVICE_ACCOUNT_TOKEN_FILE: '',
      }),
    );
    expect(error.problems.map((p) => p.variable).sort()).toEqual([
      'EVENT_SENDERS',
      'SERVICE_ACCOUNT_ISSUER',
      'SERVICE_ACCOUNT_JWKS_URL',
      'SERVICE_ACCOUNT_TOKEN_FILE',
    ]);
  });

  it('refuses TRUST_UNAUTHENTICATED_EVENTS whatever its value: every event carries a token', () => {
    for (const value of ['true', 'false']) {
      const error = configError(() =>
        loadPlatformConfig({ API_TOKEN: token, TRUST_UNAUTHENTICATED_EVENTS: value }),
      );
      expect(error.problems.map((p) => p.variable)).toEqual(['TRUST_UNAUTHENTICATED_EVENTS']);
    }
    expect(loadPlatformConfig({ API_TOKEN: token }).apiTokens).toEqual([token]);
  });

  it('names each bad variable, without echoing token values', () => {
    const error = configError(() =>
      loadPlatformConfig({ API_TOKEN: 'short', PORT: 'eighty', SHUTDOWN_GRACE_SECONDS: 'soon' }),
    );
    expect(error.problems.map((p) => p.variable).sort()).toEqual([
      'API_TOKEN',
      'PORT',
      'SHUTDOWN_GRACE_SECONDS',
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
