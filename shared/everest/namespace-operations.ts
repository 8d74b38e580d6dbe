/**
 * Everest database namespaces one at a time (`everestctl namespaces add|update|remove`): the namespace's
 * state read, the plan made (pure, db-namespace-plan.ts, which refuses a reserved, foreign or terminating
 * namespace before anything is written) and applied; each write audited under the namespace's lock. A dry
 * run reads and plans, writes nothing and records nothing.
 */
import type { AuditContext } from '../store/audited-run.ts';
import { auditedChange, namespaceTarget } from './audited-change.ts';
import { cliAnswer } from './cli-answer.ts';
import { planNamespace, type OperatorChoice } from './db-namespace-plan.ts';
import type { BootstrapPorts } from './ports.ts';

type NamespacePorts = Pick<BootstrapPorts, 'namespaces' | 'store' | 'reserved'>;

export interface NamespaceChange {
  readonly namespace: string;
  readonly operators: OperatorChoice;
  readonly dryRun: boolean;
  /** add only: adopt an existing namespace this product made and released. */
  readonly take_ownership?: boolean | undefined;
}

/** `namespaces add` (a new namespace, or one taken over) or `namespaces update` (more operators). */
export async function changeNamespace(
  ports: NamespacePorts,
  mode: 'add' | 'update',
  input: NamespaceChange,
  ctx: AuditContext,
) {
  const run = async () => {
    const state = await ports.namespaces.state(input.namespace);
    const plan = planNamespace(
      mode,
      input.namespace,
      state,
      input.operators,
      input.take_ownership ?? false,
      ports.reserved,
    );
    if (!input.dryRun) await ports.namespaces.apply(plan);
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
  return auditedChange(
    ports.store,
    ctx,
    {
      operation: `namespaces-${mode}`,
      target: namespaceTarget(input.namespace),
      details: (r: Awaited<ReturnType<typeof run>>) => ({
        created: r.created,
        operators_installed: r.operators_installed,
      }),
    },
    run,
  );
}

/** `namespaces remove`: Everest's objects, the OLM objects, then the label (keep_namespace) or the namespace. */
export async function removeNamespace(
  ports: NamespacePorts,
  input: { readonly namespace: string; readonly keep_namespace: boolean; readonly force: boolean },
  ctx: AuditContext,
) {
  const result = await auditedChange(
    ports.store,
    ctx,
    {
      operation: 'namespaces-remove',
      target: namespaceTarget(input.namespace),
      details: (r: { databaseClusters: number; namespace: 'kept' | 'deleting' }) => ({
        ...r,
        force: input.force,
      }),
    },
    () =>
      ports.namespaces.remove(input.namespace, {
        force: input.force,
        keepNamespace: input.keep_namespace,
        reserved: ports.reserved,
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
}
