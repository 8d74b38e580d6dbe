/**
 * Everest's local accounts, as Everest itself stores them (pkg/accounts, pkg/kubernetes/accounts.go): the
 * Secret everest-system/everest-accounts, key users.yaml, a YAML map from username to
 * `{enabled, capabilities, passwordMtime, passwordHash}`. The hash is PBKDF2-HMAC-SHA256 of the password,
 * salted with the UID of the everest-system Namespace, 4,096 iterations, 32 bytes, kept as raw bytes; Go's
 * yaml.v2 writes such a non-UTF-8 string as a `!!binary` scalar, and so does this. A Secret annotation
 * `insecure-password/<user>: "true"` marks a plaintext password (the chart's initial admin).
 *
 * Everything here is pure: the accounts document in, the changed document out, with Everest's own rules
 * and error messages. accounts-secret.ts reads and writes the Secret.
 */
import { pbkdf2 } from 'node:crypto';
import { promisify } from 'node:util';
import { parseDocument, stringify } from 'yaml';
import type { ObjectRef } from '../adapters/kubernetes/resource-path.ts';
import { PlatformError } from '../platform/errors.ts';

export const EVEREST_NAMESPACE = 'everest-system';

/** A core object of Everest's own namespace (the accounts Secret, the RBAC ConfigMap). */
export const everestSystemObject = (resource: string, name: string): ObjectRef => ({
  group: '',
  version: 'v1',
  resource,
  namespace: EVEREST_NAMESPACE,
  name,
});
export const ACCOUNTS_SECRET = 'everest-accounts';
export const ACCOUNTS_KEY = 'users.yaml';
export const INSECURE_PASSWORD_ANNOTATION = 'insecure-password/';
/**
 * The product's record of the accounts it made, on the accounts Secret (users.yaml has no free field):
 * JSON, username -> the tenant (database namespace) it was made for. Written in the same read-modify-write
 * as the account, so an account and its record change together. An account not in it was made by someone
 * else (Everest's chart, the UI, everestctl) and is never changed by bootstrap.
 */
export const ACCOUNT_OWNERS_ANNOTATION = 'tenant-lifecycle.dev/everest-account-owners';
/** Everest's built-in administrator: never a tenant's, never reset, never bound to a tenant role. */
export const EVEREST_ADMIN_ACCOUNT = 'admin';

const ITERATIONS = 4096;
const KEY_BYTES = 32;

export const USERNAME_RULE = /^[a-zA-Z0-9_]{3,}$/;
export const PASSWORD_RULE = /^[a-zA-Z0-9@*#$%^&+=!_-]{6,}$/;
export const USERNAME_MESSAGE =
  'username may contain only letters, numbers, underscores, and must be at least 3 characters long';
/**
 * The alphabet of passwords generated for Everest accounts: Everest's allowed set (PASSWORD_RULE) without
 * look-alike characters (I, O, l, 0, 1); 64 symbols, about 144 bits for 24 characters.
 */
export const GENERATED_PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789@#%+=_-';
export const PASSWORD_MESSAGE =
  'password may contain only letters, numbers and specific special characters (@*#$%^&+=!_-), and must be at least 6 characters long';

export type Capability = 'login' | 'apiKey';

export interface Account {
  readonly enabled: boolean;
  readonly capabilities: readonly string[];
  readonly passwordMtime: string;
  /** The PBKDF2 bytes, or the plaintext of an account marked insecure. */
  readonly passwordHash: Uint8Array | string;
}

export type Accounts = ReadonlyMap<string, Account>;

/** The accounts Secret's content: the users.yaml map and the Secret's annotations. */
export interface AccountsDocument {
  readonly accounts: Accounts;
  readonly annotations: Readonly<Record<string, string>>;
}

const invalid = (message: string, path: string) =>
  new PlatformError({ reason: 'validation', message, issues: [{ path, message }] });

export function checkUsername(username: string): void {
  if (!USERNAME_RULE.test(username)) throw invalid(USERNAME_MESSAGE, 'username');
}

export function checkPassword(password: string, path = 'password'): void {
  if (password === '') throw invalid('password cannot be empty', path);
  if (!PASSWORD_RULE.test(password)) throw invalid(PASSWORD_MESSAGE, path);
}

/** Everest's hash of a password: PBKDF2-HMAC-SHA256(password, salt = everest-system UID, 4096, 32). */
export async function hashPassword(password: string, salt: string): Promise<Uint8Array> {
  return new Uint8Array(await promisify(pbkdf2)(password, salt, ITERATIONS, KEY_BYTES, 'sha256'));
}

/** Go's time.RFC3339 (seconds, UTC `Z`), as Everest writes passwordMtime. */
export function rfc3339(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function asAccount(name: string, value: unknown): Account {
  if (typeof value !== 'object' || value === null)
    throw new PlatformError({ reason: 'conflict', message: `users.yaml: account ${name} is not a map` });
  const v = value as Record<string, unknown>;
  const hash = v.passwordHash;
  return {
    enabled: v.enabled === true,
    capabilities: Array.isArray(v.capabilities) ? v.capabilities.map(String) : [],
    passwordMtime: typeof v.passwordMtime === 'string' ? v.passwordMtime : '',
    passwordHash: hash instanceof Uint8Array ? hash : typeof hash === 'string' ? hash : '',
  };
}

/** Reads users.yaml (empty or absent: no accounts). A document Everest could not read is a 409. */
export function parseAccounts(text: string | undefined): Accounts {
  if (text === undefined || text.trim() === '') return new Map();
  const doc = parseDocument(text, { customTags: ['binary'] });
  if (doc.errors.length > 0)
    throw new PlatformError({
      reason: 'conflict',
      message: `users.yaml of ${EVEREST_NAMESPACE}/${ACCOUNTS_SECRET} is not valid YAML: ${doc.errors[0]?.message ?? ''}`,
    });
  const data = doc.toJS() as unknown;
  if (data === null || data === undefined) return new Map();
  if (typeof data !== 'object' || Array.isArray(data))
    throw new PlatformError({ reason: 'conflict', message: 'users.yaml is not a map of accounts' });
  return new Map(Object.entries(data).map(([name, value]) => [name, asAccount(name, value)]));
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** users.yaml as Go's yaml.v2 writes it: keys sorted, hash bytes as text when valid UTF-8, else !!binary. */
export function serializeAccounts(accounts: Accounts): string {
  const data: Record<string, unknown> = {};
  for (const name of [...accounts.keys()].sort()) {
    const a = accounts.get(name);
    if (a === undefined) continue;
    const hash = a.passwordHash;
    data[name] = {
      enabled: a.enabled,
      capabilities: [...a.capabilities],
      passwordMtime: a.passwordMtime,
      passwordHash: typeof hash === 'string' || !isUtf8(hash) ? hash : new TextDecoder().decode(hash),
    };
  }
  return stringify(data, { customTags: ['binary'], lineWidth: 0 });
}

const withoutInsecureMark = (annotations: Readonly<Record<string, string>>, username: string) =>
  Object.fromEntries(
    Object.entries(annotations).filter(([k]) => k !== `${INSECURE_PASSWORD_ANNOTATION}${username}`),
  );

/** username -> owning tenant, as recorded on the accounts Secret (an unreadable record owns nothing). */
export function accountOwners(doc: AccountsDocument): Readonly<Record<string, string>> {
  const text = doc.annotations[ACCOUNT_OWNERS_ANNOTATION];
  if (text === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
  } catch {
    return {};
  }
}

/** The document with `username` recorded as `owner`'s, or its record removed (owner undefined). */
export function withAccountOwner(
  doc: AccountsDocument,
  username: string,
  owner: string | undefined,
): AccountsDocument {
  const owners = Object.entries({ ...accountOwners(doc), [username]: owner })
    .filter((e): e is [string, string] => e[1] !== undefined)
    .sort(([a], [b]) => a.localeCompare(b));
  const others = Object.entries(doc.annotations).filter(([k]) => k !== ACCOUNT_OWNERS_ANNOTATION);
  const record: [string, string][] =
    owners.length === 0 ? [] : [[ACCOUNT_OWNERS_ANNOTATION, JSON.stringify(Object.fromEntries(owners))]];
  return { accounts: doc.accounts, annotations: Object.fromEntries([...others, ...record]) };
}

/**
 * 409 not_owned unless `tenant` may change account `username`: `admin` never; an existing account only
 * when the product's record names `tenant` as its owner; an absent account may be made.
 */
export function checkAccountOwnership(doc: AccountsDocument, username: string, tenant: string): void {
  if (username === EVEREST_ADMIN_ACCOUNT)
    throw new PlatformError({
      reason: 'not_owned',
      message: `Everest account ${username} is Everest's administrator, not tenant ${tenant}'s: nothing was changed`,
    });
  if (!doc.accounts.has(username) || accountOwners(doc)[username] === tenant) return;
  throw new PlatformError({
    reason: 'not_owned',
    message: `Everest account ${username} exists and is not tenant ${tenant}'s (this product did not make it for ${tenant}): nothing was changed`,
  });
}

/** `accounts create`: a new enabled login account; Everest's errors for a bad name or password. */
export function createAccount(
  doc: AccountsDocument,
  username: string,
  hash: Uint8Array,
  now: Date,
): AccountsDocument {
  checkUsername(username);
  if (doc.accounts.has(username))
    throw new PlatformError({ reason: 'conflict', message: 'user already exists' });
  const accounts = new Map(doc.accounts);
  accounts.set(username, {
    enabled: true,
    capabilities: ['login'],
    passwordMtime: rfc3339(now),
    passwordHash: hash,
  });
  return { accounts, annotations: withoutInsecureMark(doc.annotations, username) };
}

/** `accounts set-password`: the account must exist; its hash and mtime change, the insecure mark goes. */
export function setAccountPassword(
  doc: AccountsDocument,
  username: string,
  hash: Uint8Array,
  now: Date,
): AccountsDocument {
  const current = doc.accounts.get(username);
  if (current === undefined) throw new PlatformError({ reason: 'not_found', message: 'account not found' });
  const accounts = new Map(doc.accounts);
  accounts.set(username, { ...current, passwordMtime: rfc3339(now), passwordHash: hash });
  return { accounts, annotations: withoutInsecureMark(doc.annotations, username) };
}

/** `accounts delete`. */
export function deleteAccount(doc: AccountsDocument, username: string): AccountsDocument {
  if (!doc.accounts.has(username))
    throw new PlatformError({ reason: 'not_found', message: 'account not found' });
  const accounts = new Map(doc.accounts);
  accounts.delete(username);
  return withAccountOwner(
    { accounts, annotations: withoutInsecureMark(doc.annotations, username) },
    username,
    undefined,
  );
}

export interface AccountSummary {
  readonly user: string;
  readonly capabilities: readonly string[];
  readonly enabled: boolean;
}

/** `accounts list`, sorted by user (Everest's order is Go map order, i.e. random). */
export function listAccounts(accounts: Accounts): AccountSummary[] {
  return [...accounts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([user, a]) => ({ user, capabilities: a.capabilities, enabled: a.enabled }));
}

/** A fixed-width table with upper-case headers, as everestctl prints its lists. */
export function textTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 2)))
      .join('')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** `everestctl accounts list`: USER CAPABILITIES ENABLED, capabilities as a Go slice (`[login apiKey]`). */
export function accountsTable(accounts: Accounts): string {
  return textTable(
    ['USER', 'CAPABILITIES', 'ENABLED'],
    listAccounts(accounts).map((a) => [a.user, `[${a.capabilities.join(' ')}]`, String(a.enabled)]),
  );
}
