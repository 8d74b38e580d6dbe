/**
 * The name of the OIDC service account Knative Eventing makes for a source or Trigger under
 * `authentication-oidc` (knative/eventing pkg/auth/serviceaccount.go, GetOIDCServiceAccountNameForResource:
 * `kmeta.ChildName(<name>, "-oidc-<group>-<Kind>")`, lower-cased). Tests of the manifests use it to check
 * that each function's EVENT_SENDERS names exactly the sources and Triggers that deliver to it.
 */
import { createHash } from 'node:crypto';

const GROUPS = {
  PingSource: 'sources.knative.dev',
  ApiServerSource: 'sources.knative.dev',
  Trigger: 'eventing.knative.dev',
} as const;

export type KnativeSender = keyof typeof GROUPS;

const LONGEST = 63;
const HEAD = LONGEST - 32;

/** knative.dev/pkg/kmeta.ChildName. */
export function childName(parent: string, suffix: string): string {
  if (parent.length <= LONGEST - suffix.length) return parent + suffix;
  if (HEAD - suffix.length <= 0) {
    const hash = createHash('md5')
      .update(parent + suffix)
      .digest('hex');
    let name = parent.slice(0, HEAD) + hash;
    if (name.length < LONGEST) name += suffix.slice(0, LONGEST - name.length);
    return name.replace(/[^a-zA-Z0-9]+$/, '');
  }
  return parent.slice(0, HEAD - suffix.length) + createHash('md5').update(parent).digest('hex') + suffix;
}

/** `system:serviceaccount:<namespace>:<OIDC service account of the <kind> <name>>`. */
export function knativeSenderIdentity(kind: KnativeSender, namespace: string, name: string): string {
  const account = childName(name, `-oidc-${GROUPS[kind]}-${kind}`).toLowerCase();
  return `system:serviceaccount:${namespace}:${account}`;
}
