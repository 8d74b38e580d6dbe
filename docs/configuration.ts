/**
 * `make docs`: docs/configuration.md, one table per function of the environment variables it reads, from
 * the zod schemas its loadConfig checks (name, whether required, default) and the meanings below. A unit
 * test (test/unit/docs/configuration.test.ts) fails when the file is stale or a variable has no meaning.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import type { z } from 'zod';
import type { EnvShape } from '../shared/platform/env-schema.ts';
import { loadConfig as bootstrap } from '../functions/bootstrap/config.ts';
import { loadConfig as cleanup } from '../functions/cleanup/config.ts';
import { loadConfig as deadLetter } from '../functions/dead-letter/config.ts';
import { loadConfig as deprovision } from '../functions/deprovision/config.ts';
import { loadConfig as enforce } from '../functions/enforce/config.ts';
import { loadConfig as pgReconcile } from '../functions/pg-reconcile/config.ts';
import { loadConfig as provision } from '../functions/provision/config.ts';
import { loadConfig as reset } from '../functions/reset/config.ts';
import { loadConfig as sync } from '../functions/sync/config.ts';
import { CALL_TIMEOUT_DEFAULTS, platformShape } from '../shared/platform/config.ts';

export const functionVariables: Readonly<Record<string, EnvShape>> = {
  provision: provision.variables,
  deprovision: deprovision.variables,
  reset: reset.variables,
  cleanup: cleanup.variables,
  sync: sync.variables,
  bootstrap: bootstrap.variables,
  enforce: enforce.variables,
  'pg-reconcile': pgReconcile.variables,
  'dead-letter': deadLetter.variables,
};

const KEYCLOAK_CLIENT = 'service-account client with realm-management roles (client credentials)';

/** What each variable means; the same name means the same everywhere. */
export const MEANINGS: Readonly<Record<string, string>> = {
  API_TOKEN:
    'token(s) accepted on every request, comma-separated for rotation, each ≥ 16 characters; no token: start-up fails',
  VERIFICATION_TOKEN: 'another name for API_TOKEN, kept for compatibility (added to it)',
  ADMIN_API_KEY: 'another name for API_TOKEN, kept for compatibility (added to it)',
  LOG_LEVEL: 'trace, debug, info, warn, error, fatal or silent',
  PORT: 'listen port (Knative sets it)',
  MAX_BODY_BYTES: 'larger request bodies get 413',
  EVENT_AUDIENCE:
    'the audience a sender’s service-account token must carry (default: tenant-lifecycle/<function name>)',
  EVENT_SENDERS:
    'service accounts whose tokens are accepted, comma-separated system:serviceaccount:<namespace>:<name> (Knative sources’ and Triggers’ OIDC accounts, platform tools); empty: none',
  SERVICE_ACCOUNT_ISSUER:
    'the cluster’s service-account token issuer (the apiserver’s --service-account-issuer)',
  SERVICE_ACCOUNT_JWKS_URL: 'where the issuer’s public keys are read (the apiserver serves /openid/v1/jwks)',
  SERVICE_ACCOUNT_TOKEN_FILE: 'the function’s own service-account token, sent to read the keys',
  EVENT_SINK_TOKEN_FILE:
    'a projected service-account token with the Broker’s audience, sent with the events the function emits (read at every send)',
  SERVICE_ACCOUNT_CA_FILE: 'the CA that signed the apiserver’s certificate, for reading the keys',
  REQUEST_TIMEOUT_SECONDS: 'the platform’s request timeout; long runs stop before it and continue later',
  SHUTDOWN_GRACE_SECONDS:
    'time after SIGTERM for in-flight requests: sweeps stop at their next safe point at once and answer within it (docs/architecture.md, “Shutdown”)',
  LOCK_LEASE_SECONDS:
    'lease of a tenant’s or a sweep’s lock, renewed every third of it: how long a dead holder keeps it, and how long the store may be unreachable before the holder gives its work up',
  MAX_CONCURRENT_OPERATIONS:
    'operations one instance runs at once: keep it equal to the Service’s containerConcurrency; the database pool holds as many connections (PostgreSQL must allow instances × this)',
  KUBERNETES_TIMEOUT_SECONDS:
    'the longest one Kubernetes API request may take, connect to last byte; then a retryable 504 (a call and its two retries fit in the request’s work time: a timeout set above a third of it stops start-up)',
  KEYCLOAK_TIMEOUT_SECONDS: 'the longest one Keycloak request may take; then a retryable 504',
  GRAFANA_TIMEOUT_SECONDS: 'the longest one Grafana API request may take; then a retryable 504',
  EVENT_SINK_TIMEOUT_SECONDS: 'the longest one CloudEvent POST to the event sink may take',
  DATABASE_CONNECT_TIMEOUT_SECONDS:
    'the longest a database connection takes to open, or a pooled one is waited for (a busy pool: 503 with Retry-After)',
  DATABASE_STATEMENT_TIMEOUT_SECONDS:
    'PostgreSQL statement_timeout; the client gives up on an unanswered query 2 s later (a frozen server: retryable 504)',
  DATABASE_LOCK_TIMEOUT_SECONDS:
    'PostgreSQL lock_timeout: how long a lock held by another session is waited for',
  DATABASE_URL: 'the platform store (PostgreSQL): audit log, idempotency keys, usage counters',
  KUBECONFIG: 'a kubeconfig file, used when KUBE_CONFIG is unset; neither: the in-cluster ServiceAccount',
  KUBE_CONFIG: 'a whole kubeconfig inline (kept for compatibility); wins over KUBECONFIG',
  KEYCLOAK_URL: 'Keycloak base URL',
  KEYCLOAK_REALM: 'the realm tenants live in',
  KEYCLOAK_AUTH_REALM: 'the realm the function authenticates against (default: KEYCLOAK_REALM)',
  KEYCLOAK_CLIENT_ID: `Keycloak ${KEYCLOAK_CLIENT}`,
  KEYCLOAK_CLIENT_SECRET: 'its secret',
  KEYCLOAK_TENANT_GROUP: 'the marker group every tenant is a member of',
  GRAFANA_URL: 'Grafana base URL (HTTP API)',
  GRAFANA_ADMIN_USER: 'Grafana server admin (basic auth)',
  GRAFANA_ADMIN_PASSWORD: 'its password',
  FUNCTIONS_NAMESPACE: 'the functions’ own namespace, never a tenant name',
  PG_RECONCILE_NAMESPACE: 'pg-reconcile’s namespace (its ConfigMap and Secrets), never a tenant name',
  IDEMPOTENCY_KEY_SECRET: 'HMAC-SHA256 key of the request fingerprints of Idempotency-Keys, 32+ characters',
  RESERVED_NAMES: 'more tenant names to refuse, comma-separated',
  RESERVED_NAME_PATTERN: 'a regular expression of tenant names to refuse',
  GRAFANA_PUBLIC_URL: 'the Grafana URL given to tenants in the answer (default: GRAFANA_URL)',
  GRAFANA_ORG_ROLE: 'the tenant’s role in the Grafana organisation: Viewer, Editor, Admin or None',
  OIDC_USERNAME_PREFIX: 'the apiserver’s --oidc-username-prefix, for the tenant’s RoleBinding subject',
  OIDC_GROUPS_PREFIX: 'the apiserver’s --oidc-groups-prefix',
  TENANT_CLUSTER_ROLE: 'the ClusterRole bound to the tenant in its namespace',
  PLANS:
    'JSON: name → {quota, containerDefaults, podSecurity?, allowNodePorts?, allowLoadBalancers?} (see README)',
  WEBIDE_IMAGE:
    'the image of the webide plan’s IDE: code-server’s, or a mirror of it for clusters that cannot pull from Docker Hub',
  DEFAULT_PLAN: 'the plan of a request that names none; must exist',
  TENANT_EGRESS_DENIED_NAMESPACES:
    'namespaces tenant pods may not reach, replacing the built-in list (FUNCTIONS_NAMESPACE is added)',
  TENANT_EGRESS_DENY_CIDRS:
    'CIDRs tenant pods may not reach: pod, service, node ranges (default: private, link-local)',
  CLUSTER_NAME: 'cluster name in the tenant’s kubeconfig',
  CLUSTER_SERVER: 'apiserver URL in the tenant’s kubeconfig',
  CLUSTER_CA_DATA: 'apiserver CA (base64 PEM) in the tenant’s kubeconfig',
  OIDC_ISSUER_URL: 'OIDC issuer in the tenant’s kubeconfig (kubelogin)',
  OIDC_CLIENT_ID: 'OIDC client in the tenant’s kubeconfig',
  RESET_CONCURRENCY: 'namespaces reset at the same time',
  RESET_MAX_NAMESPACES_PER_RUN:
    'namespaces one invocation resets at most; the rest continues (default: no bound)',
  CONTINUATION_SINK: 'where a reset that stopped early sends its continuation event (the Broker)',
  K_SINK: 'a SinkBinding’s sink, used when the function’s own sink variable is unset',
  REPLAY_SINK:
    'where dead-letter replays send an undelivered event again (the Broker’s ingress, whose Trigger delivers it as the first time); unset and no K_SINK: replays are refused',
  CONTINUATION_TOKEN: 'Bearer token sent with the continuation event, when the sink needs one',
  RETENTION_DAYS: 'tenants older than this are deprovisioned',
  CLEANUP_MAX_SHARE: 'share of the tenants one run may delete unless forced',
  SYNC_PAGE_SIZE: 'page size of the Keycloak, Grafana and Kubernetes lists',
  SYNC_CONCURRENCY: 'tenants repaired at the same time',
  SYNC_PRUNE_MAX_SHARE: 'share of the tenant namespaces prune may delete in one run unless forced',
  LIMITS_EVENT_SINK:
    'where the limits-changed event goes (the Broker; unset: enforce’s schedule applies new limits)',
  LIMITS_EVENT_TOKEN: 'Bearer token sent with the limits-changed event, when the sink needs one',
  PG_URL: 'the PostgreSQL server whose roles are managed (else DB_HOST and DB_PASS)',
  DB_HOST: 'the server’s host, when PG_URL is unset (kept for compatibility)',
  DB_PORT: 'its port',
  DB_NAME: 'its database',
  DB_USER: 'its user',
  DB_PASS: 'its password (required with DB_HOST)',
  NAMESPACE: 'namespace of the users ConfigMap and Secrets',
  CONFIGMAP_NAME: 'the users ConfigMap (key users.yaml)',
  PG_RECONCILE_SCOPE:
    'marker scope: which managed roles are this reconciler’s (default: NAMESPACE/CONFIGMAP_NAME)',
  PG_FALLBACK_ROLE: 'REASSIGN OWNED target of dropped users (default: the connecting user)',
  PG_DROP_MAX_SHARE: 'share of the managed users one run may drop unless forced (at least one)',
  DRY_RUN: 'every run is a dry run',
  MAX_RETRIES: 'retries of transient failures',
  RETRY_MIN_DELAY_MS: 'first backoff delay; doubles each retry, with jitter',
  DB_POOL_MAX_CONN: 'connections to the managed server',
  PG_SCRAM_ITERATIONS: 'PBKDF2 iterations of new SCRAM verifiers (PostgreSQL’s default 4096)',
  PG_BATCH_SIZE: 'statements per round trip when applying',
};

/** What the schema says about a variable: `(required)`, `(optional)` or its default. */
function defaultOf(schema: z.ZodType): string {
  const def = schema.def as { type: string; defaultValue?: unknown; innerType?: z.ZodType; in?: z.ZodType };
  if (def.type === 'default') {
    const value = def.defaultValue;
    return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
  }
  if (def.type === 'optional') return '(optional)';
  if (def.type === 'pipe' && def.in !== undefined) return defaultOf(def.in);
  return '(required)';
}

const escape = (text: string) => text.replaceAll('|', '\\|');

/** A call bound's default: its own, or a third of the request's work time when that is less. */
function callTimeoutDefault(name: string): string | undefined {
  const seconds = (CALL_TIMEOUT_DEFAULTS as Record<string, number | undefined>)[name];
  return seconds === undefined ? undefined : `\`${String(seconds)}\` or a third of the work time, if less`;
}

function table(shape: EnvShape): string {
  const rows = Object.entries(shape).map(([name, schema]) => {
    const meaning = MEANINGS[name];
    if (meaning === undefined) throw new Error(`docs/configuration.ts: no meaning for ${name}`);
    const value = callTimeoutDefault(name) ?? defaultOf(schema as z.ZodType);
    return `| \`${name}\` | ${value} | ${escape(meaning)} |`;
  });
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export const CONFIGURATION_FILE = fileURLToPath(new URL('configuration.md', import.meta.url));

/** The document, formatted as Prettier keeps it. */
export async function renderConfiguration(): Promise<string> {
  const sections = Object.entries(functionVariables).map(
    ([name, shape]) => `## ${name}\n\n${table(shape)}\n`,
  );
  const text = [
    '# Configuration',
    '',
    'Generated by `make docs` from the zod schemas each function checks at start-up (`functions/<name>/config.ts`);',
    'do not edit by hand. A bad or missing variable stops start-up with one JSON line naming it.',
    '',
    '## Every function',
    '',
    table(platformShape),
    '',
    ...sections,
  ].join('\n');
  return format(text, { ...(await resolveConfig(CONFIGURATION_FILE)), filepath: CONFIGURATION_FILE });
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  writeFileSync(CONFIGURATION_FILE, await renderConfiguration());
  console.log(CONFIGURATION_FILE);
}
