import { describe, expect, it } from 'vitest';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { runSaga, type Step } from '../../../shared/tenancy/saga.ts';

function recorder() {
  const log: string[] = [];
  const create = (name: string, fail = false): Step => ({
    name,
    run: async () => {
      log.push(`run ${name}`);
      if (fail) {
        await new Promise((resolve) => setTimeout(resolve, 20)); // fails after the other lane progressed
        throw new PlatformError({ reason: 'unavailable', message: `${name} down` });
      }
      return Promise.resolve(() => {
        log.push(`undo ${name}`);
        return Promise.resolve();
      });
    },
  });
  return { log, create };
}

describe('runSaga', () => {
  it('runs every step and reports them done', async () => {
    const { log, create } = recorder();
    const result = await runSaga([[create('a1'), create('a2')], [create('b1')]]);
    expect(result.ok).toBe(true);
    expect(result.steps.map((s) => s.status)).toEqual(['done', 'done', 'done']);
    expect(log.filter((l) => l.startsWith('undo'))).toEqual([]);
  });

  it('undoes what was created, newest first, when a step fails, and skips the rest of the failed lane', async () => {
    const { log, create } = recorder();
    const result = await runSaga([
      [create('keycloak-user'), create('keycloak-group')],
      [create('grafana-user', true), create('grafana-role')],
    ]);
    expect(result.ok).toBe(false);
    expect(result.rolledBack).toBe(true);
    expect(Object.fromEntries(result.steps.map((s) => [s.step, s.status]))).toEqual({
      'keycloak-user': 'rolled_back',
      'keycloak-group': 'rolled_back',
      'grafana-user': 'failed',
      'grafana-role': 'skipped',
    });
    expect(result.steps.find((s) => s.step === 'grafana-user')?.error).toBe('grafana-user down');
    expect(log.filter((l) => l.startsWith('undo'))).toEqual(['undo keycloak-group', 'undo keycloak-user']);
  });

  it('reports an undo that fails', async () => {
    const steps: Step[] = [
      { name: 'made', run: () => Promise.resolve(() => Promise.reject(new Error('cannot delete'))) },
      { name: 'broken', run: () => Promise.reject(new Error('boom')) },
    ];
    const result = await runSaga([steps]);
    expect(result.rolledBack).toBe(false);
    expect(result.steps.map((s) => s.status)).toEqual(['rollback_failed', 'failed']);
  });
});

describe('runSaga anchors', () => {
  it('undoes an anchor last, and keeps it when another undo failed', async () => {
    const log: string[] = [];
    const made = (name: string, undo: () => Promise<unknown>, anchor = false): Step => ({
      name,
      anchor,
      run: () => {
        log.push(`run ${name}`);
        return Promise.resolve(undo);
      },
    });
    const undone = (name: string) => () => {
      log.push(`undo ${name}`);
      return Promise.resolve();
    };
    const broken: Step = { name: 'broken', run: () => Promise.reject(new Error('boom')) };

    const clean = await runSaga([
      [made('identity', undone('identity'), true), made('other', undone('other'))],
    ]);
    expect(clean.ok).toBe(true);
    const rolled = await runSaga([
      [made('identity', undone('identity'), true), made('account', undone('account')), broken],
    ]);
    expect(rolled.rolledBack).toBe(true);
    expect(log.filter((l) => l.startsWith('undo'))).toEqual(['undo account', 'undo identity']);

    log.length = 0;
    const stuck = await runSaga([
      [
        made('identity', undone('identity'), true),
        made('account', () => Promise.reject(new Error('cannot delete'))),
        broken,
      ],
    ]);
    expect(stuck.rolledBack).toBe(false);
    expect(Object.fromEntries(stuck.steps.map((s) => [s.step, s.status]))).toEqual({
      identity: 'kept',
      account: 'rollback_failed',
      broken: 'failed',
    });
    expect(log.filter((l) => l.startsWith('undo'))).toEqual([]);
  });
});
