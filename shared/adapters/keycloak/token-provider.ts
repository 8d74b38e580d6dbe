/**
 * Access tokens for the Keycloak admin API. The admin client cannot renew a client-credentials token by
 * itself (there is no refresh token), so this provider logs in again shortly before the token expires and
 * whenever a call was refused with 401. Concurrent callers share one login.
 */
import { PlatformError } from '../../platform/errors.ts';
import { keycloakError, statusReason } from './errors.ts';

export type KeycloakCredentials =
  | { readonly grant: 'client_credentials'; readonly clientId: string; readonly clientSecret: string }
  | {
      readonly grant: 'password';
      readonly clientId: string;
      readonly username: string;
      readonly password: string;
    };

export interface TokenProviderOptions {
  readonly baseUrl: string;
  /** The realm the credentials belong to (for an admin user, usually master). */
  readonly realm: string;
  readonly credentials: KeycloakCredentials;
  readonly timeoutMs?: number;
  /** Milliseconds since epoch; injectable for tests. */
  readonly now?: () => number;
}

interface CachedToken {
  readonly value: string;
  readonly renewAt: number;
}

export class TokenProvider {
  private readonly options: TokenProviderOptions;
  private cached: CachedToken | undefined;
  private pending: Promise<CachedToken> | undefined;
  /** How many logins were made; visible for tests and metrics. */
  logins = 0;

  constructor(options: TokenProviderOptions) {
    this.options = options;
  }

  async getAccessToken(): Promise<string> {
    const now = (this.options.now ?? Date.now)();
    if (this.cached !== undefined && now < this.cached.renewAt) return this.cached.value;
    this.pending ??= this.login().finally(() => {
      this.pending = undefined;
    });
    this.cached = await this.pending;
    return this.cached.value;
  }

  /** Forgets the token, e.g. after a 401, so the next call logs in again. */
  invalidate(): void {
    this.cached = undefined;
  }

  private async login(): Promise<CachedToken> {
    const { baseUrl, realm, credentials } = this.options;
    const form = new URLSearchParams({ grant_type: credentials.grant, client_id: credentials.clientId });
    if (credentials.grant === 'client_credentials') form.set('client_secret', credentials.clientSecret);
    else {
      form.set('username', credentials.username);
      form.set('password', credentials.password);
    }
    const started = (this.options.now ?? Date.now)();
    let response: Response;
    try {
      response = await fetch(`${baseUrl}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw keycloakError(error, 'log in');
    }
    const body = (await response.json().catch(() => ({}))) as {
      access_token?: unknown;
      expires_in?: unknown;
    };
    if (!response.ok || typeof body.access_token !== 'string') {
      const mapped = statusReason(response.status);
      throw new PlatformError({
        reason: response.ok ? 'upstream' : mapped.reason === 'validation' ? 'unavailable' : mapped.reason,
        // 400/401 from the token endpoint mean bad client credentials: a configuration problem, not the caller's.
        status: response.status === 400 || response.status === 401 ? 502 : undefined,
        retryable: response.status >= 500 || response.status === 429,
        message: `keycloak: log in to realm ${realm} as ${credentials.clientId}: HTTP ${response.status}`,
        upstream: 'keycloak',
      });
    }
    this.logins++;
    const lifetimeMs = (typeof body.expires_in === 'number' ? body.expires_in : 60) * 1000;
    // Renew at 80% of the lifetime, at most 30 s early, so a token never expires in flight.
    const margin = Math.min(lifetimeMs * 0.2, 30_000);
    return { value: body.access_token, renewAt: started + lifetimeMs - margin };
  }
}
