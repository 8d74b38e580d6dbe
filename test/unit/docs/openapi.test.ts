/** docs/openapi/<function>.json: present for every function and equal to what the specs render now. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { documentPath, render, specs } from '../../../docs/openapi/generate.ts';
import { functionNames } from '../../../knative/image/bundle.ts';

describe('docs/openapi', () => {
  it('has a spec for every function', () => {
    expect(Object.keys(specs).sort()).toEqual(functionNames());
  });

  it.each(Object.keys(specs))('%s.json is current (refresh: make openapi)', (name) => {
    const committed = JSON.parse(readFileSync(documentPath(name), 'utf8')) as unknown;
    expect(committed).toEqual(JSON.parse(render(name)));
  });

  it('renders path parameters, query parameters for GET, bodies and event types', () => {
    const enforce = JSON.parse(render('enforce')) as {
      paths: Record<
        string,
        Record<string, { parameters?: { name: string; in: string }[]; requestBody?: unknown }>
      >;
    };
    expect(enforce.paths['/usage/{namespace}']?.get?.parameters).toEqual([
      expect.objectContaining({ name: 'namespace', in: 'path' }),
    ]);
    expect(enforce.paths['/enforce/cluster-create']?.post?.requestBody).toBeDefined();
    expect(enforce.paths['/enforce/apply']?.post).toMatchObject({
      'x-cloudevent-types': ['dev.tenantlifecycle.everest.limits.changed'],
      'x-pingsource': true,
    });
  });
});
