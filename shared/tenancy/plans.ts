/**
 * Plans from configuration: PLANS is a JSON object of plan name -> { quota, containerDefaults }. Without it
 * there is one plan, "default" (the predecessor's quota). Validated with zod so a typo stops start-up.
 */
import { z } from 'zod';
import { defaultPlan, type TenantPlan } from './baseline.ts';

const quantity = z
  .string()
  .regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/, 'a Kubernetes quantity such as 500m or 2Gi');
const pair = z.object({ cpu: quantity, memory: quantity }).strict();
const planSchema = z
  .object({
    quota: z.record(z.string(), quantity),
    containerDefaults: z.object({ request: pair, limit: pair }).strict(),
  })
  .strict();

export const plansSchema = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string().regex(/^[a-z0-9-]{1,40}$/), planSchema));

export function plansFrom(
  configured: Record<string, z.infer<typeof planSchema>> | undefined,
): Map<string, TenantPlan> {
  const plans = new Map<string, TenantPlan>([[defaultPlan.name, defaultPlan]]);
  for (const [name, plan] of Object.entries(configured ?? {})) plans.set(name, { name, ...plan });
  return plans;
}
