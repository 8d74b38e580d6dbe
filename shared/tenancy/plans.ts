/**
 * Plans from configuration: PLANS is a JSON object of plan name -> { quota, containerDefaults,
 * podSecurity?, allowNodePorts?, allowLoadBalancers? }. Built in: "default" and "webide" (the same plus a
 * code-server IDE, its image WEBIDE_IMAGE). A configured plan's quota is completed with the default quota's keys it does not set,
 * so no plan lacks a cap on load balancers, node ports, storage or object counts. Pod security is
 * `restricted` unless a plan says `baseline`; `privileged` stops start-up. Validated with zod so that a
 * typo stops start-up.
 */
import { optional, withDefault, zMini, type EnvShape } from '../platform/env-schema.ts';
import { defaultPlan, defaultQuota, type TenantPlan } from './baseline.ts';
import { DEFAULT_WEBIDE_IMAGE, webIdeManifests } from './starters.ts';

const quantity = zMini
  .string()
  .check(
    zMini.regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/, 'a Kubernetes quantity such as 500m or 2Gi'),
  );
const pair = zMini.strictObject({ cpu: quantity, memory: quantity });
const planSchema = zMini.strictObject({
  quota: zMini.record(zMini.string(), quantity),
  containerDefaults: zMini.strictObject({ request: pair, limit: pair }),
  podSecurity: zMini.optional(
    zMini.enum(['restricted', 'baseline'], {
      error: 'restricted or baseline (a tenant namespace never runs privileged pods)',
    }),
  ),
  allowNodePorts: zMini.optional(zMini.boolean()),
  allowLoadBalancers: zMini.optional(zMini.boolean()),
});

export const plansSchema = zMini.pipe(
  zMini.pipe(
    zMini.string(),
    zMini.transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.issues.push({ code: 'custom', message: 'not valid JSON', input: text });
        return zMini.NEVER;
      }
    }),
  ),
  zMini.record(zMini.string().check(zMini.regex(/^[a-z0-9-]{1,40}$/)), planSchema),
);

/**
 * An OCI image reference as the container runtimes parse it (the grammar of distribution/reference):
 * [registry[:port]/]path[:tag][@digest], the path lower case, a name of at most 255 characters.
 */
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const IMAGE_REFERENCE = new RegExp(
  `^(${NAME})(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`,
);

export function isImageReference(text: string): boolean {
  if (text.length > 512) return false;
  const name = IMAGE_REFERENCE.exec(text)?.[1];
  return name !== undefined && name.length <= 255;
}

/** The variables plans are made of, for every function that renders a plan's objects. */
export const plansShape = {
  PLANS: optional(plansSchema),
  WEBIDE_IMAGE: withDefault(
    zMini
      .string()
      .check(
        zMini.refine(isImageReference, 'an image reference such as registry.example.org/code-server:4.96.4'),
      ),
    DEFAULT_WEBIDE_IMAGE,
  ),
} satisfies EnvShape;

/** Built in besides "default": "webide", the default quota plus a code-server IDE. */
export function webIdePlanWith(image: string): TenantPlan {
  return { ...defaultPlan, name: 'webide', manifests: webIdeManifests(image) };
}

/** The "webide" plan with code-server's own image. */
export const webIdePlan: TenantPlan = webIdePlanWith(DEFAULT_WEBIDE_IMAGE);

export function plansFrom(
  configured: Record<string, zMini.infer<typeof planSchema>> | undefined,
  webIdeImage: string = DEFAULT_WEBIDE_IMAGE,
): Map<string, TenantPlan> {
  const plans = new Map<string, TenantPlan>([
    [defaultPlan.name, defaultPlan],
    ['webide', webIdePlanWith(webIdeImage)],
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
