/**
 * Drift of the baseline objects inside existing tenant namespaces (pure: sync lists, this decides, sync
 * applies). The desired objects are the ones provision renders (tenant-objects.ts) for the namespace's plan;
 * the stored ones come from one list per kind with `baselineSelector`. Only the fields the product writes
 * count: a NetworkPolicy's or LimitRange's or ResourceQuota's `spec`, a RoleBinding's `roleRef` and
 * `subjects`, and the product's labels. Other labels, annotations, status and objects of other names are
 * left alone.
 *
 * The apiserver stores objects with defaults and in canonical form, so the comparison is semantic, never of
 * the bytes sent: a NetworkPolicy port without protocol is TCP, a NetworkPolicy without policyTypes has
 * Ingress (and Egress when it has egress rules), an empty list is the same as none, a RoleBinding subject of
 * kind User or Group without apiGroup is rbac.authorization.k8s.io, and quantities compare by value
 * ("2048Mi" is stored as "2Gi", "0.5" as "500m"). A correct object is therefore never drift, and a run
 * after a repair finds nothing to do.
 */
import { isDeepStrictEqual } from 'node:util';
import type { TenantPlan } from './baseline.ts';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import { labels, MANAGER } from './labels.ts';
import { renderTenantBaseline, type TenantAccessSettings } from './tenant-objects.ts';

export interface BaselineKind {
  readonly apiVersion: string;
  readonly kind: string;
}

/** The kinds of the baseline objects inside a tenant namespace (the namespace itself is not one). */
export const baselineKinds: readonly BaselineKind[] = [
  { apiVersion: 'v1', kind: 'ResourceQuota' },
  { apiVersion: 'v1', kind: 'LimitRange' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
];

/** What every baseline object carries; starters and the tenant's own objects do not. */
export const baselineSelector = `${labels.managedBy}=${MANAGER},${labels.baseline}=true`;

/** The kinds whose desired content depends on the tenant's plan. */
const planKinds = new Set(['ResourceQuota', 'LimitRange']);

/** A baseline object as listed: what the comparison and a replacement need of it. */
export interface StoredObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

export interface BaselineDrift {
  readonly tenant: string;
  readonly kind: string;
  readonly name: string;
  /**
   * create: missing; update: replaced in place (PUT, the listed resourceVersion as precondition);
   * recreate: deleted and created again (a RoleBinding's roleRef cannot be changed in place).
   */
  readonly action: 'create' | 'update' | 'recreate';
  /** The fields that differ (`spec.ingress`, `roleRef`, `metadata.labels`, ...); `*` for a missing object. */
  readonly fields: readonly string[];
}

export interface BaselineRepair extends BaselineDrift {
  readonly desired: KubernetesObject;
  readonly stored?: StoredObject;
}

/** A tenant namespace whose baseline is compared: owned and not being deleted (sync decides which). */
export interface BaselineNamespace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Fields of a listed object that are neither the product's content nor needed to replace it. */
const IGNORED = new Set(['apiVersion', 'kind', 'metadata', 'status']);

/** The listed object cut down to what sync keeps (no managedFields, no status): lists stay small in memory. */
export function storedShape(object: Readonly<Record<string, unknown>>): StoredObject | undefined {
  const metadata = object.metadata as Record<string, unknown> | undefined;
  const name = metadata?.name;
  const namespace = metadata?.namespace;
  if (typeof name !== 'string' || typeof namespace !== 'string') return undefined;
  const content = Object.fromEntries(Object.entries(object).filter(([key]) => !IGNORED.has(key)));
  const text = (key: string) => (typeof metadata?.[key] === 'string' ? { [key]: metadata[key] } : {});
  const map = (key: string) =>
    typeof metadata?.[key] === 'object' && metadata[key] !== null
      ? { [key]: metadata[key] as Record<string, string> }
      : {};
  return {
    ...content,
    apiVersion: String(object.apiVersion),
    kind: String(object.kind),
    metadata: {
      name,
      namespace,
      ...text('uid'),
      ...text('resourceVersion'),
      ...map('labels'),
      ...map('annotations'),
    },
  };
}

/**
 * A Kubernetes quantity as an exact value (`<integer>e<exponent>`, trailing zeros folded into the exponent),
 * so that two spellings of one amount compare equal; anything unparsable is returned unchanged.
 */
export function quantityValue(text: string): string {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:(Ki|Mi|Gi|Ti|Pi|Ei)|(n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/.exec(
    text.trim(),
  );
  if (match === null) return text;
  const [, sign = '', whole = '', fraction = '', binary, decimal, exponent] = match;
  if (whole === '' && fraction === '') return text;
  let digits = BigInt(`${whole}${fraction}` || '0');
  let power = -fraction.length;
  if (binary !== undefined)
    digits *= 1024n ** BigInt(['Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'].indexOf(binary) + 1);
  const decimalPowers: Record<string, number> = {
    n: -9,
    u: -6,
    m: -3,
    k: 3,
    M: 6,
    G: 9,
    T: 12,
    P: 15,
    E: 18,
  };
  if (decimal !== undefined) power += decimalPowers[decimal] ?? 0;
  if (exponent !== undefined) power += Number(exponent);
  if (digits === 0n) return '0';
  while (digits % 10n === 0n) {
    digits /= 10n;
    power += 1;
  }
  return `${sign === '-' ? '-' : ''}${digits.toString()}e${power.toString()}`;
}

type Json = unknown;

const isObject = (value: Json): value is Record<string, Json> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isList = (value: Json): value is readonly Json[] => Array.isArray(value);

/** Empty lists and empty label maps are stored as absent: drop them on both sides. */
function withoutEmpty(value: Json): Json {
  if (Array.isArray(value)) return value.map(withoutEmpty);
  if (!isObject(value)) return value;
  const out: Record<string, Json> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (Array.isArray(inner) && inner.length === 0) continue;
    if (
      (key === 'matchLabels' || key === 'matchExpressions') &&
      isObject(inner) &&
      Object.keys(inner).length === 0
    )
      continue;
    out[key] = withoutEmpty(inner);
  }
  return out;
}

const quantities = (map: Json): Json =>
  isObject(map)
    ? Object.fromEntries(
        Object.entries(map).map(([key, value]) => [
          key,
          typeof value === 'string' ? quantityValue(value) : value,
        ]),
      )
    : map;

const LIMIT_FIELDS = ['default', 'defaultRequest', 'max', 'min', 'maxLimitRequestRatio'];

function networkPolicySpec(spec: Record<string, Json>): Record<string, Json> {
  const rules = (key: 'ingress' | 'egress') => {
    const list = spec[key];
    return isList(list)
      ? {
          [key]: list.map((rule) =>
            isObject(rule) && isList(rule.ports)
              ? {
                  ...rule,
                  ports: rule.ports.map((port) =>
                    isObject(port) ? { ...port, protocol: port.protocol ?? 'TCP' } : port,
                  ),
                }
              : rule,
          ),
        }
      : {};
  };
  const policyTypes = Array.isArray(spec.policyTypes)
    ? [...(spec.policyTypes as string[])].sort()
    : ['Ingress', ...(Array.isArray(spec.egress) ? ['Egress'] : [])];
  return {
    ...spec,
    podSelector: spec.podSelector ?? {},
    ...rules('ingress'),
    ...rules('egress'),
    policyTypes,
  };
}

/** One owned top-level field of `kind` in the form the apiserver stores it, for comparison. */
function normalised(kind: string, field: string, raw: Json): Json {
  const value = withoutEmpty(raw);
  if (field === 'spec' && isObject(value)) {
    if (kind === 'NetworkPolicy') return networkPolicySpec(value);
    if (kind === 'ResourceQuota')
      return { ...value, ...(value.hard === undefined ? {} : { hard: quantities(value.hard) }) };
    const limits = value.limits;
    if (kind === 'LimitRange' && isList(limits)) {
      return {
        ...value,
        limits: limits.map((item) =>
          isObject(item)
            ? Object.fromEntries(
                Object.entries(item).map(([key, v]) => [key, LIMIT_FIELDS.includes(key) ? quantities(v) : v]),
              )
            : item,
        ),
      };
    }
  }
  if (kind === 'RoleBinding' && field === 'subjects' && isList(value)) {
    return value.map((subject) =>
      isObject(subject) && subject.apiGroup === undefined
        ? { ...subject, apiGroup: subject.kind === 'ServiceAccount' ? '' : 'rbac.authorization.k8s.io' }
        : subject,
    );
  }
  if (kind === 'RoleBinding' && field === 'roleRef' && isObject(value)) {
    return { ...value, apiGroup: value.apiGroup ?? 'rbac.authorization.k8s.io' };
  }
  return value;
}

/** The fields of `stored` that differ from `desired`, among those the product writes (sorted). */
export function driftedFields(desired: KubernetesObject, stored: StoredObject): string[] {
  const fields: string[] = [];
  for (const field of Object.keys(desired)) {
    if (IGNORED.has(field)) continue;
    // Most stored objects hold exactly what was sent (key order aside): equal as they are, equal normalised.
    if (isDeepStrictEqual(desired[field], stored[field])) continue;
    const want = normalised(desired.kind, field, desired[field]);
    const have = normalised(desired.kind, field, stored[field]);
    if (field === 'spec' && isObject(want) && isObject(have)) {
      for (const key of new Set([...Object.keys(want), ...Object.keys(have)]))
        if (!isDeepStrictEqual(want[key], have[key])) fields.push(`spec.${key}`);
    } else if (!isDeepStrictEqual(want, have)) fields.push(field);
  }
  const storedLabels = stored.metadata.labels ?? {};
  if (Object.entries(desired.metadata.labels ?? {}).some(([key, value]) => storedLabels[key] !== value))
    fields.push('metadata.labels');
  return fields.sort();
}

/** The repair that brings `stored` (or its absence) to `desired`; undefined when it is as desired. */
export function baselineRepair(
  desired: KubernetesObject,
  stored: StoredObject | undefined,
): BaselineRepair | undefined {
  const tenant = desired.metadata.namespace ?? '';
  const ref = { tenant, kind: desired.kind, name: desired.metadata.name, desired };
  if (stored === undefined) return { ...ref, action: 'create', fields: ['*'] };
  const fields = driftedFields(desired, stored);
  if (fields.length === 0) return undefined;
  const action = desired.kind === 'RoleBinding' && fields.includes('roleRef') ? 'recreate' : 'update';
  return { ...ref, action, fields, stored };
}

/**
 * The replacement of a drifted object (the body of its PUT): the desired content and the product's labels,
 * the stored object's other labels and its annotations kept, its uid and resourceVersion as preconditions
 * (a change or a new object meanwhile makes it a 409, and the next run compares again).
 */
export function replacement(repair: BaselineRepair): KubernetesObject {
  const { desired, stored } = repair;
  return {
    ...desired,
    metadata: {
      ...desired.metadata,
      labels: { ...stored?.metadata.labels, ...desired.metadata.labels },
      ...(stored?.metadata.annotations === undefined ? {} : { annotations: stored.metadata.annotations }),
      ...(stored?.metadata.uid === undefined ? {} : { uid: stored.metadata.uid }),
      ...(stored?.metadata.resourceVersion === undefined
        ? {}
        : { resourceVersion: stored.metadata.resourceVersion }),
    },
  };
}

export interface DesiredBaselineSettings {
  readonly plans: ReadonlyMap<string, TenantPlan>;
  readonly access: TenantAccessSettings;
}

/**
 * The desired baseline objects of one namespace: what provision renders for the plan its label names. A
 * namespace whose plan is not configured (any more) keeps its quota and limits as they are; its policies
 * and bindings, which no plan changes, are still compared.
 */
export function desiredBaseline(
  namespace: BaselineNamespace,
  settings: DesiredBaselineSettings,
  fallbackPlan: TenantPlan,
): KubernetesObject[] {
  const plan = settings.plans.get(namespace.labels[labels.plan] ?? '');
  return renderTenantBaseline(
    { username: namespace.name, plan: plan ?? fallbackPlan, createdAt: new Date(0) },
    settings.access,
  ).filter((o) => o.kind !== 'Namespace' && (plan !== undefined || !planKinds.has(o.kind)));
}

const objectKey = (namespace: string, kind: string, name: string) => `${namespace}/${kind}/${name}`;

/** The order of repairs in answers and records: by tenant, kind, name. */
export const byTenantKindName = (a: BaselineDrift, b: BaselineDrift): number =>
  a.tenant.localeCompare(b.tenant) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name);

/**
 * The comparison of the baseline of `namespaces` (and of those only: a namespace the product does not own
 * is never among them) with the listed objects, fed one at a time as the list pages arrive. It keeps only
 * the drifted objects and the names of those seen, and renders a namespace's desired objects when one of
 * its objects arrives, so a sweep over many tenants holds neither every stored nor every desired object.
 * Pure: no I/O, the same input gives the same repairs.
 */
export class BaselineComparison {
  private readonly namespaces: ReadonlyMap<string, BaselineNamespace>;
  private readonly settings: DesiredBaselineSettings;
  private readonly fallbackPlan: TenantPlan;
  private readonly seen = new Set<string>();
  private readonly drifted: BaselineRepair[] = [];
  /** The last namespace rendered: a list answers a namespace's objects one after the other. */
  private last: { readonly name: string; readonly objects: readonly KubernetesObject[] } | undefined;

  constructor(
    namespaces: readonly BaselineNamespace[],
    settings: DesiredBaselineSettings,
    fallbackPlan: TenantPlan,
  ) {
    this.namespaces = new Map(namespaces.map((n) => [n.name, n]));
    this.settings = settings;
    this.fallbackPlan = fallbackPlan;
  }

  private desired(name: string): readonly KubernetesObject[] {
    if (this.last?.name === name) return this.last.objects;
    const namespace = this.namespaces.get(name);
    const objects =
      namespace === undefined ? [] : desiredBaseline(namespace, this.settings, this.fallbackPlan);
    this.last = { name, objects };
    return objects;
  }

  /** One listed object (API JSON); one of another name, kind or namespace is left alone. */
  add(listed: Readonly<Record<string, unknown>>): void {
    const stored = storedShape(listed);
    if (stored === undefined || !this.namespaces.has(stored.metadata.namespace)) return;
    const desired = this.desired(stored.metadata.namespace).find(
      (o) => o.kind === stored.kind && o.metadata.name === stored.metadata.name,
    );
    if (desired === undefined) return;
    this.seen.add(objectKey(stored.metadata.namespace, stored.kind, stored.metadata.name));
    const repair = baselineRepair(desired, stored);
    if (repair !== undefined) this.drifted.push(repair);
  }

  /** The repairs: the drifted objects and a create for each desired object not seen, by tenant, kind, name. */
  repairs(): BaselineRepair[] {
    const missing: BaselineRepair[] = [];
    for (const namespace of this.namespaces.values()) {
      for (const object of desiredBaseline(namespace, this.settings, this.fallbackPlan)) {
        if (this.seen.has(objectKey(namespace.name, object.kind, object.metadata.name))) continue;
        const repair = baselineRepair(object, undefined);
        if (repair !== undefined) missing.push(repair);
      }
    }
    return [...this.drifted, ...missing].sort(byTenantKindName);
  }
}

/** The repairs of `namespaces`' baselines given every listed object at once (see BaselineComparison). */
export function planBaselineRepairs(
  namespaces: readonly BaselineNamespace[],
  settings: DesiredBaselineSettings,
  fallbackPlan: TenantPlan,
  listed: Iterable<Readonly<Record<string, unknown>>>,
): BaselineRepair[] {
  const comparison = new BaselineComparison(namespaces, settings, fallbackPlan);
  for (const object of listed) comparison.add(object);
  return comparison.repairs();
}

/** A repair as the answer and the audit record show it (no object content). */
export const driftReport = (r: BaselineRepair): BaselineDrift => ({
  tenant: r.tenant,
  kind: r.kind,
  name: r.name,
  action: r.action,
  fields: r.fields,
});
