/**
 * deprovision: HTTP DELETE / (and DELETE /provisioner, docs/compatibility.md) or a CloudEvent
 * dev.tenantlifecycle.tenant.deprovision.requested, with { full_name?, email?, dryRun? }.
 * Path: trigger -> host -> deprovisionOperation -> per-tenant lock -> deprovision (all systems at once,
 * each deleted / absent / failed; the namespace awaited within the deadline, else terminating) -> audit.
 */
import { z } from 'zod';
import type { Logger } from '../../shared/platform/logger.ts';
import { operation, type FunctionSpec } from '../../shared/platform/operation.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { runAudited } from '../../shared/store/audited-run.ts';
import type { PlatformStore } from '../../shared/store/store.ts';
import {
  candidateNames,
  deprovision,
  namespaceWaitUntil,
  type DeprovisionPorts,
  type DeprovisionResult,
} from '../../shared/tenancy/deprovision.ts';
import type { ReservedNames } from '../../shared/tenancy/naming.ts';
import { connectTenantSystems } from '../../shared/wiring/tenant-systems.ts';
import type { DeprovisionConfig } from './config.ts';

export const DEPROVISION_EVENT = 'dev.tenantlifecycle.tenant.deprovision.requested';

export const deprovisionRequest = z
  .object({
    full_name: z.string().trim().max(256).optional(),
    email: z.email().max(254).optional(),
    dryRun: z.boolean().default(false),
  })
  .strict()
  // The documented example, and what the fuzz run (test/fuzz) starts from.
  .meta({ examples: [{ full_name: 'John Doe', email: 'john.doe@example.org' }] });

export interface DeprovisionDependencies {
  readonly settings: { readonly reserved: ReservedNames; readonly markerGroup: string };
  readonly ports: DeprovisionPorts;
  readonly store: Pick<PlatformStore, 'recordAudit' | 'withLock'>;
}

export function deprovisionSpec(deps: DeprovisionDependencies): FunctionSpec {
  return {
    name: 'deprovision',
    operations: [
      operation({
        name: 'deprovision',
        input: deprovisionRequest,
        http: [
          { method: 'DELETE', path: '/' },
          { method: 'DELETE', path: '/provisioner' },
        ],
        events: [DEPROVISION_EVENT],
        run: async (input, ctx) => {
          const candidates = candidateNames(input, deps.settings.reserved);
          if (input.dryRun) return { dryRun: true, candidates };
          const tenant = candidates[0] ?? '';
          // One operation per tenant at a time, across instances (provision and deprovision share the lock).
          return runAudited(
            deps.store,
            ctx,
            {
              operation: 'deprovision',
              target: tenant,
              lock: `tenant:${tenant}`,
              record: (r: DeprovisionResult) => ({
                details: { username: r.username, systems: r.systems, namespace: r.namespace },
              }),
            },
            // The namespace is awaited within the request's deadline, leaving time for the record and answer.
            () =>
              deprovision(input, deps.settings, deps.ports, {
                until: namespaceWaitUntil(Date.now(), ctx.deadline),
                signal: ctx.signal,
              }),
          );
        },
      }),
    ],
  };
}

export function deprovisionSetup(config: DeprovisionConfig, log: Logger): FunctionSetup {
  const systems = connectTenantSystems(config, log, 'deprovision');
  const { store, identity, cluster, grafana } = systems;
  return {
    spec: deprovisionSpec({ settings: config, ports: { identity, cluster, grafana }, store }),
    ready: () => store.ensureSchema(),
    close: () => systems.close(),
  };
}
