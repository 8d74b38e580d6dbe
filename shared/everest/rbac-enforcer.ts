/**
 * `everestctl settings rbac can`, evaluated here: Everest's casbin model (data/rbac/model.conf, verbatim)
 * over a stored policy, with Everest's built-in admin rules and its globMatch (glob-match.ts). Enforcement
 * is always on, as with `--policy-file`: the answer is what the policy grants, whether or not the
 * ConfigMap's `enabled` switch makes the Everest server apply it yet.
 */
import { newEnforcer, newModelFromString } from 'casbin';
import { PlatformError } from '../platform/errors.ts';
import { globMatch } from './glob-match.ts';
import { ACTIONS, ADMIN_ROLE, EVEREST_RESOURCES, GLOBAL_RESOURCES, parsePolicy } from './rbac-policy.ts';

export const EVEREST_RBAC_MODEL = `
[request_definition]
r = sub, res, act, obj

[policy_definition]
p = sub, res, act, obj

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = g(r.sub, p.sub) && globMatch(r.res, p.res) && globMatch(r.act, p.act) && globMatch(r.obj, p.obj)
`;

export interface CanRequest {
  readonly subject: string;
  readonly action: string;
  readonly resource: string;
  readonly object: string;
}

/** Whether the policy lets `subject` do `action` on `resource`'s `object`. */
export async function can(policyText: string, request: CanRequest): Promise<boolean> {
  if (!(ACTIONS as readonly string[]).includes(request.action))
    throw new PlatformError({
      reason: 'validation',
      message: `invalid action '${request.action}'. Supported actions: ${ACTIONS.join(',')}`,
      issues: [{ path: 'verb', message: `one of ${ACTIONS.join(', ')}` }],
    });
  // node-casbin keeps its own globMatch when another is added under that name, so the model's calls are
  // pointed at Everest's matcher under a name of its own.
  const model = EVEREST_RBAC_MODEL.replaceAll('globMatch(', 'everestGlobMatch(');
  const enforcer = await newEnforcer(newModelFromString(model));
  await enforcer.addFunction('everestGlobMatch', (key: string, pattern: string) => globMatch(key, pattern));
  const rules = parsePolicy(policyText);
  const admin = EVEREST_RESOURCES.map((r) => [ADMIN_ROLE, r, '*', GLOBAL_RESOURCES.has(r) ? '*' : '*/*']);
  const p = rules.flatMap((r) => (r.kind === 'p' ? [[r.subject, r.resource, r.action, r.object]] : []));
  const g = rules.flatMap((r) => (r.kind === 'g' ? [[r.member, r.role]] : []));
  if (p.length + admin.length > 0) await enforcer.addPolicies([...admin, ...p]);
  if (g.length > 0) await enforcer.addGroupingPolicies(g);
  // `*` or `all` as the object means every object: `/` for a namespaced resource, `` for a global one.
  const object =
    request.object === '*' || request.object === 'all'
      ? GLOBAL_RESOURCES.has(request.resource)
        ? ''
        : '/'
      : request.object;
  return enforcer.enforce(request.subject, request.resource, request.action, object);
}
