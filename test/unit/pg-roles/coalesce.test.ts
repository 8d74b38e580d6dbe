import { describe, expect, it } from 'vitest';
import { coalescing } from '../../../shared/pg-roles/coalesce.ts';

describe('coalescing', () => {
  it('runs once more after the current run for any number of requests made meanwhile', async () => {
    let runs = 0;
    let release: () => void = () => undefined;
    const run = coalescing(async () => {
      runs++;
      const n = runs;
      if (n === 1) await new Promise<void>((resolve) => (release = resolve));
      return n;
    });
    const first = run();
    const others = [run(), run(), run()];
    release();
    expect(await first).toBe(1);
    expect(await Promise.all(others)).toEqual([2, 2, 2]);
    expect(runs).toBe(2);
    expect(await run()).toBe(3);
  });

  it('still runs the next one when the current run fails', async () => {
    let runs = 0;
    const run = coalescing(async () => {
      runs++;
      await Promise.resolve();
      if (runs === 1) throw new Error('boom');
      return runs;
    });
    const first = run();
    const second = run();
    await expect(first).rejects.toThrow('boom');
    expect(await second).toBe(2);
  });
});
