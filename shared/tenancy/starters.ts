/**
 * A plan's starter objects: manifests kept as data (JSON objects, never YAML text), with `${{ key }}`
 * placeholders inside string values only. Rendering walks the object and replaces placeholders in string
 * leaves, so a value can never add fields, documents or YAML syntax, whatever characters it holds. An
 * unknown placeholder is an error, not left verbatim. Starter objects always land in the tenant's namespace.
 */
import { PlatformError } from '../platform/errors.ts';
import type { KubernetesObject } from './baseline.ts';
import { labels, MANAGER } from './labels.ts';

export interface StarterValues {
  readonly tenant: string;
  readonly namespace: string;
  readonly email: string;
}

const PLACEHOLDER = /\$\{\{\s*(\w+)\s*\}\}/g;
/** Kinds a tenant may own; anything cluster-scoped or platform-owned is refused. */
const ALLOWED_KINDS = new Set([
  'Deployment',
  'StatefulSet',
  'Service',
  'PersistentVolumeClaim',
  'ConfigMap',
  'Job',
  'CronJob',
  'Ingress',
  'ServiceAccount',
]);

function substitute(value: unknown, values: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_, key: string) => {
      const replacement = values[key];
      if (replacement === undefined) {
        throw new PlatformError({
          reason: 'internal',
          message: `starter template uses unknown placeholder \${{ ${key} }}`,
        });
      }
      return replacement;
    });
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, values));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, values)]));
  }
  return value;
}

export function renderStarter(
  template: Readonly<Record<string, unknown>>,
  values: StarterValues,
): KubernetesObject {
  const rendered = substitute(template, {
    tenant: values.tenant,
    namespace: values.namespace,
    email: values.email,
  }) as {
    apiVersion?: unknown;
    kind?: unknown;
    metadata?: { name?: unknown; labels?: Record<string, string> };
  } & Record<string, unknown>;
  const { apiVersion, kind, metadata } = rendered;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || typeof metadata?.name !== 'string') {
    throw new PlatformError({
      reason: 'internal',
      message: 'a starter template needs apiVersion, kind and metadata.name',
    });
  }
  if (!ALLOWED_KINDS.has(kind)) {
    throw new PlatformError({ reason: 'internal', message: `a starter template may not create a ${kind}` });
  }
  return {
    ...rendered,
    apiVersion,
    kind,
    metadata: {
      ...metadata,
      name: metadata.name,
      namespace: values.namespace,
      labels: {
        ...(metadata.labels ?? {}),
        [labels.managedBy]: MANAGER,
        [labels.tenant]: values.tenant,
        [labels.starter]: 'true',
      },
    },
  };
}

/** A browser IDE (code-server) with its storage and Service, as the WebIDE platform of seed 003 offered. */
export const webIdeManifests: readonly Readonly<Record<string, unknown>>[] = [
  {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'webide-home' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } } },
  },
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'webide', labels: { app: 'webide' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'webide' } },
      template: {
        metadata: { labels: { app: 'webide' } },
        spec: {
          containers: [
            {
              name: 'code-server',
              image: 'codercom/code-server:4.96.4',
              args: ['--auth', 'none', '--bind-addr', '0.0.0.0:8080'],
              env: [{ name: 'TENANT', value: '${{ tenant }}' }],
              ports: [{ name: 'http', containerPort: 8080 }],
              resources: {
                requests: { cpu: '50m', memory: '512Mi' },
                limits: { cpu: '400m', memory: '1Gi' },
              },
              volumeMounts: [{ name: 'home', mountPath: '/home/coder' }],
            },
          ],
          volumes: [{ name: 'home', persistentVolumeClaim: { claimName: 'webide-home' } }],
        },
      },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'webide' },
    spec: { selector: { app: 'webide' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  },
];
