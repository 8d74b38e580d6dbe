/**
 * Everest's RBAC policy through the API: lines appended (validated with Everest's rules, rbac-policy.ts;
 * a dry run writes nothing) and a question answered with Everest's own enforcer (rbac-enforcer.ts).
 */
import { runAudited, type AuditContext } from '../store/audited-run.ts';
import type { BootstrapPorts } from './ports.ts';
import { RBAC_LOCATION } from './rbac-configmap.ts';
import { can } from './rbac-enforcer.ts';

/** Appends the lines not yet present; an append that adds nothing (and a dry run) writes no record. */
export async function appendPolicyLines(
  ports: Pick<BootstrapPorts, 'rbac' | 'store'>,
  input: { readonly lines: readonly string[]; readonly dryRun: boolean },
  ctx: AuditContext,
) {
  const append = () => ports.rbac.append(input.lines, input.dryRun);
  const result = input.dryRun
    ? await append()
    : await runAudited(
        ports.store,
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
}

/** Whether the stored policy lets `user` do `verb` on `resource`'s `object`, and whether it is enforced. */
export async function policyAllows(
  ports: Pick<BootstrapPorts, 'rbac'>,
  input: { readonly user: string; readonly resource: string; readonly verb: string; readonly object: string },
): Promise<{ allowed: boolean; enforced: boolean }> {
  const policy = await ports.rbac.read();
  const allowed = await can(policy.text, {
    subject: input.user,
    action: input.verb,
    resource: input.resource,
    object: input.object,
  });
  return { allowed, enforced: policy.enabled };
}
