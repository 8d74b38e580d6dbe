/**
 * A plan's starter objects: manifests kept as data (JSON objects, never YAML text), with `${{ key }}`
 * placeholders inside string values only. Rendering walks the object and replaces placeholders in string
 * leaves, so a value can never add fields, documents or YAML syntax, whatever characters it holds. An
 * unknown placeholder is an error, not left verbatim. Starter objects always land in the tenant's namespace.
 *
 * `${{ password }}` is a random password of the tenant's starters, meant for a Secret the starter reads (the
 * webide's login). Provision generates it and returns it once in its answer (`starter_password`); sync and
 * reset, which create starters again, generate a fresh one. The tenant can always read the current one from
 * the Secret in its namespace. It is never the tenant's Keycloak password: that one is stored nowhere.
 */
import { PlatformError } from '../platform/errors.ts';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import { labels, MANAGER } from './labels.ts';
import { generatePassword } from '../platform/passwords.ts';

export interface StarterValues {
  readonly tenant: string;
  readonly namespace: string;
  readonly email: string;
  /** The value of `${{ password }}`; a fresh random one when absent. */
  readonly password?: string;
}

const PLACEHOLDER = /\$\{\{\s*(\w+)\s*\}\}/g;
/** Kinds a tenant may own; anything cluster-scoped or platform-owned is refused. */
const ALLOWED_KINDS = new Set([
  'Deployment',
  'StatefulSet',
  'Service',
  'PersistentVolumeClaim',
  'ConfigMap',
  'Secret',
  'Job',
  'CronJob',
  'Ingress',
  'ServiceAccount',
]);

/** Whether a template holds `${{ password }}` (provision then returns the password it generated). */
export function usesStarterPassword(template: Readonly<Record<string, unknown>>): boolean {
  return /\$\{\{\s*password\s*\}\}/.test(JSON.stringify(template));
}

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
    password: values.password ?? generatePassword(),
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

/** The login of the webide starter; code-server reads PASSWORD from it. */
export const WEBIDE_AUTH_SECRET = 'webide-auth';

/** code-server's image runs as the user "coder", uid and gid 1000. */
const WEBIDE_UID = 1000;

/** The webide's image unless WEBIDE_IMAGE names another (a mirror, for clusters without Docker Hub). */
export const DEFAULT_WEBIDE_IMAGE = 'codercom/code-server:4.96.4';

/**
 * A browser IDE (code-server) with its storage and Service: a tenant's WebIDE (docs/compatibility.md).
 * Password authentication on (the password in the Secret webide-auth), and a pod the Pod Security
 * Standard `restricted` admits: numeric non-root user, no privilege escalation, no capabilities, the
 * runtime's seccomp profile, no service account token.
 *
 * `image` is code-server's, or one that keeps its contract: it serves HTTP on the port of `--bind-addr`
 * (8080) with /healthz open, asks for the password in the environment variable PASSWORD, runs as uid 1000
 * and keeps its state in /home/coder (the volume webide-home).
 */
export function webIdeManifests(
  image: string = DEFAULT_WEBIDE_IMAGE,
): readonly Readonly<Record<string, unknown>>[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: WEBIDE_AUTH_SECRET },
      type: 'Opaque',
      stringData: { PASSWORD: '${{ password }}' },
    },
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
            automountServiceAccountToken: false,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: WEBIDE_UID,
              runAsGroup: WEBIDE_UID,
              fsGroup: WEBIDE_UID,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'code-server',
                image,
                args: ['--auth', 'password', '--bind-addr', '0.0.0.0:8080'],
                env: [
                  { name: 'TENANT', value: '${{ tenant }}' },
                  {
                    name: 'PASSWORD',
                    valueFrom: { secretKeyRef: { name: WEBIDE_AUTH_SECRET, key: 'PASSWORD' } },
                  },
                ],
                ports: [{ name: 'http', containerPort: 8080 }],
                // Ready (and in the Service) once it serves; code-server answers /healthz without a login.
                readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5 },
                resources: {
                  requests: { cpu: '50m', memory: '512Mi' },
                  limits: { cpu: '400m', memory: '1Gi' },
                },
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: WEBIDE_UID,
                  runAsGroup: WEBIDE_UID,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ['ALL'] },
                  seccompProfile: { type: 'RuntimeDefault' },
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
}
