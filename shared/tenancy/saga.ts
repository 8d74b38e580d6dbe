/**
 * A small saga runner: lanes of steps run concurrently (Keycloak, Kubernetes and Grafana do not wait for
 * each other), the steps of a lane one after another. A step that creates something returns how to undo
 * it. When any step fails, the other lanes finish their current step and stop, and everything created is
 * undone in reverse order of creation. A step marked `anchor` is undone last, and only when every other
 * undo succeeded: what it made (the tenant's Keycloak identity) stays when something else could not be
 * removed, so the leftovers remain provably the tenant's and a later deprovision or sync finishes them. The
 * report says, per step, what happened.
 */
import { toPlatformError } from '../platform/errors.ts';

/** kept: an anchor not undone because another undo failed. */
export type StepStatus = 'done' | 'failed' | 'skipped' | 'rolled_back' | 'rollback_failed' | 'kept';

export interface StepReport {
  readonly step: string;
  status: StepStatus;
  error?: string;
}

export interface Step {
  readonly name: string;
  /** Does the work; answers the undo action when it created something this call must remove on failure. */
  readonly run: () => Promise<(() => Promise<unknown>) | undefined>;
  /** Undone last, and kept when another undo failed (see the module comment). */
  readonly anchor?: boolean;
}

export interface SagaResult {
  readonly ok: boolean;
  readonly steps: readonly StepReport[];
  /** The first failure, as thrown. */
  readonly failure?: unknown;
  /** True when every undo succeeded (vacuously true without failure). */
  readonly rolledBack: boolean;
}

export async function runSaga(lanes: readonly (readonly Step[])[]): Promise<SagaResult> {
  const reports = new Map<string, StepReport>();
  for (const step of lanes.flat()) reports.set(step.name, { step: step.name, status: 'skipped' });
  const undo: { step: string; action: () => Promise<unknown>; anchor: boolean }[] = [];
  let failure: unknown;

  await Promise.all(
    lanes.map(async (lane) => {
      for (const step of lane) {
        if (failure !== undefined) return;
        const report = reports.get(step.name);
        if (report === undefined) return;
        try {
          const revert = await step.run();
          report.status = 'done';
          if (revert !== undefined)
            undo.push({ step: step.name, action: revert, anchor: step.anchor === true });
        } catch (error) {
          report.status = 'failed';
          report.error = toPlatformError(error).message;
          failure ??= error;
          return;
        }
      }
    }),
  );
  if (failure === undefined) return { ok: true, steps: [...reports.values()], rolledBack: true };

  let rolledBack = true;
  const newestFirst = undo.reverse();
  const ordered = [...newestFirst.filter((u) => !u.anchor), ...newestFirst.filter((u) => u.anchor)];
  for (const { step, action, anchor } of ordered) {
    const report = reports.get(step);
    if (anchor && !rolledBack) {
      if (report !== undefined) report.status = 'kept';
      continue;
    }
    try {
      await action();
      if (report !== undefined) report.status = 'rolled_back';
    } catch (error) {
      rolledBack = false;
      if (report !== undefined) {
        report.status = 'rollback_failed';
        report.error = toPlatformError(error).message;
      }
    }
  }
  return { ok: false, steps: [...reports.values()], failure, rolledBack };
}
