/**
 * POST /bootstrap/tenant: an Everest tenant in one repeatable step (namespace, account, password, RBAC lines,
 * limits), against Everest's own data and safe to run again:
 * 1. the tenant's policy lines are appended unless already present;
 * 2. the database namespace is added, or, when Everest already manages it, given the operators it lacks;
 * 3. the account is created, or its password set when it exists;
 * 4. the TenantResourcePolicy is written with the given limits, or with the defaults only when the
 *    namespace has none, so that a tenant's limits are never reset to the defaults by a second run.
 * Everything is validated before the first write (Everest's name and password rules, the reserved names,
 * the operators, the policy lines), so bad input changes nothing. Only what this product made for this
 * tenant is changed: Everest's `admin` never, an existing account only when the accounts Secret's owner
 * record names this tenant, an existing namespace only when it carries this product's tenant annotation;
 * anything else is 409 not_owned and nothing is written. A dry run reads and plans, and writes nothing.
 */
import type { ReservedNames } from '../platform/reserved-names.ts';
import { assertNotReserved } from '../platform/reserved-names.ts';
import {
  checkAccountOwnership,
  checkPassword,
  checkUsername,
  createAccount,
  EVEREST_ADMIN_ACCOUNT,
  hashPassword,
  setAccountPassword,
  withAccountOwner,
} from './accounts.ts';
import type { EverestAccounts } from './accounts-secret.ts';
import { planNamespace, type OperatorChoice, type OperatorKey } from './db-namespace-plan.ts';
import type { EverestNamespaces } from './db-namespaces.ts';
import { readLimits, type EverestApi } from './enforcement.ts';
import type { EverestRbac } from './rbac-configmap.ts';
import { tenantPolicyLines } from './rbac-policy.ts';
import {
  DEFAULT_LIMITS,
  renderTenantResourcePolicy,
  seedLimitsFromSpec,
  specFromSeedLimits,
  tenantResourcePolicyRef,
  type SeedLimits,
} from './tenant-resource-policy.ts';

export interface BootstrapRequest {
  readonly username: string;
  readonly password: string;
  readonly namespace: string;
  readonly operators: OperatorChoice;
  readonly takeOwnership: boolean;
  readonly limits?: Omit<SeedLimits, 'namespace'>;
  readonly dryRun: boolean;
}

export interface EverestTenantSystems {
  /** Names never used for a namespace or an account (the configuration's, shared/platform/reserved-names.ts). */
  readonly reserved: ReservedNames;
  readonly api: EverestApi;
  readonly accounts: EverestAccounts;
  readonly rbac: EverestRbac;
  readonly namespaces: EverestNamespaces;
  readonly now: () => Date;
}

export interface BootstrapResult {
  readonly status: 'ok';
  readonly dryRun: boolean;
  readonly namespace: string;
  readonly username: string;
  readonly namespace_created: boolean;
  readonly operators_installed: readonly OperatorKey[];
  readonly operators_present: readonly OperatorKey[];
  readonly account: 'created' | 'password_set';
  readonly rbac: { readonly added: number; readonly already_present: number; readonly enforced: boolean };
  readonly limits: SeedLimits & { readonly source: 'given' | 'default' | 'existing' };
  readonly warnings: readonly string[];
}

/** Writes a namespace's TenantResourcePolicy (server-side apply: the same limits twice change nothing). */
export async function writeLimits(api: EverestApi, limits: SeedLimits): Promise<void> {
  await api.apply(
    tenantResourcePolicyRef(limits.namespace),
    renderTenantResourcePolicy(limits.namespace, specFromSeedLimits(limits)),
    `write limits of ${limits.namespace}`,
  );
}

export async function bootstrapTenant(
  systems: EverestTenantSystems,
  request: BootstrapRequest,
): Promise<BootstrapResult> {
  const { namespace, username } = request;
  checkUsername(username);
  checkPassword(request.password);
  // Everest's administrator first: an existing account no tenant owns, whatever else the request says.
  if (username === EVEREST_ADMIN_ACCOUNT)
    checkAccountOwnership(await systems.accounts.read(), username, namespace);
  assertNotReserved(username, systems.reserved, 'Everest account', 'username');
  const state = await systems.namespaces.state(namespace);
  const plan = planNamespace(
    'ensure',
    namespace,
    state,
    request.operators,
    request.takeOwnership,
    systems.reserved,
  );
  // An existing account is changed only when this product made it for this tenant (checked again in the
  // write itself, against a concurrent change).
  const accountsRead = await systems.accounts.read();
  checkAccountOwnership(accountsRead, username, namespace);
  const existingSpec = state.exists ? await readLimits(systems.api, namespace) : undefined;
  const limits =
    request.limits !== undefined
      ? { namespace, ...request.limits, source: 'given' as const }
      : existingSpec !== undefined
        ? { ...seedLimitsFromSpec(namespace, existingSpec), source: 'existing' as const }
        : { namespace, ...DEFAULT_LIMITS, source: 'default' as const };
  const lines = tenantPolicyLines(username, namespace);

  if (request.dryRun) {
    // appendToPolicy checks the lines against the stored policy without writing.
    const rbac = await systems.rbac.append(lines, true);
    const accounts = accountsRead;
    return {
      status: 'ok',
      dryRun: true,
      namespace,
      username,
      namespace_created: plan.create,
      operators_installed: plan.install,
      operators_present: plan.kept,
      account: accounts.accounts.has(username) ? 'password_set' : 'created',
      rbac: { added: rbac.added.length, already_present: rbac.alreadyPresent.length, enforced: rbac.enabled },
      limits,
      warnings: plan.warnings,
    };
  }

  // The policy first: its append is validated and written in one step, so a policy Everest would refuse
  // stops the bootstrap before anything else is written.
  const rbac = await systems.rbac.append(lines);
  await systems.namespaces.apply(plan);
  const hash = await hashPassword(request.password, await systems.accounts.passwordSalt());
  const account = await systems.accounts.update(`set account ${username}`, (doc) => {
    checkAccountOwnership(doc, username, namespace);
    return doc.accounts.has(username)
      ? { doc: setAccountPassword(doc, username, hash, systems.now()), result: 'password_set' as const }
      : {
          doc: withAccountOwner(createAccount(doc, username, hash, systems.now()), username, namespace),
          result: 'created' as const,
        };
  });
  if (limits.source !== 'existing') await writeLimits(systems.api, limits);
  return {
    status: 'ok',
    dryRun: false,
    namespace,
    username,
    namespace_created: plan.create,
    operators_installed: plan.install,
    operators_present: plan.kept,
    account,
    rbac: { added: rbac.added.length, already_present: rbac.alreadyPresent.length, enforced: rbac.enabled },
    limits,
    warnings: plan.warnings,
  };
}
