/**
 * enforce: Everest limits checked and enforced.
 * - POST /enforce/cluster-create: the namespace's TenantResourcePolicy and live DatabaseClusters checked
 *   -> 200 {status: ok} or 403 with the reason as `detail` (kept for compatibility, docs/compatibility.md).
 * - POST /enforce/apply {namespace?, dryRun?}, the CloudEvent dev.tenantlifecycle.everest.limits.changed, or
 *   the PingSource: the admission policy, its binding and each namespace's cluster-count quota applied
 *   (shared/everest/admission.ts), so the apiserver itself refuses what is beyond the limits.
 * - POST /usage/register-cluster, /usage/register-db-user: the usage counters, kept for their callers.
 * - GET /usage/:namespace: the namespace's usage report (pods, database clusters, storage, quotas).
 * Path: trigger -> host -> operation -> shared/everest/enforce-operations.ts (over the ports of
 * shared/everest/ports.ts) -> the adapters shared/wiring built.
 */
import {
  applyAdmission,
  checkClusterCreate,
  namespaceUsage,
  registerCluster,
  registerDbUser,
} from '../../shared/everest/enforce-operations.ts';
import type { EnforcePorts } from '../../shared/everest/ports.ts';
import { LIMITS_CHANGED_EVENT } from '../../shared/everest/tenant-resource-policy.ts';
import type { Logger } from '../../shared/platform/logger.ts';
import { operation, type FunctionSpec } from '../../shared/platform/operation.ts';
import { builtinReservedNames, type ReservedNames } from '../../shared/platform/reserved-names.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { connectEnforceSystems } from '../../shared/wiring/everest-systems.ts';
import type { EnforceConfig } from './config.ts';
import {
  applyRequest,
  clusterCreateRequest,
  registerClusterRequest,
  registerDbUserRequest,
  usageRequest,
} from './requests.ts';

export interface EnforceDependencies extends Omit<EnforcePorts, 'reserved'> {
  /** Namespaces never taken as a target (the configuration's reserved names); default: the built-in list. */
  readonly reserved?: ReservedNames;
}

export function enforceSpec(deps: EnforceDependencies): FunctionSpec {
  const ports: EnforcePorts = { ...deps, reserved: deps.reserved ?? builtinReservedNames };
  return {
    name: 'enforce',
    operations: [
      operation({
        name: 'cluster-create',
        input: clusterCreateRequest,
        http: [{ method: 'POST', path: '/enforce/cluster-create' }],
        run: (input, ctx) => checkClusterCreate(ports, input, ctx),
      }),
      operation({
        name: 'apply',
        input: applyRequest,
        http: [{ method: 'POST', path: '/enforce/apply' }],
        events: [LIMITS_CHANGED_EVENT],
        ping: true,
        run: (input, ctx) => applyAdmission(ports, input, ctx),
      }),
      operation({
        name: 'register-cluster',
        input: registerClusterRequest,
        http: [{ method: 'POST', path: '/usage/register-cluster' }],
        run: (input, ctx) => registerCluster(ports, input, ctx),
      }),
      operation({
        name: 'register-db-user',
        input: registerDbUserRequest,
        http: [{ method: 'POST', path: '/usage/register-db-user' }],
        run: (input, ctx) => registerDbUser(ports, input, ctx),
      }),
      operation({
        name: 'usage',
        input: usageRequest,
        http: [{ method: 'GET', path: '/usage/:namespace' }],
        run: (input) => namespaceUsage(ports, input.namespace),
      }),
    ],
  };
}

export function enforceSetup(config: EnforceConfig, log: Logger): FunctionSetup {
  const systems = connectEnforceSystems(config, log);
  const { store } = systems;
  return {
    spec: enforceSpec({ ...systems.ports, reserved: config.reserved }),
    ready: () => store.ensureSchema(),
    close: () => systems.close(),
  };
}
