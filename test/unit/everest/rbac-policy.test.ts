import { describe, expect, it } from 'vitest';
import {
  appendToPolicy,
  parsePolicy,
  policyProblem,
  removeFromPolicy,
  removeUserFromPolicy,
  tenantPolicyLines,
} from '../../../shared/everest/rbac-policy.ts';
import { refusal } from '../../support/platform-error.ts';

const CHART = 'g, admin, role:admin\n';

describe('Everest policy validation', () => {
  it('accepts seed 001’s tenant lines', () => {
    expect(
      policyProblem(parsePolicy(`${CHART}${tenantPolicyLines('alice', 'ns-alice').join('\n')}`)),
    ).toBeUndefined();
  });

  it('refuses what everestctl settings rbac validate refuses, with its reason', () => {
    const problem = (text: string) => {
      try {
        return policyProblem(parsePolicy(text));
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(problem('p, role:x, database-clusters, *, ns/*')).toBe("role 'role:x' does not exist");
    expect(problem('p, alice, database-clustrs, *, ns/*')).toBe("unknown resource name 'database-clustrs'");
    expect(problem('p, alice, database clusters, *, ns/*')).toMatch(
      /invalid characters in policy term 'database clusters'/,
    );
    expect(problem('p, alice, database-clusters, *, ns/*, extra')).toMatch(/invalid policy size/);
    expect(problem('a, alice, database-clusters, *, ns/*')).toMatch(/invalid policy line/);
    expect(problem('alice may do anything')).toMatch(/invalid policy line/);
    expect(problem('p, alice, database-clusters, *, ns/é')).toMatch(/invalid characters/);
    expect(problem('p, role:admin, *, *, */*')).toBeUndefined(); // the built-in role needs no g line
    expect(problem('# comment\n\np, alice, *, read, */*')).toBeUndefined();
  });
});

describe('appending lines', () => {
  it('adds only what is missing, in order, and keeps the rest of the text', () => {
    const lines = tenantPolicyLines('alice', 'ns-alice');
    const first = appendToPolicy(`# managed by hand\n${CHART}`, lines);
    expect(first.added).toHaveLength(9);
    expect(first.text).toBe(`# managed by hand\n${CHART}${lines.join('\n')}\n`);
    const again = appendToPolicy(first.text, [...lines, '', '# note']);
    expect(again.added).toEqual([]);
    expect(again.alreadyPresent).toHaveLength(9);
    expect(again.text).toBe(first.text);
    // Spacing does not make a line new.
    expect(appendToPolicy(first.text, ['g,alice,   role:tenant-ns-alice']).added).toEqual([]);
  });

  it('changes nothing and answers 400 with the reason when the result would be invalid', () => {
    expect(refusal(() => appendToPolicy(CHART, ['p, role:tenant-x, database-clusters, *, x/*']))).toBe(
      "400 policy not changed: role 'role:tenant-x' does not exist",
    );
    expect(refusal(() => appendToPolicy(CHART, ['p, alice, pods, *, x/*']))).toBe(
      "400 policy not changed: unknown resource name 'pods'",
    );
    expect(refusal(() => appendToPolicy(CHART, ['x, y']))).toMatch(
      /^400 policy syntax error: invalid policy line/,
    );
  });

  it('refuses a line holding a newline, CR, NUL, tab or DEL whole, and writes nothing', () => {
    const before = `${CHART}${tenantPolicyLines('alice', 'ns-alice').join('\n')}\n`;
    // The attack of issue 13: one given line that would be stored as two, the first of which Everest
    // refuses (`g, probe` has one field), so the server would load no policy for anyone.
    for (const [line, code] of [
      ['g, probe\np, x', 'U+000A'],
      ['g, probe\rp, x', 'U+000D'],
      ['g, alice\u0000, role:tenant-ns-alice', 'U+0000'],
      ['g,\talice, role:tenant-ns-alice', 'U+0009'],
      ['# a comment\ng, eve, role:admin', 'U+000A'],
      ['\n', 'U+000A'],
      ['p, role:tenant-ns-alice, namespaces, read, ns-alice\u007f', 'U+007F'],
    ] as const)
      expect(refusal(() => appendToPolicy(before, ['g, bob, role:tenant-ns-alice', line]))).toMatch(
        new RegExp(`^400 policy not changed: line 1 holds the control character ${code.replace('+', '\\+')}`),
      );
    // Positive control: the legitimate line beside it is appended, and the result is a policy Everest loads.
    const ok = appendToPolicy(before, ['g, bob, role:tenant-ns-alice']);
    expect(ok.added).toEqual(['g, bob, role:tenant-ns-alice']);
    expect(policyProblem(parsePolicy(ok.text))).toBeUndefined();
  });

  it('validates g lines as strictly as p lines: term characters, arity, a role that has rules', () => {
    const before = `${CHART}${tenantPolicyLines('alice', 'ns-alice').join('\n')}\n`;
    expect(refusal(() => appendToPolicy(before, ['g, bo b, role:tenant-ns-alice']))).toBe(
      "400 policy not changed: invalid characters in policy term 'bo b' of 'g, bo b, role:tenant-ns-alice'",
    );
    expect(refusal(() => appendToPolicy(before, ['g, bob, role:tenant-ns-alice ']))).toMatch(
      /invalid characters in policy term 'role:tenant-ns-alice '/,
    );
    expect(refusal(() => appendToPolicy(before, ['g, bob, role:tenant-ns-alicé']))).toMatch(
      /invalid characters in policy term/,
    );
    expect(refusal(() => appendToPolicy(before, ['g, , role:tenant-ns-alice']))).toMatch(
      /invalid characters in policy term ''/,
    );
    expect(refusal(() => appendToPolicy(before, ['g, bob']))).toMatch(/invalid policy size/);
    expect(refusal(() => appendToPolicy(before, ['g, bob, role:tenant-ns-alice, extra']))).toMatch(
      /invalid policy size/,
    );
    expect(refusal(() => appendToPolicy(before, ['g, bob, role:tenant-ns-alcie']))).toBe(
      "400 policy not changed: role 'role:tenant-ns-alcie' of 'g, bob, role:tenant-ns-alcie' has no rules",
    );
    // Positive controls: a role defined by p lines of the same request, a group that is itself bound, and
    // Everest's built-in admin role.
    const lines = tenantPolicyLines('carol', 'ns-carol');
    const carol = appendToPolicy(before, [lines.at(-1) ?? '', ...lines.slice(0, -1)]);
    expect(carol.added).toHaveLength(9);
    expect(appendToPolicy(before, ['g, devs, role:tenant-ns-alice', 'g, dave, devs']).added).toHaveLength(2);
    expect(appendToPolicy(before, ['g, ops, role:admin']).added).toEqual(['g, ops, role:admin']);
    expect(policyProblem(parsePolicy(carol.text))).toBeUndefined();
  });

  it('removes a user, and the rules of a role nobody holds any more, so the policy stays valid', () => {
    const text = `${CHART}${tenantPolicyLines('bob', 'ns-bob').join('\n')}\n${tenantPolicyLines('alice', 'ns-alice').join('\n')}\ng, carol, role:tenant-ns-alice\n`;
    const bob = removeUserFromPolicy(text, 'bob');
    expect(bob.removed).toHaveLength(9);
    expect(bob.text).not.toContain('ns-bob');
    expect(policyProblem(parsePolicy(bob.text))).toBeUndefined();
    // alice's role is still carol's: only her binding goes.
    const alice = removeUserFromPolicy(bob.text, 'alice');
    expect(alice.removed).toEqual(['g, alice, role:tenant-ns-alice']);
    expect(alice.text).toContain('p, role:tenant-ns-alice, database-clusters, *, ns-alice/*');
    expect(removeFromPolicy(CHART, () => false).removed).toEqual([]);
  });
});
