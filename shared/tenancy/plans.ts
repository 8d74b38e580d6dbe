/**
 * Plans from configuration: PLANS is a JSON object of plan name -> { quota, containerDefaults,
 * podSecurity?, allowNodePorts?, allowLoadBalancers? }. Built in: "default" and "webide" (the same plus a
 * code-server IDE). A configured plan's quota is completed with the default quota's keys it does not set,
 * so no plan lacks a cap on load balancers, node ports, storage or object counts. Pod security is
 * `restricted` unless a plan says `baseline`; `privileged` stops start-up. Validated with zod so that a
 * typo stops start-up.
 */
import { z } from '../platform/env-schema.ts';
import { defaultPlan, defaultQuota, type TenantPlan } from './baseline.ts';
import { webIdeManifests } from './starters.ts';

const quantity = z
  .string()
  .check(z.regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/, 'a Kubernetes quantity such as 500m or 2Gi'));
const pair = z.strictObject({ cpu: quantity, memory: quantity });
const planSchema = z.strictObject({
  quota: z.record(z.string(), quantity),
  containerDefaults: z.strictObject({ request: pair, limit: pair }),
  podSecurity: z.optional(
    z.enum(['restricted', 'baseline'], {
      error: 'restricted or baseline (a tenant namespace never runs privileged pods)',
    }),
  ),
  allowNodePorts: z.optional(z.boolean()),
  allowLoadBalancers: z.optional(z.boolean()),
});

export const plansSchema = z.pipe(
  z.pipe(
    z.string(),
    z.transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.issues.push({ code: 'custom', message: 'not valid JSON', input: text });
        return z.NEVER;
      }
    }),
  ),
  z.record(z.string().check(z.regex(/^[a-z0-9-]{1,40}$/)), planSchema),
);

/** Built in besides "default": "webide", the default quota plus a code-server IDE. */
export const webIdePlan: TenantPlan = { ...defaultPlan, name: 'webide', manifests: webIdeManifests };

export function plansFrom(
  configured: Record<string, z.infer<typeof planSchema>> | undefined,
): Map<string, TenantPlan> {
  const plans = new Map<string, TenantPlan>([
    [defaultPlan.name, defaultPlan],
    [webIdePlan.name, webIdePlan],
  ]);
  for (const [name, plan] of Object.entries(configured ?? {})) {
    plans.set(name, {
      name,
      ...plan,
      quota: { ...defaultQuota, ...plan.quota },
      podSecurity: plan.podSecurity ?? 'restricted',
      allowNodePorts: plan.allowNodePorts ?? false,
      allowLoadBalancers: plan.allowLoadBalancers ?? false,
    });
  }
  return plans;
}
