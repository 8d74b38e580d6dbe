import { pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT_OWNERS_ANNOTATION,
  accountOwners,
  accountsTable,
  checkAccountOwnership,
  checkPassword,
  checkUsername,
  createAccount,
  deleteAccount,
  hashPassword,
  parseAccounts,
  serializeAccounts,
  setAccountPassword,
  withAccountOwner,
  INSECURE_PASSWORD_ANNOTATION,
  type AccountsDocument,
} from '../../../shared/everest/accounts.ts';
import { refusal } from '../../support/platform-error.ts';

const SALT = '6f1c2c4e-8a7b-4d0e-9f3a-2b5c7d9e1f00'; // an everest-system namespace UID
const NOW = new Date('2026-11-30T10:11:12.345Z');
const empty: AccountsDocument = { accounts: new Map(), annotations: {} };

/** Everest's login check: PBKDF2 of the password against the stored bytes, plaintext when marked insecure. */
async function verifyPassword(doc: AccountsDocument, username: string, password: string, salt: string) {
  const account = doc.accounts.get(username);
  if (account === undefined) return false;
  const stored =
    typeof account.passwordHash === 'string' ? Buffer.from(account.passwordHash) : account.passwordHash;
  const given =
    doc.annotations[`${INSECURE_PASSWORD_ANNOTATION}${username}`] === 'true'
      ? Buffer.from(password)
      : await hashPassword(password, salt);
  return stored.length === given.length && timingSafeEqual(stored, given);
}

describe('Everest account rules', () => {
  it('accepts what Everest accepts and refuses the rest with its words', () => {
    expect(
      refusal(() => {
        checkUsername('alice');
      }),
    ).toBeUndefined();
    expect(
      refusal(() => {
        checkUsername('db_admin_2');
      }),
    ).toBeUndefined();
    expect(
      refusal(() => {
        checkUsername('al');
      }),
    ).toMatch(/^400 username may contain only letters/);
    expect(
      refusal(() => {
        checkUsername('ns-alice');
      }),
    ).toMatch(/^400 username may contain only/);
    expect(
      refusal(() => {
        checkPassword('StrongP@ssw0rd');
      }),
    ).toBeUndefined();
    expect(
      refusal(() => {
        checkPassword('');
      }),
    ).toBe('400 password cannot be empty');
    expect(
      refusal(() => {
        checkPassword('short');
      }),
    ).toMatch(/^400 password may contain only/);
    expect(
      refusal(() => {
        checkPassword('with space1');
      }),
    ).toMatch(/^400 password may contain only/);
  });
});

describe('Everest account hashes', () => {
  it('are PBKDF2-HMAC-SHA256 of the password, salted with the namespace UID, 4096 rounds, 32 bytes', async () => {
    const hash = await hashPassword('StrongP@ssw0rd', SALT);
    // Computed independently, the way Everest documents it.
    expect(Buffer.from(hash)).toEqual(pbkdf2Sync('StrongP@ssw0rd', SALT, 4096, 32, 'sha256'));
  });

  it('round-trip through users.yaml as !!binary, and verify only the right password', async () => {
    const hash = await hashPassword('StrongP@ssw0rd', SALT);
    const doc = createAccount(empty, 'alice', hash, NOW);
    const text = serializeAccounts(doc.accounts);
    expect(text).toContain('passwordHash: !!binary');
    expect(text).toContain('passwordMtime: 2026-11-30T10:11:12Z');
    const read = { accounts: parseAccounts(text), annotations: {} };
    expect(Buffer.from(read.accounts.get('alice')?.passwordHash as Uint8Array)).toEqual(Buffer.from(hash));
    expect(await verifyPassword(read, 'alice', 'StrongP@ssw0rd', SALT)).toBe(true);
    expect(await verifyPassword(read, 'alice', 'StrongP@ssw0rd!', SALT)).toBe(false);
    expect(await verifyPassword(read, 'bob', 'StrongP@ssw0rd', SALT)).toBe(false);
  });

  it('reads the chart’s initial admin (plaintext, marked insecure) and clears the mark on a new password', async () => {
    const chart = 'admin:\n  passwordHash: s3cr3t-initial\n  enabled: true\n  capabilities: [login]\n';
    const doc = { accounts: parseAccounts(chart), annotations: { 'insecure-password/admin': 'true' } };
    expect(await verifyPassword(doc, 'admin', 's3cr3t-initial', SALT)).toBe(true);
    const changed = setAccountPassword(doc, 'admin', await hashPassword('N3w-admin', SALT), NOW);
    expect(changed.annotations).toEqual({});
    expect(await verifyPassword(changed, 'admin', 'N3w-admin', SALT)).toBe(true);
    expect(await verifyPassword(changed, 'admin', 's3cr3t-initial', SALT)).toBe(false);
  });
});

describe('account changes', () => {
  it('create, set-password and delete follow Everest: errors for a duplicate or a missing account', async () => {
    const hash = await hashPassword('StrongP@ssw0rd', SALT);
    const one = createAccount(empty, 'alice', hash, NOW);
    expect(one.accounts.get('alice')).toMatchObject({ enabled: true, capabilities: ['login'] });
    expect(refusal(() => createAccount(one, 'alice', hash, NOW))).toBe('409 user already exists');
    expect(refusal(() => setAccountPassword(one, 'bob', hash, NOW))).toBe('404 account not found');
    expect(refusal(() => deleteAccount(one, 'bob'))).toBe('404 account not found');
    expect(deleteAccount(one, 'alice').accounts.size).toBe(0);
    expect(empty.accounts.size).toBe(0); // inputs are never changed
  });

  it('lists accounts as everestctl prints them', async () => {
    const hash = await hashPassword('StrongP@ssw0rd', SALT);
    const doc = createAccount(createAccount(empty, 'bob', hash, NOW), 'alice', hash, NOW);
    expect(accountsTable(doc.accounts)).toBe(
      'USER   CAPABILITIES  ENABLED\nalice  [login]       true\nbob    [login]       true\n',
    );
  });

  it('refuses a users.yaml Everest could not read', () => {
    expect(refusal(() => parseAccounts('alice: [unclosed'))).toMatch(/^409 users.yaml .* not valid YAML/);
    expect(refusal(() => parseAccounts('- a\n- b\n'))).toMatch(/^409 users.yaml is not a map/);
    expect(parseAccounts('').size).toBe(0);
  });
});

describe('account ownership', () => {
  const hash = new Uint8Array(32);
  const now = new Date('2026-12-02T00:00:00Z');
  const chart = {
    accounts: parseAccounts('admin:\n  enabled: true\n  passwordHash: initial\n'),
    annotations: {},
  };

  it('admin is never a tenant’s; a foreign account is refused; an absent or own account passes', () => {
    expect(
      refusal(() => {
        checkAccountOwnership(chart, 'admin', 'ns-a');
      }),
    ).toMatch(/^409 Everest account admin is Everest's administrator, not tenant ns-a's/);
    const withBob = createAccount(chart, 'bob', hash, now);
    expect(
      refusal(() => {
        checkAccountOwnership(withBob, 'bob', 'ns-a');
      }),
    ).toMatch(/^409 Everest account bob exists and is not tenant ns-a's/);
    // Positive controls: an absent account may be made; once recorded as ns-a's, ns-a may change it, ns-b not.
    expect(
      refusal(() => {
        checkAccountOwnership(chart, 'carol', 'ns-a');
      }),
    ).toBeUndefined();
    const carol = withAccountOwner(createAccount(chart, 'carol', hash, now), 'carol', 'ns-a');
    expect(carol.annotations).toEqual({ [ACCOUNT_OWNERS_ANNOTATION]: '{"carol":"ns-a"}' });
    expect(
      refusal(() => {
        checkAccountOwnership(carol, 'carol', 'ns-a');
      }),
    ).toBeUndefined();
    expect(
      refusal(() => {
        checkAccountOwnership(carol, 'carol', 'ns-b');
      }),
    ).toMatch(/^409 .*not tenant ns-b's/);
    // The record goes with the account; other annotations stay.
    const marked = { ...carol, annotations: { ...carol.annotations, 'insecure-password/admin': 'true' } };
    expect(deleteAccount(marked, 'carol').annotations).toEqual({ 'insecure-password/admin': 'true' });
  });

  it('an unreadable record owns nothing', () => {
    const doc = {
      ...createAccount(chart, 'dave', hash, now),
      annotations: { [ACCOUNT_OWNERS_ANNOTATION]: '[' },
    };
    expect(accountOwners(doc)).toEqual({});
    expect(
      refusal(() => {
        checkAccountOwnership(doc, 'dave', 'ns-a');
      }),
    ).toMatch(/^409 /);
  });
});
