/**
 * Everest accounts one at a time (`everestctl accounts create|set-password|list|delete`): the reserved
 * names refused first (400, nothing read), the password hashed before the Secret's read-modify-write, the
 * change itself pure (accounts.ts), each write audited under the account's lock.
 */
import { generatePassword } from '../platform/passwords.ts';
import { assertNotReserved } from '../platform/reserved-names.ts';
import type { AuditContext } from '../store/audited-run.ts';
import {
  createAccount,
  deleteAccount,
  GENERATED_PASSWORD_ALPHABET,
  hashPassword,
  listAccounts,
  setAccountPassword,
  type AccountSummary,
} from './accounts.ts';
import { accountTarget, auditedChange } from './audited-change.ts';
import { cliAnswer } from './cli-answer.ts';
import type { BootstrapPorts } from './ports.ts';

type AccountPorts = Pick<BootstrapPorts, 'accounts' | 'store' | 'reserved' | 'now'>;

const refuseReserved = (ports: Pick<BootstrapPorts, 'reserved'>, username: string) => {
  assertNotReserved(username, ports.reserved, 'Everest account', 'username');
};

/** `accounts create`; without a password, one is generated and answered once (never recorded). */
export async function createEverestAccount(
  ports: AccountPorts,
  input: { readonly username: string; readonly password?: string | undefined },
  ctx: AuditContext,
) {
  refuseReserved(ports, input.username);
  const generated =
    input.password === undefined ? generatePassword({ alphabet: GENERATED_PASSWORD_ALPHABET }) : undefined;
  const hash = await hashPassword(input.password ?? generated ?? '', await ports.accounts.passwordSalt());
  await auditedChange(
    ports.store,
    ctx,
    {
      operation: 'accounts-create',
      target: accountTarget(input.username),
      details: () => ({ generated: generated !== undefined }),
    },
    () =>
      ports.accounts.update(`create account ${input.username}`, (doc) => ({
        doc: createAccount(doc, input.username, hash, ports.now()),
        result: undefined,
      })),
  );
  return cliAnswer(`account ${input.username} created`, {
    username: input.username,
    ...(generated === undefined ? {} : { generated_password: generated }),
  });
}

/** `accounts set-password`: the account must exist. */
export async function setEverestAccountPassword(
  ports: AccountPorts,
  input: { readonly username: string; readonly new_password: string },
  ctx: AuditContext,
) {
  refuseReserved(ports, input.username);
  const hash = await hashPassword(input.new_password, await ports.accounts.passwordSalt());
  await auditedChange(
    ports.store,
    ctx,
    { operation: 'accounts-set-password', target: accountTarget(input.username), details: () => ({}) },
    () =>
      ports.accounts.update(`set password of ${input.username}`, (doc) => ({
        doc: setAccountPassword(doc, input.username, hash, ports.now()),
        result: undefined,
      })),
  );
  return cliAnswer(`password of ${input.username} set`, { username: input.username });
}

/** `accounts list`. */
export async function listEverestAccounts(ports: Pick<BootstrapPorts, 'accounts'>): Promise<{
  exit_code: 0;
  stderr: '';
  users: AccountSummary[];
}> {
  return { exit_code: 0, stderr: '', users: listAccounts((await ports.accounts.read()).accounts) };
}

/** `accounts delete`; with `remove_rbac`, the user's policy lines too (after the account is gone). */
export async function deleteEverestAccount(
  ports: AccountPorts & Pick<BootstrapPorts, 'rbac'>,
  input: { readonly username: string; readonly remove_rbac: boolean },
  ctx: AuditContext,
) {
  refuseReserved(ports, input.username);
  const removed = await auditedChange(
    ports.store,
    ctx,
    {
      operation: 'accounts-delete',
      target: accountTarget(input.username),
      details: (r: string[]) => ({ rbac_lines_removed: r.length }),
    },
    async () => {
      await ports.accounts.update(`delete account ${input.username}`, (doc) => ({
        doc: deleteAccount(doc, input.username),
        result: undefined,
      }));
      return input.remove_rbac ? ports.rbac.removeUser(input.username) : [];
    },
  );
  return cliAnswer(`account ${input.username} deleted`, {
    username: input.username,
    rbac_lines_removed: removed,
  });
}
