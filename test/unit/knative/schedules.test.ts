/** The PingSources of knative/base/schedules.yaml: the schedules, payloads each function accepts. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { cleanupRequest } from '../../../functions/cleanup/index.ts';
import { applyRequest } from '../../../functions/enforce/requests.ts';
import { resetRequest } from '../../../functions/reset/index.ts';
import { syncRequest } from '../../../functions/sync/index.ts';
import { pingTarget } from '../../support/knative-routes.ts';

interface PingSource {
  kind: string;
  metadata: { name: string };
  spec: {
    schedule: string;
    timezone?: string;
    contentType: string;
    data: string;
    sink: { ref: { kind: string; name: string } };
  };
}

const sources = parseAllDocuments(
  readFileSync(new URL('../../../knative/base/schedules.yaml', import.meta.url), 'utf8'),
)
  .map((d) => d.toJS() as PingSource)
  .filter((d) => d.kind === 'PingSource');
const schemas: Record<string, z.ZodType> = {
  reset: resetRequest,
  cleanup: cleanupRequest,
  sync: syncRequest,
  enforce: applyRequest,
};

describe('knative/base/schedules.yaml', () => {
  it('runs reset monthly, cleanup daily, sync hourly and enforce every 10 minutes, in UTC', () => {
    expect(Object.fromEntries(sources.map((s) => [pingTarget(s.metadata.name), s.spec.schedule]))).toEqual({
      reset: '0 0 1 * *',
      cleanup: '0 0 * * *',
      sync: '0 * * * *',
      enforce: '*/10 * * * *',
    });
    expect(sources.every((s) => s.kind === 'PingSource' && s.spec.timezone === 'UTC')).toBe(true);
  });

  it('sends every tick through the Broker, whose Trigger has retries and the dead-letter sink', () => {
    for (const source of sources)
      expect(source.spec.sink.ref, source.metadata.name).toMatchObject({
        kind: 'Broker',
        name: 'tenant-lifecycle',
      });
  });

  it('sends each function a JSON body its request schema accepts', () => {
    for (const source of sources) {
      const schema = schemas[pingTarget(source.metadata.name) ?? ''];
      expect(schema, source.metadata.name).toBeDefined();
      expect(source.spec.contentType).toBe('application/json');
      expect(schema?.safeParse(JSON.parse(source.spec.data)).success, source.metadata.name).toBe(true);
    }
  });
});
