/**
 * provision: HTTP POST / (and /provisioner, docs/compatibility.md) or a CloudEvent
 * dev.tenantlifecycle.tenant.provision.requested with { full_name?, email?, plan?, dryRun? }.
 * Path: trigger -> host (auth, validation, Idempotency-Key) -> provisionOperation -> per-tenant lock ->
 * planProvision (pure) -> applyProvision (saga over Keycloak, Kubernetes, Grafana) -> audit.
 */
import { z } from 'zod';
import { operation, type FunctionSpec } from '../../shared/platform/operation.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import type { Logger } from '../../shared/platform/logger.ts';
import { runAudited } from '../../shared/store/audited-run.ts';
import type { PlatformStore } from '../../shared/store/store.ts';
import { connectTenantSystems } from '../../shared/wiring/tenant-systems.ts';
import {
  applyProvision,
  planProvision,
  type ProvisionPorts,
  type ProvisionResult,
  type ProvisionSettings,
} from '../../shared/tenancy/provision.ts';
import { generatePassword } from '../../shared/platform/passwords.ts';
import type { ProvisionConfig } from './config.ts';

export const PROVISION_EVENT = 'dev.tenantlifecycle.tenant.provision.requested';

export const provisionRequest = z
  .object({
    full_name: z.string().trim().max(256).optional(),
    email: z.email().max(254).optional(),
    plan: z.string().max(40).optional(),
    dryRun: z.boolean().default(false),
  })
  .strict()
  // The documented example, and what the fuzz run (test/fuzz) starts from.
  .meta({ examples: [{ full_name: 'John Doe', email: 'john.doe@example.org' }] });

export interface ProvisionDependencies {
  readonly settings: ProvisionSettings;
  readonly ports: ProvisionPorts;
  readonly store: Pick<PlatformStore, 'recordAudit' | 'withLock'>;
  readonly now?: () => Date;
}

export function provisionSpec(deps: ProvisionDependencies): FunctionSpec {
  return {
    name: 'provision',
    operations: [
      operation({
        name: 'provision',
        input: provisionRequest,
        http: [
          { method: 'POST', path: '/' },
          { method: 'POST', path: '/provisioner' },
        ],
        events: [PROVISION_EVENT],
        idempotent: true,
        // A replay must not hand out the passwords again: they are never stored, not even for replays.
        storedAnswer: (answer) =>
          typeof answer === 'object' && answer !== null && 'password' in answer
            ? {
                ...answer,
                password: null,
                ...('starter_password' in answer ? { starter_password: null } : {}),
                password_note: 'shown only in the first answer',
              }
            : answer,
        run: async (input, ctx) => {
          const plan = planProvision(
            input,
            deps.settings,
            (deps.now ?? (() => new Date()))(),
            input.dryRun ? '(generated when provisioned)' : generatePassword(),
          );
          if (input.dryRun) {
            return {
              dryRun: true,
              username: plan.username,
              namespace: plan.namespace,
              plan: plan.plan,
              objects: plan.objects,
            };
          }
          // One operation per tenant at a time, across instances (provision and deprovision share the lock).
          const result = await runAudited(
            deps.store,
            ctx,
            {
              operation: 'provision',
              target: plan.username,
              lock: `tenant:${plan.username}`,
              record: (r: ProvisionResult) => ({
                details: { plan: r.plan, namespace: r.namespace, userId: r.user_id, steps: r.steps },
              }),
            },
            () => applyProvision(plan, deps.settings, deps.ports),
          );
          ctx.log.info({ tenant: plan.username, plan: result.plan }, 'tenant provisioned');
          return result;
        },
      }),
    ],
  };
}

/** The real adapters, built once per instance from the configuration. */
export function provisionSetup(config: ProvisionConfig, log: Logger): FunctionSetup {
  const systems = connectTenantSystems(config, log, 'provision', {
    idempotencySecret: config.idempotencySecret,
  });
  const { store, identity, cluster, grafana } = systems;
  return {
    spec: provisionSpec({ settings: config.provision, ports: { identity, cluster, grafana }, store }),
    idempotency: store,
    ready: () => store.ensureSchema(),
    close: () => systems.close(),
  };
}
