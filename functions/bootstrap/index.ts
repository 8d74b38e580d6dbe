/**
 * bootstrap: the Everest tenant admin API of seed 001, speaking Everest's data model directly (no
 * everestctl): accounts in the Secret everest-system/everest-accounts, policy lines in the ConfigMap
 * everest-system/everest-rbac, database namespaces as Everest's chart makes them (OLM Subscriptions), and
 * limits as TenantResourcePolicy objects, which the enforce function turns into apiserver admission.
 * - POST /bootstrap/tenant (Idempotency-Key): namespace, account, policy lines, limits (tenant-bootstrap.ts)
 * - /cli/accounts/*, POST /users/rotate-password, DELETE /users: accounts (accounts.ts, accounts-secret.ts)
 * - /cli/namespaces/*, DELETE /namespaces: database namespaces (db-namespace-plan.ts, db-namespaces.ts)
 * - POST /rbac/append, POST /rbac/can: the policy (rbac-policy.ts, rbac-configmap.ts, rbac-enforcer.ts)
 * - PUT /limits, GET /limits/{namespace}, GET /tenants: limits and the predecessor's usage counters
 * - GET /audit, GET /users/raw, GET /namespaces/raw: views
 * Every mutating call is audited in the platform store. Path: trigger -> host -> operation below ->
 * shared/everest/* -> RawKubernetes.
 */
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { loadKubeConfig } from '../../shared/adapters/kubernetes/kubeconfig.ts';
import { RawKubernetes } from '../../shared/adapters/kubernetes/raw.ts';
import { createPool, poolSizeFor, poolTimeouts } from '../../shared/adapters/postgres/pool.ts';
import {
  accountsTable,
  createAccount,
  deleteAccount,
  hashPassword,
  listAccounts,
  PASSWORD_MESSAGE,
  PASSWORD_RULE,
  setAccountPassword,
  textTable,
  USERNAME_MESSAGE,
  USERNAME_RULE,
} from '../../shared/everest/accounts.ts';
import { EverestAccounts } from '../../shared/everest/accounts-secret.ts';
import {
  checkNamespaceName,
  OPERATOR_KEYS,
  planNamespace,
  RESERVED_NAMESPACES,
  type NamespaceMode,
} from '../../shared/everest/db-namespace-plan.ts';
import { MAX_COUNT, MAX_CPU_CORES, MAX_MEMORY_BYTES } from '../../shared/everest/input-bounds.ts';
import { EverestNamespaces } from '../../shared/everest/db-namespaces.ts';
import { allPolicies, readLimits } from '../../shared/everest/enforcement.ts';
import { EverestRbac, RBAC_LOCATION } from '../../shared/everest/rbac-configmap.ts';
import { can } from '../../shared/everest/rbac-enforcer.ts';
import {
  bootstrapTenant,
  writeLimits,
  type EverestTenantSystems,
} from '../../shared/everest/tenant-bootstrap.ts';
import {
  ENGINES,
  LIMITS_CHANGED_EVENT,
  seedLimitsFromSpec,
  type SeedLimits,
} from '../../shared/everest/tenant-resource-policy.ts';
import { UsageCounterStore, type UsageCounters } from '../../shared/everest/usage-counters.ts';
import { PlatformError } from '../../shared/platform/errors.ts';
import { eventSinkFor, type EventSink } from '../../shared/platform/event-sink.ts';
import type { Logger } from '../../shared/platform/logger.ts';
import { assertNotReserved } from '../../shared/platform/reserved-names.ts';
import { operation, type FunctionSpec, type InvocationContext } from '../../shared/platform/operation.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { runAudited } from '../../shared/store/audited-run.ts';
import { PlatformStore } from '../../shared/store/store.ts';
import type { BootstrapConfig } from './config.ts';

// Everest's rules, checked at the door so that a bad request is a 400 naming the field and changes nothing.
const username = z.string().max(128).regex(USERNAME_RULE, USERNAME_MESSAGE);
const password = z.string().max(128).regex(PASSWORD_RULE, PASSWORD_MESSAGE);
const namespace = z
  .string()
  .regex(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, 'an RFC 1035 label (lower-case letters, digits, -)')
  .refine((n) => !RESERVED_NAMESPACES.has(n), 'namespace is reserved for Everest internals');
const operators = z
  .object(
    Object.fromEntries(OPERATOR_KEYS.map((k) => [k, z.boolean().optional()])) as Record<
      (typeof OPERATOR_KEYS)[number],
      z.ZodOptional<z.ZodBoolean>
    >,
  )
  .strict();
const dryRun = z.boolean().default(false);

export const limitsBody = z
  .object({
    max_clusters: z.number().int().min(0).max(MAX_COUNT),
    allowed_engines: z.array(z.enum(ENGINES)).max(ENGINES.length).default([]),
    cpu_limit_cores: z.number().min(0).max(MAX_CPU_CORES),
    memory_limit_bytes: z.number().int().min(0).max(MAX_MEMORY_BYTES),
    max_db_users: z.number().int().min(0).max(MAX_COUNT),
  })
  .strict();

export const bootstrapRequest = z
  .object({
    username,
    password,
    namespace,
    operators: operators.default({}),
    /** Adopt an existing namespace that Everest does not manage yet. */
    take_ownership: z.boolean().default(false),
    /** The namespace's limits; default: keep its limits, or seed 001's defaults when it has none. */
    limits: limitsBody.optional(),
    /** Seed 001's body field; the Idempotency-Key header is what is honoured. */
    idempotency_key: z.string().max(255).optional(),
    dryRun,
  })
  .strict();
export const accountCreateRequest = z
  .object({
    username,
    /** Everest needs one; when absent, one is generated and returned once. */
    password: password.optional(),
  })
  .strict();
export const setPasswordRequest = z.object({ username, new_password: password }).strict();
export const accountDeleteRequest = z
  .object({
    username,
    /** Also remove the user's `g, <user>, <role>` lines, and the rules of roles left without members. */
    remove_rbac: z.boolean().default(false),
  })
  .strict();
export const namespaceAddRequest = z
  .object({ namespace, operators, take_ownership: z.boolean().default(false), dryRun })
  .strict();
export const namespaceUpdateRequest = z.object({ namespace, operators, dryRun }).strict();
export const namespaceRemoveRequest = z
  .object({ namespace, keep_namespace: z.boolean().default(false), force: z.boolean().default(false) })
  .strict();
export const rbacAppendRequest = z
  .object({ lines: z.array(z.string().max(1024)).min(1).max(1000), dryRun })
  .strict();
export const rbacCanRequest = z
  .object({
    user: z.string().regex(/^[A-Za-z0-9_:.@-]{1,253}$/, 'a user, group or role name'),
    resource: z.string().min(1).max(253),
    verb: z.string().min(1).max(16),
    object: z.string().min(1).max(512),
  })
  .strict();
export const limitsPutRequest = limitsBody.extend({ namespace }).strict();
export const limitsGetRequest = z.object({ namespace }).strict();
export const auditRequest = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    before: z.string().max(19).optional(),
    target: z.string().max(512).optional(),
    operation: z.string().max(64).optional(),
  })
  .strict();
const noInput = z.object({}).strict();

export interface BootstrapDependencies extends EverestTenantSystems {
  readonly store: Pick<PlatformStore, 'recordAudit' | 'withLock' | 'listAudit'>;
  readonly counters: Pick<UsageCounterStore, 'all'>;
  /** Where the limits-changed event goes; without one, enforce's schedule picks new limits up. */
  readonly limitsEvents?: Pick<EventSink, 'send'> | undefined;
}

/** What a CLI wrapper answered in seed 001 (`exit_code`, `stdout`, `stderr`), plus what was done. */
const cliAnswer = <T extends object>(stdout: string, extra: T) => ({
  exit_code: 0,
  stdout,
  stderr: '',
  ...extra,
});

const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789@#%+=_-';
/** 24 characters from Everest's allowed set (about 143 bits). */
function generatePassword(): string {
  return Array.from({ length: 24 }, () => PASSWORD_ALPHABET.charAt(randomInt(PASSWORD_ALPHABET.length))).join(
    '',
  );
}

export function bootstrapSpec(deps: BootstrapDependencies): FunctionSpec {
  const { api, accounts, rbac, namespaces, store } = deps;

  /** Asks enforce to apply a namespace's new limits now; a failure is logged: enforce's schedule catches up. */
  async function requestEnforcement(ns: string, ctx: InvocationContext): Promise<'requested' | 'scheduled'> {
    if (deps.limitsEvents === undefined) return 'scheduled';
    try {
      await deps.limitsEvents.send(LIMITS_CHANGED_EVENT, { namespace: ns }, ns);
      return 'requested';
    } catch (error) {
      ctx.log.warn(
        { err: error, namespace: ns },
        'limits-changed event not sent; enforce applies on schedule',
      );
      return 'scheduled';
    }
  }

  /** A write under the target's lock, with its audit record (the same lock names as provision's). */
  const auditedOn =
    <T>(ctx: InvocationContext, op: string, target: string, details: (r: T) => Record<string, unknown>) =>
    (work: () => Promise<T>) =>
      runAudited(
        store,
        ctx,
        { operation: op, target, lock: `tenant:${target}`, record: (r: T) => ({ details: details(r) }) },
        work,
      );

  async function changeNamespace(
    mode: NamespaceMode,
    input: {
      namespace: string;
      operators: z.infer<typeof operators>;
      dryRun: boolean;
      take_ownership?: boolean;
    },
    ctx: InvocationContext,
  ) {
    const run = async () => {
      const state = await namespaces.state(input.namespace);
      const plan = planNamespace(
        mode,
        input.namespace,
        state,
        input.operators,
        input.take_ownership ?? false,
        deps.reserved,
      );
      if (!input.dryRun) await namespaces.apply(plan);
      const summary = {
        namespace: input.namespace,
        dryRun: input.dryRun,
        created: plan.create,
        operators_installed: plan.install,
        operators_present: plan.kept,
        warnings: plan.warnings,
      };
      return cliAnswer(
        `${input.dryRun ? 'would install' : 'installed'}: ${plan.install.join(', ') || 'nothing new'}${plan.warnings.map((w) => `\n${w}`).join('')}`,
        input.dryRun ? { ...summary, objects: plan.objects } : summary,
      );
    };
    if (input.dryRun) return run();
    return auditedOn(
      ctx,
      `namespaces-${mode}`,
      `everest/${input.namespace}`,
      (r: Awaited<ReturnType<typeof run>>) => ({
        created: r.created,
        operators_installed: r.operators_installed,
      }),
    )(run);
  }

  return {
    name: 'bootstrap',
    operations: [
      operation({
        name: 'bootstrap-tenant',
        input: bootstrapRequest,
        http: [{ method: 'POST', path: '/bootstrap/tenant' }],
        idempotent: true,
        run: async (input, ctx) => {
          const request = {
            username: input.username,
            password: input.password,
            namespace: input.namespace,
            operators: input.operators,
            takeOwnership: input.take_ownership,
            dryRun: input.dryRun,
            ...(input.limits === undefined ? {} : { limits: input.limits }),
          };
          if (input.dryRun) return bootstrapTenant(deps, request);
          const result = await auditedOn(
            ctx,
            'bootstrap-tenant',
            `everest/${input.namespace}`,
            (r: Awaited<ReturnType<typeof bootstrapTenant>>) => ({
              username: r.username,
              namespace_created: r.namespace_created,
              operators_installed: r.operators_installed,
              account: r.account,
              rbac_added: r.rbac.added,
              limits_source: r.limits.source,
            }),
          )(() => bootstrapTenant(deps, request));
          const enforcement =
            result.limits.source === 'existing'
              ? 'unchanged'
              : await requestEnforcement(input.namespace, ctx);
          return { ...result, enforcement };
        },
      }),
      operation({
        name: 'accounts-create',
        input: accountCreateRequest,
        http: [{ method: 'POST', path: '/cli/accounts/create' }],
        run: async (input, ctx) => {
          assertNotReserved(input.username, deps.reserved, 'Everest account', 'username');
          const generated = input.password === undefined ? generatePassword() : undefined;
          const hash = await hashPassword(input.password ?? generated ?? '', await accounts.passwordSalt());
          await auditedOn(ctx, 'accounts-create', `user:${input.username}`, () => ({
            generated: generated !== undefined,
          }))(() =>
            accounts.update(`create account ${input.username}`, (doc) => ({
              doc: createAccount(doc, input.username, hash, deps.now()),
              result: undefined,
            })),
          );
          return cliAnswer(`account ${input.username} created`, {
            username: input.username,
            ...(generated === undefined ? {} : { generated_password: generated }),
          });
        },
      }),
      operation({
        name: 'accounts-set-password',
        input: setPasswordRequest,
        http: [
          { method: 'POST', path: '/cli/accounts/set-password' },
          { method: 'POST', path: '/users/rotate-password' },
        ],
        run: async (input, ctx) => {
          assertNotReserved(input.username, deps.reserved, 'Everest account', 'username');
          const hash = await hashPassword(input.new_password, await accounts.passwordSalt());
          await auditedOn(ctx, 'accounts-set-password', `user:${input.username}`, () => ({}))(() =>
            accounts.update(`set password of ${input.username}`, (doc) => ({
              doc: setAccountPassword(doc, input.username, hash, deps.now()),
              result: undefined,
            })),
          );
          return cliAnswer(`password of ${input.username} set`, { username: input.username });
        },
      }),
      operation({
        name: 'accounts-list',
        input: noInput,
        http: [{ method: 'GET', path: '/cli/accounts/list' }],
        run: async () => ({
          exit_code: 0,
          stderr: '',
          users: listAccounts((await accounts.read()).accounts),
        }),
      }),
      operation({
        name: 'accounts-delete',
        input: accountDeleteRequest,
        http: [
          { method: 'DELETE', path: '/cli/accounts' },
          { method: 'DELETE', path: '/users' },
        ],
        run: async (input, ctx) => {
          assertNotReserved(input.username, deps.reserved, 'Everest account', 'username');
          const removed = await auditedOn(
            ctx,
            'accounts-delete',
            `user:${input.username}`,
            (r: string[]) => ({
              rbac_lines_removed: r.length,
            }),
          )(async () => {
            await accounts.update(`delete account ${input.username}`, (doc) => ({
              doc: deleteAccount(doc, input.username),
              result: undefined,
            }));
            return input.remove_rbac ? rbac.removeUser(input.username) : [];
          });
          return cliAnswer(`account ${input.username} deleted`, {
            username: input.username,
            rbac_lines_removed: removed,
          });
        },
      }),
      operation({
        name: 'namespaces-add',
        input: namespaceAddRequest,
        http: [{ method: 'POST', path: '/cli/namespaces/add' }],
        run: (input, ctx) => changeNamespace('add', input, ctx),
      }),
      operation({
        name: 'namespaces-update',
        input: namespaceUpdateRequest,
        http: [{ method: 'POST', path: '/cli/namespaces/update' }],
        run: (input, ctx) => changeNamespace('update', input, ctx),
      }),
      operation({
        name: 'namespaces-remove',
        input: namespaceRemoveRequest,
        http: [
          { method: 'DELETE', path: '/cli/namespaces/remove' },
          { method: 'DELETE', path: '/namespaces' },
        ],
        run: async (input, ctx) => {
          const result = await auditedOn(
            ctx,
            'namespaces-remove',
            `everest/${input.namespace}`,
            (r: Awaited<ReturnType<EverestNamespaces['remove']>>) => ({
              ...r,
              force: input.force,
            }),
          )(() =>
            namespaces.remove(input.namespace, {
              force: input.force,
              keepNamespace: input.keep_namespace,
              reserved: deps.reserved,
            }),
          );
          return cliAnswer(
            input.keep_namespace
              ? `namespace ${input.namespace} is no longer managed by Everest (kept)`
              : `namespace ${input.namespace} is being deleted`,
            {
              name: input.namespace,
              database_clusters: result.databaseClusters,
              namespace: result.namespace,
            },
          );
        },
      }),
      operation({
        name: 'rbac-append',
        input: rbacAppendRequest,
        http: [{ method: 'POST', path: '/rbac/append' }],
        run: async (input, ctx) => {
          const append = () => rbac.append(input.lines, input.dryRun);
          // A dry run and an append that finds every line present change nothing: no record.
          const result = input.dryRun
            ? await append()
            : await runAudited(
                store,
                ctx,
                {
                  operation: 'rbac-append',
                  target: 'everest-rbac',
                  record: (r) => (r.added.length > 0 ? { details: { added: r.added } } : 'nothing-changed'),
                },
                append,
              );
          return {
            path: RBAC_LOCATION,
            dryRun: input.dryRun,
            lines_appended: result.added.length,
            lines_already_present: result.alreadyPresent.length,
            added: result.added,
            enforced: result.enabled,
          };
        },
      }),
      operation({
        name: 'rbac-can',
        input: rbacCanRequest,
        http: [{ method: 'POST', path: '/rbac/can' }],
        run: async (input) => {
          const policy = await rbac.read();
          const allowed = await can(policy.text, {
            subject: input.user,
            action: input.verb,
            resource: input.resource,
            object: input.object,
          });
          return { allowed, enforced: policy.enabled };
        },
      }),
      operation({
        name: 'limits-put',
        input: limitsPutRequest,
        http: [{ method: 'PUT', path: '/limits' }],
        run: async (input, ctx) => {
          checkNamespaceName(input.namespace, deps.reserved);
          const limits: SeedLimits = input;
          await auditedOn(ctx, 'limits-put', `everest/${input.namespace}`, () => ({ ...limits }))(() =>
            writeLimits(api, limits),
          );
          return { status: 'ok', enforcement: await requestEnforcement(input.namespace, ctx) };
        },
      }),
      operation({
        name: 'limits-get',
        input: limitsGetRequest,
        http: [{ method: 'GET', path: '/limits/:namespace' }],
        run: async (input) => {
          const spec = await readLimits(api, input.namespace);
          if (spec === undefined) throw new PlatformError({ reason: 'not_found', message: 'not found' });
          return seedLimitsFromSpec(input.namespace, spec);
        },
      }),
      operation({
        name: 'tenants',
        input: noInput,
        http: [{ method: 'GET', path: '/tenants' }],
        run: async () => {
          const [policies, counters] = await Promise.all([allPolicies(api), deps.counters.all()]);
          const zero: UsageCounters = { clusters_count: 0, cpu_used: 0, memory_used: 0, db_users_count: 0 };
          return policies
            .sort((a, b) => a.namespace.localeCompare(b.namespace))
            .map((p) => ({
              ...seedLimitsFromSpec(p.namespace, p.spec),
              usage: counters.get(p.namespace) ?? zero,
            }));
        },
      }),
      operation({
        name: 'audit',
        input: auditRequest,
        http: [{ method: 'GET', path: '/audit' }],
        run: (input) =>
          store.listAudit({
            limit: input.limit,
            ...(input.before === undefined ? {} : { before: input.before }),
            ...(input.target === undefined ? {} : { target: input.target }),
            ...(input.operation === undefined ? {} : { operation: input.operation }),
          }),
      }),
      operation({
        name: 'users-raw',
        input: noInput,
        http: [{ method: 'GET', path: '/users/raw' }],
        answerType: 'text/plain',
        run: async () => accountsTable((await accounts.read()).accounts),
      }),
      operation({
        name: 'namespaces-raw',
        input: noInput,
        http: [{ method: 'GET', path: '/namespaces/raw' }],
        answerType: 'text/plain',
        run: async () =>
          textTable(
            ['NAMESPACE', 'OPERATORS'],
            (await namespaces.listManaged()).map((n) => [n.namespace, n.operators.join(', ')]),
          ),
      }),
    ],
  };
}

export function bootstrapSetup(config: BootstrapConfig, log: Logger): FunctionSetup {
  const pool = createPool({
    connectionString: config.databaseUrl,
    max: poolSizeFor(config.maxConcurrentOperations),
    log,
    applicationName: 'bootstrap',
    ...poolTimeouts(config.callTimeouts),
  });
  const store = new PlatformStore(pool, undefined, {
    idempotencySecret: config.idempotencySecret,
    lockWaitMs: config.requestTimeoutMs / 2,
    lockLeaseMs: config.lockLeaseMs,
  });
  const api = new RawKubernetes(loadKubeConfig(config.kubeconfig), {
    timeoutMs: config.callTimeouts.kubernetesMs,
  });
  const sink = eventSinkFor(
    { ...config.limitsEvents, tokenFile: config.eventSinkTokenFile },
    '/tenant-lifecycle/bootstrap',
    config.callTimeouts.eventSinkMs,
  );
  return {
    spec: bootstrapSpec({
      api,
      accounts: new EverestAccounts(api),
      rbac: new EverestRbac(api),
      namespaces: new EverestNamespaces(api),
      now: () => new Date(),
      reserved: config.reserved,
      store,
      counters: new UsageCounterStore(store),
      limitsEvents: sink,
    }),
    idempotency: store,
    ready: () => store.ensureSchema(),
    close: async () => {
      await sink?.close();
      await pool.end();
    },
  };
}
