/**
 * Users and groups of one Keycloak realm, as the product needs them: tenants are users; the tenant marker
 * is membership of a marker group (Keycloak 24+ silently drops undeclared user attributes, a group
 * membership stays). Lists are read in pages (first/max, never max=-1) with briefRepresentation where
 * attributes are not needed. Every call has a timeout and bounded retries for retryable failures only.
 */
import KcAdminClient from '@keycloak/keycloak-admin-client';
import pLimit, { type LimitFunction } from 'p-limit';
import type UserRepresentation from '@keycloak/keycloak-admin-client/lib/defs/userRepresentation.js';
import { PlatformError } from '../../platform/errors.ts';
import { finalUnlessUnprocessed, withRetry, type RetryPolicy } from '../../platform/retry.ts';
import { keycloakError } from './errors.ts';
import { TokenProvider, type KeycloakCredentials } from './token-provider.ts';

export interface KeycloakOptions {
  readonly baseUrl: string;
  /** The realm whose users and groups are managed. */
  readonly realm: string;
  /** The realm the credentials live in; defaults to `realm`. */
  readonly authRealm?: string;
  readonly credentials: KeycloakCredentials;
  /** Per request; default 10 s. */
  readonly timeoutMs?: number;
  readonly retry?: RetryPolicy;
  /** Page size for lists; default 100. */
  readonly pageSize?: number;
  /**
   * Admin API calls in flight at once from this instance; default 8. Setting a password costs Keycloak a
   * slow password hash: 50 operations of one instance calling at once made Keycloak answer some of them
   * after the timeout. Further calls wait in the instance, and each call's timeout starts when it is sent.
   */
  readonly maxConcurrentCalls?: number;
}

export interface DirectoryUser {
  readonly id: string;
  readonly username: string;
  readonly email?: string;
  readonly firstName?: string;
  readonly lastName?: string;
  readonly enabled: boolean;
  /** Epoch milliseconds. */
  readonly createdTimestamp?: number;
}

export interface NewUser {
  readonly username: string;
  readonly email?: string;
  readonly firstName?: string;
  readonly lastName?: string;
  readonly enabled?: boolean;
}

function toUser(u: UserRepresentation): DirectoryUser {
  if (u.id === undefined || u.username === undefined) {
    throw new PlatformError({
      reason: 'upstream',
      message: 'keycloak: a user without id or username',
      upstream: 'keycloak',
    });
  }
  return {
    id: u.id,
    username: u.username,
    ...(u.email === undefined ? {} : { email: u.email }),
    ...(u.firstName === undefined ? {} : { firstName: u.firstName }),
    ...(u.lastName === undefined ? {} : { lastName: u.lastName }),
    enabled: u.enabled ?? false,
    ...(u.createdTimestamp === undefined ? {} : { createdTimestamp: u.createdTimestamp }),
  };
}

const isNotFound = (error: unknown): boolean =>
  error instanceof PlatformError && error.reason === 'not_found';

export class KeycloakDirectory {
  readonly realm: string;
  readonly tokens: TokenProvider;
  private readonly client: KcAdminClient;
  private readonly retry: RetryPolicy;
  private readonly pageSize: number;
  private readonly slots: LimitFunction;

  constructor(options: KeycloakOptions) {
    this.slots = pLimit(options.maxConcurrentCalls ?? 8);
    this.realm = options.realm;
    this.pageSize = options.pageSize ?? 100;
    this.retry = options.retry ?? {};
    this.tokens = new TokenProvider({
      baseUrl: options.baseUrl,
      realm: options.authRealm ?? options.realm,
      credentials: options.credentials,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    this.client = new KcAdminClient({
      baseUrl: options.baseUrl,
      realmName: options.realm,
      timeout: options.timeoutMs ?? 10_000,
    });
    this.client.registerTokenProvider({ getAccessToken: () => this.tokens.getAccessToken() });
  }

  /**
   * One admin API call: converted errors, a fresh login after a 401, retries for retryable failures (for a
   * create, only when it certainly was not processed, so nothing is created twice).
   */
  private call<T>(action: string, fn: (kc: KcAdminClient) => Promise<T>, creates = false): Promise<T> {
    let relogged = false;
    return withRetry(async () => {
      try {
        return await this.slots(() => fn(this.client));
      } catch (error) {
        const failure = keycloakError(error, action);
        if (failure.status === 502 && failure.reason === 'unavailable' && !relogged) {
          // 401: the token may have been revoked or expired early; log in again once.
          relogged = true;
          this.tokens.invalidate();
          throw new PlatformError({
            reason: 'unavailable',
            message: failure.message,
            upstream: 'keycloak',
            cause: failure,
            retryable: true,
          });
        }
        throw creates ? finalUnlessUnprocessed(failure) : failure;
      }
    }, this.retry);
  }

  async createUser(user: NewUser): Promise<string> {
    const { id } = await this.call(
      `create user ${user.username}`,
      (kc) =>
        kc.users.create({
          username: user.username,
          ...(user.email === undefined ? {} : { email: user.email, emailVerified: false }),
          ...(user.firstName === undefined ? {} : { firstName: user.firstName }),
          ...(user.lastName === undefined ? {} : { lastName: user.lastName }),
          enabled: user.enabled ?? true,
          // None, whatever the realm would add: a required action refuses every password grant.
          requiredActions: [],
        }),
      true,
    );
    return id;
  }

  async findUserByUsername(username: string): Promise<DirectoryUser | undefined> {
    const found = await this.call(`find user ${username}`, (kc) =>
      kc.users.find({ username, exact: true, max: 2 }),
    );
    const user = found.find((u) => u.username === username.toLowerCase());
    return user === undefined ? undefined : toUser(user);
  }

  async findUserByEmail(email: string): Promise<DirectoryUser | undefined> {
    const found = await this.call(`find user by email`, (kc) =>
      kc.users.find({ email, exact: true, max: 2 }),
    );
    const user = found.find((u) => u.email?.toLowerCase() === email.toLowerCase());
    return user === undefined ? undefined : toUser(user);
  }

  async getUser(id: string): Promise<DirectoryUser | undefined> {
    const user = await this.call(`read user ${id}`, (kc) => kc.users.findOne({ id }));
    return user === undefined ? undefined : toUser(user);
  }

  /** Deletes a user; answers false when there was none (deleting twice is not an error). */
  async deleteUser(id: string): Promise<boolean> {
    try {
      await this.call(`delete user ${id}`, (kc) => kc.users.del({ id }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async setPassword(id: string, password: string, temporary = false): Promise<void> {
    // The action names the user, never the password.
    await this.call(`set password of user ${id}`, (kc) =>
      kc.users.resetPassword({ id, credential: { type: 'password', value: password, temporary } }),
    );
  }

  /** The id of the group `name` (under `parentId`, or top-level), creating it when absent. */
  async ensureGroup(name: string, parentId?: string): Promise<string> {
    const existing = await this.findGroup(name, parentId);
    if (existing !== undefined) return existing;
    try {
      const { id } = await this.call(
        `create group ${name}`,
        (kc) =>
          parentId === undefined
            ? kc.groups.create({ name })
            : kc.groups.createChildGroup({ id: parentId }, { name }),
        true,
      );
      return id;
    } catch (error) {
      // Created concurrently by another instance: use theirs.
      if (error instanceof PlatformError && error.reason === 'conflict') {
        const raced = await this.findGroup(name, parentId);
        if (raced !== undefined) return raced;
      }
      throw error;
    }
  }

  async findGroup(name: string, parentId?: string): Promise<string | undefined> {
    const groups = await this.call(`find group ${name}`, (kc) =>
      parentId === undefined
        ? kc.groups.find({ search: name, exact: true, briefRepresentation: true, max: 10 })
        : kc.groups.listSubGroups({
            parentId,
            search: name,
            exact: true,
            briefRepresentation: true,
            max: 10,
          }),
    );
    return groups.find((g) => g.name === name)?.id;
  }

  async deleteGroup(id: string): Promise<boolean> {
    try {
      await this.call(`delete group ${id}`, (kc) => kc.groups.del({ id }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /**
   * Idempotent: adding a member again answers 204, and two adds of the same membership at once (provision
   * and sync repairing the same tenant) make Keycloak answer the loser 409 "Duplicate resource error" from
   * its unique constraint; either way the user is a member afterwards.
   */
  async addToGroup(userId: string, groupId: string): Promise<void> {
    try {
      await this.call(`add user ${userId} to group ${groupId}`, (kc) =>
        kc.users.addToGroup({ id: userId, groupId }),
      );
    } catch (error) {
      if (error instanceof PlatformError && error.reason === 'conflict') return;
      throw error;
    }
  }

  async removeFromGroup(userId: string, groupId: string): Promise<void> {
    await this.call(`remove user ${userId} from group ${groupId}`, (kc) =>
      kc.users.delFromGroup({ id: userId, groupId }),
    );
  }

  async userGroups(userId: string): Promise<{ id: string; name: string }[]> {
    const groups = await this.call(`list groups of user ${userId}`, (kc) =>
      kc.users.listGroups({ id: userId, briefRepresentation: true, max: 1000 }),
    );
    return groups.flatMap((g) =>
      g.id !== undefined && g.name !== undefined ? [{ id: g.id, name: g.name }] : [],
    );
  }

  /** The members of a group, one page at a time (first/max, brief representations). */
  async *groupMembers(groupId: string): AsyncGenerator<DirectoryUser[]> {
    for (let first = 0; ; first += this.pageSize) {
      const page = await this.call(`list members of group ${groupId}`, (kc) =>
        kc.groups.listMembers({ id: groupId, first, max: this.pageSize, briefRepresentation: true }),
      );
      if (page.length > 0) yield page.map(toUser);
      if (page.length < this.pageSize) return;
    }
  }

  /**
   * Users created before `cutoff`, in pages. Keycloak 26.6+ filters server-side (createdBefore, epoch ms);
   * older versions ignore the unknown parameter and page through every user, so each page is also filtered
   * here: the result is right on either, and fast where the server can help.
   */
  async *usersCreatedBefore(cutoff: Date): AsyncGenerator<DirectoryUser[]> {
    for (let first = 0; ; first += this.pageSize) {
      const page = await this.call('list users by creation time', (kc) =>
        kc.users.find({
          first,
          max: this.pageSize,
          briefRepresentation: true,
          createdBefore: cutoff.getTime(),
        }),
      );
      const old = page
        .map(toUser)
        .filter((u) => u.createdTimestamp !== undefined && u.createdTimestamp < cutoff.getTime());
      if (old.length > 0) yield old;
      if (page.length < this.pageSize) return;
    }
  }
}
