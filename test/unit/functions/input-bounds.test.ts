/**
 * The bounds of the operations' input schemas: every number bounded so that no accepted value can overflow
 * a store below (the usage counters' bigint, the TenantResourcePolicy's int64), integers integers, infinity
 * refused; every string bounded in length. Each bound: the boundary value accepted, one past it refused.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { render, specs } from '../../../docs/openapi/generate.ts';
import {
  auditRequest,
  bootstrapRequest,
  limitsPutRequest,
  rbacCanRequest,
} from '../../../functions/bootstrap/requests.ts';
import { clusterCreateRequest, registerClusterRequest } from '../../../functions/enforce/requests.ts';
import { MAX_COUNT, MAX_CPU_CORES, MAX_MEMORY_BYTES } from '../../../shared/everest/input-bounds.ts';

/** What a JSON body holding `text` decodes to: `1e400` becomes Infinity. */
const fromJson = (text: string): unknown => JSON.parse(text);

function accepts(schema: z.ZodType, input: unknown): boolean {
  return schema.safeParse(input).success;
}

describe('enforce: register-cluster and cluster-create numbers', () => {
  const cluster = { namespace: 'team-a', op: 'create', cpu_cores: 2, memory_bytes: 2 ** 31 };
  const check = { namespace: 'team-a', engine: 'postgresql', cpu_request_cores: 1, memory_request_bytes: 1 };

  it('accepts memory and cpu up to their bounds and refuses one past them', () => {
    expect(accepts(registerClusterRequest, { ...cluster, memory_bytes: MAX_MEMORY_BYTES })).toBe(true);
    expect(accepts(registerClusterRequest, { ...cluster, memory_bytes: MAX_MEMORY_BYTES + 1 })).toBe(false);
    expect(accepts(registerClusterRequest, { ...cluster, cpu_cores: MAX_CPU_CORES })).toBe(true);
    expect(accepts(registerClusterRequest, { ...cluster, cpu_cores: MAX_CPU_CORES + 0.001 })).toBe(false);
    expect(accepts(clusterCreateRequest, { ...check, memory_request_bytes: MAX_MEMORY_BYTES })).toBe(true);
    expect(accepts(clusterCreateRequest, { ...check, memory_request_bytes: MAX_MEMORY_BYTES + 1 })).toBe(
      false,
    );
    expect(accepts(clusterCreateRequest, { ...check, cpu_request_cores: MAX_CPU_CORES })).toBe(true);
    expect(accepts(clusterCreateRequest, { ...check, cpu_request_cores: MAX_CPU_CORES * 2 })).toBe(false);
  });

  it('refuses the overflow the fuzzer found, infinity, fractions of a byte and negatives', () => {
    expect(accepts(registerClusterRequest, cluster)).toBe(true);
    for (const memory_bytes of [1.5e308, fromJson('1e400'), 1024.5, -1, Number.NaN])
      expect(accepts(registerClusterRequest, { ...cluster, memory_bytes })).toBe(false);
    for (const cpu_cores of [fromJson('1e400'), -0.5, Number.NaN])
      expect(accepts(registerClusterRequest, { ...cluster, cpu_cores })).toBe(false);
    expect(accepts(registerClusterRequest, { ...cluster, cpu_cores: 0.25 })).toBe(true);
  });
});

describe('bootstrap: limits, audit paging and strings', () => {
  const limits = {
    namespace: 'team-a',
    max_clusters: 3,
    allowed_engines: ['postgresql'],
    cpu_limit_cores: 4,
    memory_limit_bytes: 17_179_869_184,
    max_db_users: 20,
  };

  it('accepts every limit at its bound and refuses one past it, in PUT /limits and in bootstrap', () => {
    const atBound = {
      max_clusters: MAX_COUNT,
      max_db_users: MAX_COUNT,
      cpu_limit_cores: MAX_CPU_CORES,
      memory_limit_bytes: MAX_MEMORY_BYTES,
    };
    const pastBound = {
      max_clusters: MAX_COUNT + 1,
      max_db_users: MAX_COUNT + 1,
      cpu_limit_cores: MAX_CPU_CORES + 1,
      memory_limit_bytes: MAX_MEMORY_BYTES + 1,
    };
    const tenant = { username: 'alice', password: 'StrongP@ssw0rd', namespace: 'ns-alice' };
    const body = {
      max_clusters: limits.max_clusters,
      allowed_engines: limits.allowed_engines,
      cpu_limit_cores: limits.cpu_limit_cores,
      memory_limit_bytes: limits.memory_limit_bytes,
      max_db_users: limits.max_db_users,
    };
    for (const [field, value] of Object.entries(atBound)) {
      expect(accepts(limitsPutRequest, { ...limits, [field]: value }), field).toBe(true);
      expect(accepts(bootstrapRequest, { ...tenant, limits: { ...body, [field]: value } }), field).toBe(true);
    }
    for (const [field, value] of Object.entries(pastBound)) {
      expect(accepts(limitsPutRequest, { ...limits, [field]: value }), field).toBe(false);
      expect(accepts(bootstrapRequest, { ...tenant, limits: { ...body, [field]: value } }), field).toBe(
        false,
      );
    }
    expect(accepts(limitsPutRequest, { ...limits, max_clusters: 2.5 })).toBe(false);
    expect(accepts(limitsPutRequest, { ...limits, cpu_limit_cores: fromJson('1e400') })).toBe(false);
  });

  it('bounds the account strings at 128 characters', () => {
    const account = { username: 'a'.repeat(128), password: 'p'.repeat(128), namespace: 'ns-alice' };
    expect(accepts(bootstrapRequest, account)).toBe(true);
    expect(accepts(bootstrapRequest, { ...account, username: 'a'.repeat(129) })).toBe(false);
    expect(accepts(bootstrapRequest, { ...account, password: 'p'.repeat(129) })).toBe(false);
  });

  it('bounds the audit query: page size and filter lengths', () => {
    expect(accepts(auditRequest, { limit: '500', target: 't'.repeat(512), operation: 'o'.repeat(64) })).toBe(
      true,
    );
    expect(accepts(auditRequest, { limit: '501' })).toBe(false);
    expect(accepts(auditRequest, { limit: 'Infinity' })).toBe(false);
    expect(accepts(auditRequest, { target: 't'.repeat(513) })).toBe(false);
    expect(accepts(auditRequest, { operation: 'o'.repeat(65) })).toBe(false);
  });

  it('keeps the rbac check strings bounded', () => {
    const question = { user: 'alice', resource: 'database-clusters', verb: 'create', object: 'ns/*' };
    expect(accepts(rbacCanRequest, { ...question, user: 'u'.repeat(253) })).toBe(true);
    expect(accepts(rbacCanRequest, { ...question, user: 'u'.repeat(254) })).toBe(false);
  });
});

type SchemaNode = Record<string, unknown>;

/** Every JSON Schema node of a rendered OpenAPI document, with where it is. */
function* schemaNodes(node: unknown, at: string): Generator<[string, SchemaNode]> {
  if (typeof node !== 'object' || node === null) return;
  if (!Array.isArray(node)) yield [at, node as SchemaNode];
  for (const [key, child] of Object.entries(node)) yield* schemaNodes(child, `${at}/${key}`);
}

/** A pattern whose every repetition has an upper bound (no `*`, `+` or `{n,}`) bounds the string's length. */
const boundedPattern = (pattern: unknown): boolean =>
  typeof pattern === 'string' && !/(?<!\\)[*+]|\{\d+,\}/.test(pattern);

describe("every function's OpenAPI document", () => {
  it.each(Object.keys(specs))('%s: every number bounded, every string bounded in length', (name) => {
    const { paths } = JSON.parse(render(name)) as { paths: unknown };
    let numbers = 0;
    for (const [at, node] of schemaNodes(paths, '')) {
      if (node.type === 'number' || node.type === 'integer') {
        numbers++;
        expect(typeof node.minimum, `${at} minimum`).toBe('number');
        expect(typeof node.maximum, `${at} maximum`).toBe('number');
        expect(Math.abs(node.maximum as number), `${at} maximum`).toBeLessThanOrEqual(
          Number.MAX_SAFE_INTEGER,
        );
      }
      if (node.type === 'string') {
        const bounded =
          typeof node.maxLength === 'number' ||
          Array.isArray(node.enum) ||
          node.format === 'date-time' ||
          boundedPattern(node.pattern);
        expect(bounded, `${at}: ${JSON.stringify(node).slice(0, 120)}`).toBe(true);
      }
    }
    // The positive control: the walk does see numbers where the documents have them.
    if (name === 'enforce' || name === 'bootstrap') expect(numbers).toBeGreaterThan(2);
  });

  it('the pattern rule tells a bounded pattern from an unbounded one', () => {
    expect(boundedPattern('^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$')).toBe(true);
    expect(boundedPattern('^[a-zA-Z0-9_]{3,}$')).toBe(false);
    expect(boundedPattern('^a+$')).toBe(false);
    expect(boundedPattern('^a\\+b$')).toBe(true);
  });
});
