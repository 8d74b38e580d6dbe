/**
 * POST /bootstrap/tenant: an Everest tenant (namespace, account, password, RBAC lines, limits) in one
 * step against Everest's own data, safe to run again:
 * 1. the tenant's policy lines are appended unless already present;
 * 2. the database namespace is added, or, when Everest already manages it, given the operators it lacks;
 * 3. the account is created, or its password set when it exists;
 * 4. the TenantResourcePolicy is written with the given limits, or with the defaults only when the
 *    namespace has none, so that running it again never resets a tenant's limits.
 * Everything is validated before the first write (Everest's name and password rules, the reserved names,
 * the operators, the policy lines), so bad input changes nothing. Only what this product made for this
 * tenant is changed: Everest's `admin` never, an existing account only when the accounts Secret's owner
 * record names this tenant, an existing namespace only when it carries this product's tenant annotation;
 * anything else is 409 not_owned and nothing is written. A dry run reads and plans, and writes nothing.
 */
import { assertNotReserved } from '../platform/reserved-names.ts';
import type { AuditContext } from '../store/audited-run.ts';
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
import { auditedChange, namespaceTarget } from './audited-change.ts';
import { planNamespace, type OperatorChoice, type OperatorKey } from './db-namespace-plan.ts';
import { requestEnforcement } from './limits-operations.ts';
import type { BootstrapPorts } from './ports.ts';
import { tenantPolicyLines } from './rbac-policy.ts';
import { DEFAULT_LIMITS, limitsRowFromSpec, type LimitsRow } from './tenant-resource-policy.ts';

export interface BootstrapRequest {
  readonly username: string;
  readonly password: string;
  readonly namespace: string;
  readonly operators: OperatorChoice;
  readonly takeOwnership: boolean;
  readonly limits?: Omit<LimitsRow, 'namespace'>;
  readonly dryRun: boolean;
}

/** What the bootstrap itself reads and writes. */
export type EverestTenantSystems = Pick<
  BootstrapPorts,
  'reserved' | 'accounts' | 'rbac' | 'namespaces' | 'limits' | 'now'
>;

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
  readonly limits: LimitsRow & { readonly source: 'given' | 'default' | 'existing' };
  readonly warnings: readonly string[];
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
  const existingSpec = state.exists ? await systems.limits.read(namespace) : undefined;
  const limits =
    request.limits !== undefined
      ? { namespace, ...request.limits, source: 'given' as const }
      : existingSpec !== undefined
        ? { ...limitsRowFromSpec(namespace, existingSpec), source: 'existing' as const }
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
  if (limits.source !== 'existing') await systems.limits.write(limits);
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

/**
 * POST /bootstrap/tenant: the bootstrap under the namespace's lock with its audit record (a dry run: neither),
 * then, when limits were written, enforce asked to apply them at once (`enforcement`).
 */
export async function runTenantBootstrap(
  ports: EverestTenantSystems & Pick<BootstrapPorts, 'store' | 'limitsEvents'>,
  request: BootstrapRequest,
  ctx: AuditContext,
): Promise<BootstrapResult | (BootstrapResult & { enforcement: 'unchanged' | 'requested' | 'scheduled' })> {
  if (request.dryRun) return bootstrapTenant(ports, request);
  const result = await auditedChange(
    ports.store,
    ctx,
    {
      operation: 'bootstrap-tenant',
      target: namespaceTarget(request.namespace),
      details: (r: BootstrapResult) => ({
        username: r.username,
        namespace_created: r.namespace_created,
        operators_installed: r.operators_installed,
        account: r.account,
        rbac_added: r.rbac.added,
        limits_source: r.limits.source,
      }),
    },
    () => bootstrapTenant(ports, request),
  );
  const enforcement =
    result.limits.source === 'existing'
      ? 'unchanged'
      : await requestEnforcement(ports, request.namespace, ctx);
  return { ...result, enforcement };
}
