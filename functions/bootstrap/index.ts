/**
 * bootstrap: the Everest tenant admin API, speaking Everest's data model directly (no everestctl):
 * accounts in the Secret everest-system/everest-accounts, policy lines in the ConfigMap
 * everest-system/everest-rbac, database namespaces as Everest's chart makes them (OLM Subscriptions), and
 * limits as TenantResourcePolicy objects, which the enforce function turns into apiserver admission.
 * - POST /bootstrap/tenant (Idempotency-Key): namespace, account, policy lines, limits (tenant-bootstrap.ts)
 * - /cli/accounts/*, POST /users/rotate-password, DELETE /users: accounts (account-operations.ts)
 * - /cli/namespaces/*, DELETE /namespaces: database namespaces (namespace-operations.ts)
 * - POST /rbac/append, POST /rbac/can: the policy (rbac-operations.ts)
 * - PUT /limits, GET /limits/{namespace}, GET /tenants: limits and usage counters (limits-operations.ts)
 * - GET /audit, GET /users/raw, GET /namespaces/raw: views (views.ts)
 * Every mutating call is audited in the platform store. Path: trigger -> host -> operation below ->
 * shared/everest/* (over the ports of shared/everest/ports.ts) -> the adapters shared/wiring built.
 */
import {
  createEverestAccount,
  deleteEverestAccount,
  listEverestAccounts,
  setEverestAccountPassword,
} from '../../shared/everest/account-operations.ts';
import { getLimits, listTenants, putLimits } from '../../shared/everest/limits-operations.ts';
import { changeNamespace, removeNamespace } from '../../shared/everest/namespace-operations.ts';
import type { BootstrapPorts } from '../../shared/everest/ports.ts';
import { appendPolicyLines, policyAllows } from '../../shared/everest/rbac-operations.ts';
import { runTenantBootstrap } from '../../shared/everest/tenant-bootstrap.ts';
import { accountsText, auditPage, namespacesText } from '../../shared/everest/views.ts';
import { eventSinkFor } from '../../shared/platform/event-sink.ts';
import type { Logger } from '../../shared/platform/logger.ts';
import { operation, type FunctionSpec } from '../../shared/platform/operation.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { connectBootstrapSystems } from '../../shared/wiring/everest-systems.ts';
import type { BootstrapConfig } from './config.ts';
import {
  accountCreateRequest,
  accountDeleteRequest,
  auditRequest,
  bootstrapRequest,
  limitsGetRequest,
  limitsPutRequest,
  namespaceAddRequest,
  namespaceRemoveRequest,
  namespaceUpdateRequest,
  noInput,
  rbacAppendRequest,
  rbacCanRequest,
  setPasswordRequest,
} from './requests.ts';

export type BootstrapDependencies = BootstrapPorts;

export function bootstrapSpec(deps: BootstrapDependencies): FunctionSpec {
  return {
    name: 'bootstrap',
    operations: [
      operation({
        name: 'bootstrap-tenant',
        input: bootstrapRequest,
        http: [{ method: 'POST', path: '/bootstrap/tenant' }],
        idempotent: true,
        run: (input, ctx) =>
          runTenantBootstrap(
            deps,
            {
              username: input.username,
              password: input.password,
              namespace: input.namespace,
              operators: input.operators,
              takeOwnership: input.take_ownership,
              dryRun: input.dryRun,
              ...(input.limits === undefined ? {} : { limits: input.limits }),
            },
            ctx,
          ),
      }),
      operation({
        name: 'accounts-create',
        input: accountCreateRequest,
        http: [{ method: 'POST', path: '/cli/accounts/create' }],
        run: (input, ctx) => createEverestAccount(deps, input, ctx),
      }),
      operation({
        name: 'accounts-set-password',
        input: setPasswordRequest,
        http: [
          { method: 'POST', path: '/cli/accounts/set-password' },
          { method: 'POST', path: '/users/rotate-password' },
        ],
        run: (input, ctx) => setEverestAccountPassword(deps, input, ctx),
      }),
      operation({
        name: 'accounts-list',
        input: noInput,
        http: [{ method: 'GET', path: '/cli/accounts/list' }],
        run: () => listEverestAccounts(deps),
      }),
      operation({
        name: 'accounts-delete',
        input: accountDeleteRequest,
        http: [
          { method: 'DELETE', path: '/cli/accounts' },
          { method: 'DELETE', path: '/users' },
        ],
        run: (input, ctx) => deleteEverestAccount(deps, input, ctx),
      }),
      operation({
        name: 'namespaces-add',
        input: namespaceAddRequest,
        http: [{ method: 'POST', path: '/cli/namespaces/add' }],
        run: (input, ctx) => changeNamespace(deps, 'add', input, ctx),
      }),
      operation({
        name: 'namespaces-update',
        input: namespaceUpdateRequest,
        http: [{ method: 'POST', path: '/cli/namespaces/update' }],
        run: (input, ctx) => changeNamespace(deps, 'update', input, ctx),
      }),
      operation({
        name: 'namespaces-remove',
        input: namespaceRemoveRequest,
        http: [
          { method: 'DELETE', path: '/cli/namespaces/remove' },
          { method: 'DELETE', path: '/namespaces' },
        ],
        run: (input, ctx) => removeNamespace(deps, input, ctx),
      }),
      operation({
        name: 'rbac-append',
        input: rbacAppendRequest,
        http: [{ method: 'POST', path: '/rbac/append' }],
        run: (input, ctx) => appendPolicyLines(deps, input, ctx),
      }),
      operation({
        name: 'rbac-can',
        input: rbacCanRequest,
        http: [{ method: 'POST', path: '/rbac/can' }],
        run: (input) => policyAllows(deps, input),
      }),
      operation({
        name: 'limits-put',
        input: limitsPutRequest,
        http: [{ method: 'PUT', path: '/limits' }],
        run: (input, ctx) => putLimits(deps, input, ctx),
      }),
      operation({
        name: 'limits-get',
        input: limitsGetRequest,
        http: [{ method: 'GET', path: '/limits/:namespace' }],
        run: (input) => getLimits(deps, input.namespace),
      }),
      operation({
        name: 'tenants',
        input: noInput,
        http: [{ method: 'GET', path: '/tenants' }],
        run: () => listTenants(deps),
      }),
      operation({
        name: 'audit',
        input: auditRequest,
        http: [{ method: 'GET', path: '/audit' }],
        run: (input) => auditPage(deps, input),
      }),
      operation({
        name: 'users-raw',
        input: noInput,
        http: [{ method: 'GET', path: '/users/raw' }],
        answerType: 'text/plain',
        run: () => accountsText(deps),
      }),
      operation({
        name: 'namespaces-raw',
        input: noInput,
        http: [{ method: 'GET', path: '/namespaces/raw' }],
        answerType: 'text/plain',
        run: () => namespacesText(deps),
      }),
    ],
  };
}

export function bootstrapSetup(config: BootstrapConfig, log: Logger): FunctionSetup {
  const systems = connectBootstrapSystems(config, log, { idempotencySecret: config.idempotencySecret });
  const sink = eventSinkFor(
    { ...config.limitsEvents, tokenFile: config.eventSinkTokenFile },
    '/tenant-lifecycle/bootstrap',
    config.callTimeouts.eventSinkMs,
  );
  const { store } = systems;
  return {
    spec: bootstrapSpec({
      ...systems.ports,
      reserved: config.reserved,
      now: () => new Date(),
      limitsEvents: sink,
    }),
    idempotency: store,
    ready: () => store.ensureSchema(),
    close: async () => {
      await sink?.close();
      await systems.close();
    },
  };
}
