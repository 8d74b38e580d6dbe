/**
 * Everest's RBAC policy (ConfigMap everest-system/everest-rbac, key policy.csv), parsed and validated with
 * Everest's own rules (pkg/rbac: its loader, then `everestctl settings rbac validate`), and lines merged
 * into it without duplicates. Pure: text in, text or a PlatformError with Everest's reason out.
 *
 * Lines: `p, <subject>, <resource>, <action>, <object>` and `g, <user or group>, <role>`; blank lines and
 * `#` comments are skipped; fields are comma-separated with leading spaces trimmed (Go's csv with
 * TrimLeadingSpace). Quoted CSV fields are refused: Everest's term rule forbids `"` anyway.
 */
import { PlatformError } from '../platform/errors.ts';

export const RBAC_CONFIGMAP = 'everest-rbac';
export const POLICY_KEY = 'policy.csv';
export const ADMIN_ROLE = 'role:admin';

/** Resource names of Everest's API (x-everest-resource-name in its OpenAPI document). */
export const EVEREST_RESOURCES = [
  'backup-storages',
  'data-import-jobs',
  'data-importers',
  'database-cluster-backups',
  'database-cluster-credentials',
  'database-cluster-restores',
  'database-clusters',
  'database-engines',
  'enginefeatures/split-horizon-dns-configs',
  'load-balancer-configs',
  'monitoring-instances',
  'namespaces',
  'pod-scheduling-policies',
] as const;

/** Resources whose objects are plain names, not `<namespace>/<name>`. */
export const GLOBAL_RESOURCES: ReadonlySet<string> = new Set([
  'namespaces',
  'pod-scheduling-policies',
  'load-balancer-configs',
  'data-importers',
]);

export const ACTIONS = ['create', 'read', 'update', 'delete', '*'] as const;

export type PolicyRule =
  | {
      readonly kind: 'p';
      readonly subject: string;
      readonly resource: string;
      readonly action: string;
      readonly object: string;
    }
  | { readonly kind: 'g'; readonly member: string; readonly role: string };

/** A rule in the canonical form used to tell duplicates apart: `p, a, b, c, d`. */
export function ruleText(rule: PolicyRule): string {
  return rule.kind === 'p'
    ? `p, ${rule.subject}, ${rule.resource}, ${rule.action}, ${rule.object}`
    : `g, ${rule.member}, ${rule.role}`;
}

const syntaxError = (message: string, line?: string) =>
  new PlatformError({
    reason: 'validation',
    message: `policy syntax error: ${message}`,
    ...(line === undefined ? {} : { issues: [{ path: 'lines', message: `${message}: '${line}'` }] }),
  });

const isSkipped = (line: string) => line.trim() === '' || line.trimStart().startsWith('#');

/** One policy line as Everest's loader reads it. */
export function parseRule(line: string): PolicyRule {
  if (line.includes('"')) throw syntaxError(`quoted fields are not supported in '${line}'`, line);
  const fields = line.split(',').map((f) => f.trimStart());
  if (fields.length < 2 || (fields[0] !== 'p' && fields[0] !== 'g'))
    throw syntaxError(`invalid policy line '${line}'`, line);
  const [kind, ...values] = fields;
  // The model's p has four fields (sub, res, act, obj), g two; casbin refuses other sizes.
  if (kind === 'p' && values.length !== 4)
    throw syntaxError(`invalid policy size: '${line}' has ${values.length} fields, p needs 4`, line);
  if (kind === 'g' && values.length !== 2)
    throw syntaxError(`invalid policy size: '${line}' has ${values.length} fields, g needs 2`, line);
  const [a = '', b = '', c = '', d = ''] = values;
  return kind === 'p'
    ? { kind, subject: a, resource: b, action: c, object: d }
    : { kind: 'g', member: a, role: b };
}

/** Every rule of a policy text (blank and comment lines skipped). */
export function parsePolicy(text: string): PolicyRule[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => !isSkipped(l))
    .map(parseRule);
}

// Go's `^[/*-_:a-zA-Z0-9]+$`: `*-_` is the range 0x2A-0x5F, the same in a JavaScript class.
const TERM = /^[/*-_:a-zA-Z0-9]+$/;
const KNOWN_RESOURCES: ReadonlySet<string> = new Set(EVEREST_RESOURCES);

/** `everestctl settings rbac validate`: the first problem, in Everest's order and words, or undefined. */
export function policyProblem(rules: readonly PolicyRule[]): string | undefined {
  for (const rule of rules) {
    if (rule.kind !== 'p') continue;
    for (const term of [rule.subject, rule.resource, rule.action, rule.object]) {
      if (!TERM.test(term)) return `invalid characters in policy term '${term}' of '${ruleText(rule)}'`;
    }
  }
  const roles = new Set(rules.flatMap((r) => (r.kind === 'g' ? [r.role] : [])));
  for (const rule of rules) {
    if (rule.kind === 'p' && rule.subject.startsWith('role:') && rule.subject !== ADMIN_ROLE) {
      if (!roles.has(rule.subject)) return `role '${rule.subject}' does not exist`;
    }
  }
  for (const rule of rules) {
    if (rule.kind === 'p' && rule.resource !== '*' && !KNOWN_RESOURCES.has(rule.resource))
      return `unknown resource name '${rule.resource}'`;
  }
  return undefined;
}

export interface PolicyAppend {
  /** The new policy text; equal to the current one when every line was already there. */
  readonly text: string;
  /** Lines added, canonical form, in the order given. */
  readonly added: readonly string[];
  /** Lines given that the policy already held (or that were given twice). */
  readonly alreadyPresent: readonly string[];
}

// Tab, newline, CR, NUL and every other C0 control, and DEL: a given line holding one could become two
// lines of the stored text, or a term Everest's loader reads differently.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * A given line, checked whole before anything else: no control character anywhere (not even in a
 * comment), else a 400 naming the line's index.
 */
export function checkGivenLine(line: string, index: number): void {
  const at = line.search(CONTROL);
  if (at < 0) return;
  const code = `U+${(line.codePointAt(at) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  const message = `line ${index} holds the control character ${code}; a policy line is one line of printable text`;
  throw new PlatformError({
    reason: 'validation',
    message: `policy not changed: ${message}`,
    issues: [{ path: `lines.${index}`, message }],
  });
}

/**
 * What this product adds beyond Everest's validator, for the lines it writes: every term of a `g` line
 * obeys the same term rule as a `p` line's, and a `g` line's role is Everest's built-in `role:admin`, the
 * subject of some `p` line, or itself bound by a `g` line (a group) in the resulting policy; so no line
 * binds a user to a misspelt or not yet defined role.
 */
export function addedRuleProblem(rule: PolicyRule, result: readonly PolicyRule[]): string | undefined {
  if (rule.kind === 'p') return undefined;
  for (const term of [rule.member, rule.role]) {
    if (!TERM.test(term)) return `invalid characters in policy term '${term}' of '${ruleText(rule)}'`;
  }
  if (rule.role === ADMIN_ROLE) return undefined;
  const defined = result.some(
    (r) => (r.kind === 'p' && r.subject === rule.role) || (r.kind === 'g' && r.member === rule.role),
  );
  return defined ? undefined : `role '${rule.role}' of '${ruleText(rule)}' has no rules`;
}

/**
 * Appends `lines` to the policy `current`, skipping blanks, comments and rules already present, and checks
 * the result with Everest's rules and the added lines with addedRuleProblem's: any problem is a 400 with
 * the reason and nothing is appended.
 */
export function appendToPolicy(current: string, lines: readonly string[]): PolicyAppend {
  lines.forEach(checkGivenLine);
  const given = lines.filter((l) => !isSkipped(l)).map(parseRule);
  const existing = parsePolicy(current);
  const seen = new Set(existing.map(ruleText));
  const added: string[] = [];
  const alreadyPresent: string[] = [];
  for (const rule of given) {
    const text = ruleText(rule);
    if (seen.has(text)) alreadyPresent.push(text);
    else {
      seen.add(text);
      added.push(text);
    }
  }
  const addedRules = added.map(parseRule);
  const result = [...existing, ...addedRules];
  const problem =
    policyProblem(result) ?? addedRules.map((r) => addedRuleProblem(r, result)).find((p) => p !== undefined);
  if (problem !== undefined)
    throw new PlatformError({
      reason: 'validation',
      message: `policy not changed: ${problem}`,
      issues: [{ path: 'lines', message: problem }],
    });
  if (added.length === 0) return { text: current, added, alreadyPresent };
  const head = current.replace(/\n+$/, '');
  return { text: `${head === '' ? '' : `${head}\n`}${added.join('\n')}\n`, added, alreadyPresent };
}

/** Removes the rules for which `drop` is true; comments and blank lines stay. */
export function removeFromPolicy(
  current: string,
  drop: (rule: PolicyRule) => boolean,
): { text: string; removed: string[] } {
  const removed: string[] = [];
  const kept = current.split('\n').filter((line) => {
    if (isSkipped(line)) return true;
    const rule = parseRule(line.replace(/\r$/, ''));
    if (!drop(rule)) return true;
    removed.push(ruleText(rule));
    return false;
  });
  return { text: kept.join('\n'), removed };
}

/**
 * Takes a user out of the policy: its `g` lines, then the `p` lines of every role left without a member
 * (Everest refuses a policy whose p lines name a role that no g line defines; its server would not load it).
 */
export function removeUserFromPolicy(current: string, username: string): { text: string; removed: string[] } {
  const rules = parsePolicy(current);
  const roles = new Set(rules.flatMap((r) => (r.kind === 'g' && r.member === username ? [r.role] : [])));
  const stillHeld = new Set(rules.flatMap((r) => (r.kind === 'g' && r.member !== username ? [r.role] : [])));
  const orphaned = new Set([...roles].filter((r) => !stillHeld.has(r) && r !== ADMIN_ROLE));
  const result = removeFromPolicy(current, (rule) =>
    rule.kind === 'g' ? rule.member === username : orphaned.has(rule.subject),
  );
  // A valid policy is never turned into one Everest refuses (e.g. a role held only through this user).
  const problem = policyProblem(parsePolicy(result.text));
  if (problem !== undefined && policyProblem(rules) === undefined)
    throw new PlatformError({
      reason: 'conflict',
      message: `policy not changed: removing ${username} would leave a policy Everest refuses: ${problem}`,
    });
  return result;
}

/** The role a tenant namespace's users get (docs/compatibility.md). */
export const tenantRole = (namespace: string) => `role:tenant-${namespace}`;

/** A tenant's policy lines: the namespace's resources for its role, and the user in the role. */
export function tenantPolicyLines(username: string, namespace: string): string[] {
  const role = tenantRole(namespace);
  return [
    `p, ${role}, namespaces, read, ${namespace}`,
    `p, ${role}, database-engines, read, ${namespace}/*`,
    `p, ${role}, database-clusters, *, ${namespace}/*`,
    `p, ${role}, database-cluster-backups, *, ${namespace}/*`,
    `p, ${role}, database-cluster-restores, *, ${namespace}/*`,
    `p, ${role}, database-cluster-credentials, read, ${namespace}/*`,
    `p, ${role}, backup-storages, *, ${namespace}/*`,
    `p, ${role}, monitoring-instances, *, ${namespace}/*`,
    `g, ${username}, ${role}`,
  ];
}
