/** docs/configuration.md: every function's variables, with a meaning each, as the schemas say now. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIGURATION_FILE, functionVariables, renderConfiguration } from '../../../docs/configuration.ts';
import { functionNames } from '../../../knative/image/bundle.ts';

describe('docs/configuration.md', () => {
  it('covers every function', () => {
    expect(Object.keys(functionVariables).sort()).toEqual(functionNames());
  });

  it('is current (refresh: make docs)', async () => {
    expect(readFileSync(CONFIGURATION_FILE, 'utf8')).toBe(await renderConfiguration());
  });

  it('tells required variables from defaults', async () => {
    const text = await renderConfiguration();
    expect(text).toMatch(/\| `DATABASE_URL` +\| \(required\) +\|/);
    expect(text).toMatch(/\| `LOG_LEVEL` +\| `info` +\|/);
    expect(text).toMatch(/\| `LIMITS_EVENT_SINK` +\| \(optional\) +\|/);
    expect(text).toMatch(/\| `RESET_CONCURRENCY` +\| `4` +\|/);
  });
});
