import { describe, expect, it } from 'vitest';
import { globMatch } from '../../../shared/everest/glob-match.ts';
import { can } from '../../../shared/everest/rbac-enforcer.ts';
import { tenantPolicyLines } from '../../../shared/everest/rbac-policy.ts';

// Everest's testdata policy-1 (pkg/rbac/testdata), as its `rbac can` tests use it.
const POLICY_1 = `g, admin, role:admin
p, role:readonly, *, read, */*
g, alice, role:readonly
p, alice, database-clusters, *, alice/*
p, bob, database-clusters, *, dev/*
`;

const ask = (policy: string, subject: string, action: string, resource: string, object: string) =>
  can(policy, { subject, action, resource, object });

describe('rbac can, as everestctl settings rbac can', () => {
  it('answers Everest’s own test expectations', async () => {
    expect(await ask(POLICY_1, 'admin', 'create', 'database-clusters', '*')).toBe(true);
    expect(await ask(POLICY_1, 'alice', 'create', 'database-clusters', '*')).toBe(false);
    expect(await ask(POLICY_1, 'alice', 'create', 'database-clusters', 'alice/alice-cluster-1')).toBe(true);
    expect(await ask(POLICY_1, 'bob', 'create', 'database-clusters', '*')).toBe(false);
    expect(await ask(POLICY_1, 'bob', 'create', 'database-clusters', 'dev/*')).toBe(true);
    expect(await ask(POLICY_1, 'alice', 'read', 'backup-storages', 'anywhere/x')).toBe(true);
  });

  it('gives a tenant its namespace and nothing else', async () => {
    const policy = `g, admin, role:admin\n${tenantPolicyLines('alice', 'ns-alice').join('\n')}\n`;
    expect(await ask(policy, 'alice', 'create', 'database-clusters', 'ns-alice/*')).toBe(true);
    expect(await ask(policy, 'alice', 'delete', 'database-clusters', 'ns-alice/pg-1')).toBe(true);
    expect(await ask(policy, 'alice', 'create', 'database-clusters', 'ns-bob/pg-1')).toBe(false);
    expect(await ask(policy, 'alice', 'read', 'namespaces', 'ns-alice')).toBe(true);
    expect(await ask(policy, 'alice', 'read', 'namespaces', 'ns-bob')).toBe(false);
    expect(await ask(policy, 'alice', 'update', 'database-cluster-credentials', 'ns-alice/pg-1')).toBe(false);
    expect(await ask(policy, 'admin', 'delete', 'namespaces', 'ns-bob')).toBe(true);
    expect(await ask(policy, 'mallory', 'read', 'namespaces', 'ns-alice')).toBe(false);
  });

  it('refuses an unknown action with Everest’s message', async () => {
    await expect(ask(POLICY_1, 'alice', 'launch', 'database-clusters', '*')).rejects.toThrow(
      "invalid action 'launch'. Supported actions: create,read,update,delete,*",
    );
  });
});

describe('globMatch, as doublestar.Match', () => {
  it.each([
    ['ns/x', '*/*', true],
    ['/', '*/*', true],
    ['', '*', true],
    ['ns/x', '*', false],
    ['a/b/c', '**', true],
    ['a/b/c', 'a/**', true],
    ['a/c', 'a/**/c', true],
    ['a/b/c', 'a/*/c', true],
    ['a/b/d/c', 'a/*/c', false],
    ['ns-alice/pg-1', 'ns-alice/*', true],
    ['ns-alice2/pg-1', 'ns-alice/*', false],
    ['dev/x', '{dev,prod}/*', true],
    ['qa/x', '{dev,prod}/*', false],
    ['v1', 'v?', true],
    ['b', '[abc]', true],
    ['d', '[!abc]', true],
    ['a.b', 'a?b', true],
    ['axb', 'a.b', false],
  ])('%j against %j: %s', (key, pattern, expected) => {
    expect(globMatch(key, pattern)).toBe(expected);
  });
});
