/**
 * Everest accounts one at a time (shared/everest/account-operations.ts) over fake ports: create with a
 * given or generated password, delete with and without the policy lines, and the refusals (reserved
 * names before anything is read; Everest's rules), each beside the legitimate call succeeding.
 */
import { describe, expect, it } from 'vitest';
import {
  createEverestAccount,
  deleteEverestAccount,
  listEverestAccounts,
  setEverestAccountPassword,
} from '../../../shared/everest/account-operations.ts';
import { hashPassword, PASSWORD_RULE } from '../../../shared/everest/accounts.ts';
import { tenantPolicyLines } from '../../../shared/everest/rbac-policy.ts';
import { platformErrorOf } from '../../support/platform-error.ts';
import { bootstrapFakes, context, NOW, SALT } from './fakes.ts';

describe('accounts create', () => {
  it('creates an enabled login account with the given password, audited under the account’s lock', async () => {
    const f = bootstrapFakes();
    const answer = await createEverestAccount(
      f.ports,
      { username: 'alice', password: 'Alice-Pass-1' },
      context(),
    );
    expect(answer).toEqual({ exit_code: 0, stdout: 'account alice created', stderr: '', username: 'alice' });
    expect(f.accounts.doc.accounts.get('alice')).toEqual({
      enabled: true,
      capabilities: ['login'],
      passwordMtime: NOW.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      passwordHash: await hashPassword('Alice-Pass-1', SALT),
    });
    expect(f.journal).toEqual([
      'accounts.passwordSalt',
      'store.lock tenant:user:alice',
      'accounts.update create account alice',
      'store.recordAudit accounts-create user:alice success',
      'store.unlock tenant:user:alice',
    ]);
    expect(f.store.records[0]?.details).toEqual({ generated: false });
  });

  it('generates a password Everest accepts when none is given, answers it once and never records it', async () => {
    const f = bootstrapFakes();
    const answer = await createEverestAccount(f.ports, { username: 'bob' }, context());
    expect(answer.generated_password).toMatch(PASSWORD_RULE);
    expect(answer.generated_password).toHaveLength(24);
    expect(f.accounts.doc.accounts.get('bob')?.passwordHash).toEqual(
      await hashPassword(answer.generated_password ?? '', SALT),
    );
    expect(f.store.records[0]?.details).toEqual({ generated: true });
    expect(JSON.stringify(f.store.records)).not.toContain(answer.generated_password);
  });

  it('refuses a reserved name before reading anything, and an existing account; a new name is created', async () => {
    const f = bootstrapFakes();
    const reserved = await platformErrorOf(
      createEverestAccount(f.ports, { username: 'root', password: 'Root-Pass-1' }, context()),
    );
    expect(reserved.status).toBe(400);
    expect(f.journal).toEqual([]);

    await createEverestAccount(f.ports, { username: 'alice', password: 'Alice-Pass-1' }, context());
    const before = f.accounts.doc;
    const twice = await platformErrorOf(
      createEverestAccount(f.ports, { username: 'alice', password: 'Other-Pass-2' }, context()),
    );
    expect(twice.status).toBe(409);
    expect(twice.message).toBe('user already exists');
    expect(f.accounts.doc).toBe(before);
    expect(f.store.records.map((r) => r.outcome)).toEqual(['success', 'failure']);

    await createEverestAccount(f.ports, { username: 'carol', password: 'Carol-Pass-1' }, context());
    expect([...f.accounts.doc.accounts.keys()].sort()).toEqual(['alice', 'carol']);
  });
});

describe('accounts set-password', () => {
  it('sets an existing account’s password; an absent one is 404 and nothing changes', async () => {
    const f = bootstrapFakes();
    await createEverestAccount(f.ports, { username: 'alice', password: 'Alice-Pass-1' }, context());
    const missing = await platformErrorOf(
      setEverestAccountPassword(f.ports, { username: 'nobody', new_password: 'Some-Pass-1' }, context()),
    );
    expect(missing.status).toBe(404);
    expect(f.accounts.doc.accounts.has('nobody')).toBe(false);

    await setEverestAccountPassword(f.ports, { username: 'alice', new_password: 'Alice-Pass-2' }, context());
    expect(f.accounts.doc.accounts.get('alice')?.passwordHash).toEqual(
      await hashPassword('Alice-Pass-2', SALT),
    );
  });
});

describe('accounts delete', () => {
  it('deletes the account and, with remove_rbac, its policy lines; without it, the lines stay', async () => {
    const f = bootstrapFakes();
    await f.rbac.append([...tenantPolicyLines('alice', 'ns-alice'), ...tenantPolicyLines('bob', 'ns-bob')]);
    await createEverestAccount(f.ports, { username: 'alice', password: 'Alice-Pass-1' }, context());
    await createEverestAccount(f.ports, { username: 'bob', password: 'Bobby-Pass-1' }, context());

    const kept = await deleteEverestAccount(f.ports, { username: 'bob', remove_rbac: false }, context());
    expect(kept).toMatchObject({ stdout: 'account bob deleted', rbac_lines_removed: [] });
    expect(f.rbac.text).toContain('g, bob, role:tenant-ns-bob');

    const removed = await deleteEverestAccount(f.ports, { username: 'alice', remove_rbac: true }, context());
    expect(removed.rbac_lines_removed).toHaveLength(9);
    expect(f.rbac.text).not.toContain('alice');
    expect(f.rbac.text).not.toContain('ns-alice');
    expect(f.journal.slice(-4)).toEqual([
      'accounts.update delete account alice',
      'rbac.removeUser alice',
      'store.recordAudit accounts-delete user:alice success',
      'store.unlock tenant:user:alice',
    ]);
    expect(f.store.records.at(-1)?.details).toEqual({ rbac_lines_removed: 9 });
    expect((await listEverestAccounts(f.ports)).users).toEqual([]);
  });

  it('refuses an absent account (404) without touching the policy; a reserved name is 400', async () => {
    const f = bootstrapFakes();
    await f.rbac.append(tenantPolicyLines('alice', 'ns-alice'));
    await createEverestAccount(f.ports, { username: 'alice', password: 'Alice-Pass-1' }, context());
    const policy = f.rbac.text;

    const absent = await platformErrorOf(
      deleteEverestAccount(f.ports, { username: 'ghost', remove_rbac: true }, context()),
    );
    expect(absent.status).toBe(404);
    const reserved = await platformErrorOf(
      deleteEverestAccount(f.ports, { username: 'admin', remove_rbac: true }, context()),
    );
    expect(reserved.status).toBe(400);
    expect(f.rbac.text).toBe(policy);
    expect(f.journal).not.toContain('rbac.removeUser ghost');

    await deleteEverestAccount(f.ports, { username: 'alice', remove_rbac: true }, context());
    expect(f.accounts.doc.accounts.size).toBe(0);
  });
});
