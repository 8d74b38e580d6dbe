/** The dispatch table: path parameters, percent-decoding and its malformed escapes. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { operation, type FunctionSpec } from '../../../shared/platform/operation.ts';
import { allowedMethods, matchHttp } from '../../../shared/platform/routing.ts';

const spec: FunctionSpec = {
  name: 'routingtest',
  operations: [
    operation({
      name: 'limits',
      input: z.object({ namespace: z.string() }),
      http: [{ method: 'GET', path: '/limits/:namespace' }],
      run: () => Promise.resolve({}),
    }),
    operation({
      name: 'usage',
      input: z.object({ namespace: z.string() }),
      http: [{ method: 'GET', path: '/usage/:namespace/report' }],
      run: () => Promise.resolve({}),
    }),
  ],
};

function refusal(call: () => unknown): PlatformError {
  try {
    call();
  } catch (error) {
    if (error instanceof PlatformError) return error;
    throw error;
  }
  throw new Error('expected a PlatformError');
}

describe('matchHttp', () => {
  it('decodes a well-formed escape and refuses a malformed one with 400', () => {
    expect(matchHttp(spec, 'GET', '/limits/caf%C3%A9').params).toEqual({ namespace: 'café' });
    for (const path of ['/limits/%E0%A4%A', '/limits/%', '/limits/%ZZ', '/limits/%C3']) {
      const error = refusal(() => matchHttp(spec, 'GET', path));
      expect(error).toMatchObject({ reason: 'bad_request', status: 400 });
      expect(error.message).toBe('the path holds a malformed percent-escape');
    }
  });

  it('decodes only a route that matches: a malformed escape on an unknown path stays 404', () => {
    expect(refusal(() => matchHttp(spec, 'GET', '/usage/%E0%A4%A/other'))).toMatchObject({
      reason: 'not_found',
    });
    expect(matchHttp(spec, 'GET', '/usage/team%2Da/report').params).toEqual({ namespace: 'team-a' });
  });

  it('a malformed escape under the wrong method is still a 400, not a 500 while listing Allow', () => {
    expect(refusal(() => matchHttp(spec, 'POST', '/limits/%E0%A4%A'))).toMatchObject({ status: 400 });
    expect(refusal(() => matchHttp(spec, 'POST', '/limits/team-a'))).toMatchObject({ status: 405 });
    expect(allowedMethods(spec, '/limits/team-a')).toEqual(['GET']);
  });
});
