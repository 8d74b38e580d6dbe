/**
 * Grafana user administration over its HTTP API (undici). User administration needs Basic auth as a Grafana
 * server admin (service-account tokens are refused there). Every response body is read or dumped, so no
 * connection leaks; statuses become PlatformErrors. Idempotent calls (GET, PUT, PATCH, DELETE) are retried on
 * 429/5xx/network failures; a POST is retried only when it certainly did not reach Grafana (connection
 * refused) or was throttled, so a user is never created twice.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { PlatformError } from '../../platform/errors.ts';
import { finalUnlessUnprocessed, withRetry, type RetryPolicy } from '../../platform/retry.ts';
import { grafanaError, grafanaStatusError } from './errors.ts';

export type OrgRole = 'Viewer' | 'Editor' | 'Admin' | 'None';

export interface GrafanaOptions {
  readonly url: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  /** Connect, headers and body timeout per request; default 10 s. */
  readonly timeoutMs?: number;
  readonly retry?: RetryPolicy;
  /** Page size of user searches; default 500. */
  readonly pageSize?: number;
}

export interface GrafanaUser {
  readonly id: number;
  readonly login: string;
  readonly email: string;
  readonly name: string;
  /** A Grafana server admin (`isAdmin` in search answers, `isGrafanaAdmin` in lookups). */
  readonly isAdmin: boolean;
}

export interface OrgMember {
  readonly userId: number;
  readonly login: string;
  readonly email: string;
  readonly role: OrgRole;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

function toUser(u: {
  id: number;
  login: string;
  email?: string;
  name?: string;
  isAdmin?: boolean;
  isGrafanaAdmin?: boolean;
}): GrafanaUser {
  return {
    id: u.id,
    login: u.login,
    email: u.email ?? '',
    name: u.name ?? '',
    isAdmin: u.isAdmin === true || u.isGrafanaAdmin === true,
  };
}

export class GrafanaAdmin {
  private readonly base: string;
  private readonly authorization: string;
  private readonly dispatcher: Dispatcher;
  private readonly retry: RetryPolicy;
  private readonly pageSize: number;

  constructor(options: GrafanaOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.authorization = `Basic ${Buffer.from(`${options.adminUser}:${options.adminPassword}`).toString('base64')}`;
    const timeout = options.timeoutMs ?? 10_000;
    this.dispatcher = new Agent({ connectTimeout: timeout, headersTimeout: timeout, bodyTimeout: timeout });
    this.retry = options.retry ?? {};
    this.pageSize = options.pageSize ?? 500;
  }

  /** One API call; answers the parsed JSON body, or undefined for a 404 when `notFound` is 'undefined'. */
  private async call<T>(
    action: string,
    method: Method,
    path: string,
    body?: unknown,
    notFound: 'throw' | 'undefined' = 'throw',
  ): Promise<T | undefined> {
    const attempt = async (): Promise<T | undefined> => {
      let statusCode: number;
      let text: string;
      try {
        const response = await request(`${this.base}${path}`, {
          method,
          dispatcher: this.dispatcher,
          headers: {
            authorization: this.authorization,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        statusCode = response.statusCode;
        text = await response.body.text(); // always consumed: an unread body keeps its connection busy
      } catch (error) {
        throw this.transportError(error, action, method);
      }
      const parsed: unknown = text === '' ? undefined : safeJson(text);
      if (statusCode === 404 && notFound === 'undefined') return undefined;
      if (statusCode >= 400) {
        const failure = grafanaStatusError(statusCode, parsed, action);
        throw method === 'POST' ? finalUnlessUnprocessed(failure) : failure;
      }
      return parsed as T;
    };
    return withRetry(attempt, this.retry);
  }

  private transportError(error: unknown, action: string, method: Method): PlatformError {
    const failure = grafanaError(error, action);
    return method === 'POST' ? finalUnlessUnprocessed(failure) : failure;
  }

  async health(): Promise<{ database: string; version: string }> {
    const answer = await this.call<{ database: string; version: string }>('health', 'GET', '/api/health');
    return answer ?? { database: 'unknown', version: 'unknown' };
  }

  /** Creates a user (Grafana adds it to its default org); 409 conflict when the login or email exists. */
  async createUser(user: { login: string; email: string; name?: string; password: string }): Promise<number> {
    const answer = await this.call<{ id: number }>(`create user ${user.login}`, 'POST', '/api/admin/users', {
      login: user.login,
      email: user.email,
      name: user.name ?? user.login,
      password: user.password,
    });
    if (answer?.id === undefined) throw grafanaStatusError(502, undefined, `create user ${user.login}`);
    return answer.id;
  }

  async lookupUser(loginOrEmail: string): Promise<GrafanaUser | undefined> {
    const user = await this.call<{
      id: number;
      login: string;
      email: string;
      name: string;
      isGrafanaAdmin?: boolean;
    }>(
      `look up user ${loginOrEmail}`,
      'GET',
      `/api/users/lookup?loginOrEmail=${encodeURIComponent(loginOrEmail)}`,
      undefined,
      'undefined',
    );
    return user === undefined ? undefined : toUser(user);
  }

  /** Every user matching `query` (login, email or name), one page at a time. */
  async *searchUsers(query = ''): AsyncGenerator<GrafanaUser[]> {
    for (let page = 1; ; page++) {
      const answer = await this.call<{
        totalCount: number;
        users: { id: number; login: string; email: string; name: string; isAdmin?: boolean }[];
      }>(
        'search users',
        'GET',
        `/api/users/search?perpage=${this.pageSize}&page=${page}&query=${encodeURIComponent(query)}`,
      );
      const users = answer?.users ?? [];
      if (users.length > 0) yield users.map(toUser);
      if (users.length < this.pageSize || page * this.pageSize >= (answer?.totalCount ?? 0)) return;
    }
  }

  /** Deletes a user; answers false when there was none. */
  async deleteUser(id: number): Promise<boolean> {
    const answer = await this.call<unknown>(
      `delete user ${id}`,
      'DELETE',
      `/api/admin/users/${id}`,
      undefined,
      'undefined',
    );
    return answer !== undefined;
  }

  async setPassword(id: number, password: string): Promise<void> {
    await this.call(`set password of user ${id}`, 'PUT', `/api/admin/users/${id}/password`, { password });
  }

  async orgMembers(orgId = 1): Promise<OrgMember[]> {
    const members = await this.call<OrgMember[]>(
      `list members of org ${orgId}`,
      'GET',
      `/api/orgs/${orgId}/users`,
    );
    return (members ?? []).map((m) => ({ userId: m.userId, login: m.login, email: m.email, role: m.role }));
  }

  /** Makes the user a member of the org with `role`, whether or not it was one (POST adds ignore a role). */
  async setOrgRole(userId: number, login: string, role: OrgRole, orgId = 1): Promise<void> {
    const updated = await this.call<unknown>(
      `set role of user ${login} in org ${orgId}`,
      'PATCH',
      `/api/orgs/${orgId}/users/${userId}`,
      { role },
      'undefined',
    );
    if (updated !== undefined) return;
    await this.call(`add user ${login} to org ${orgId}`, 'POST', `/api/orgs/${orgId}/users`, {
      loginOrEmail: login,
      role,
    });
  }

  async removeFromOrg(userId: number, orgId = 1): Promise<boolean> {
    const answer = await this.call<unknown>(
      `remove user ${userId} from org ${orgId}`,
      'DELETE',
      `/api/orgs/${orgId}/users/${userId}`,
      undefined,
      'undefined',
    );
    return answer !== undefined;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
