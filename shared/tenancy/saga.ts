/**
 * A small saga runner: lanes of steps run concurrently (Keycloak, Kubernetes and Grafana do not wait for
 * each other), the steps of a lane one after another. A step that creates something returns how to undo
 * it. When any step fails, the other lanes finish their current step and stop, and everything created is
 * undone in reverse order of creation. The report says, per step, what happened.
 */
import { toPlatformError } from '../platform/errors.ts';

export type StepStatus = 'done' | 'failed' | 'skipped' | 'rolled_back' | 'rollback_failed';

export interface StepReport {
  readonly step: string;
  status: StepStatus;
  error?: string;
}

export interface Step {
  readonly name: string;
  /** Does the work; answers the undo action when it created something this call must remove on failure. */
  readonly run: () => Promise<(() => Promise<unknown>) | undefined>;
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
  const undo: { step: string; action: () => Promise<unknown> }[] = [];
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
          if (revert !== undefined) undo.push({ step: step.name, action: revert });
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
  for (const { step, action } of undo.reverse()) {
    const report = reports.get(step);
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
