/**
 * Configuration is read once, from the environment, by one pure function per function:
 * `loadConfig(env)`, built here from the platform's settings plus the function's own zod shape.
 * A missing or bad setting throws a ConfigError that names every offending variable, and the function
 * refuses to start.
 */
import {
  commaList,
  integer,
  nonEmpty,
  optional,
  text,
  withDefault,
  zMini,
  type EnvShape,
} from './env-schema.ts';
import { SERVICE_ACCOUNT_SUBJECT } from './kubernetes-names.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface ConfigProblem {
  readonly variable: string;
  readonly message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.variable}: ${p.message}`).join('; ')}`);
    this.problems = problems;
  }
}

const MIN_TOKEN_LENGTH = 16;

/** Comma-separated list, so that a token can be rotated by serving the old and the new one for a while. */
const tokenList = commaList().check(
  zMini.refine((tokens) => tokens.every((t) => t.length >= MIN_TOKEN_LENGTH), {
    message: `every token must be at least ${MIN_TOKEN_LENGTH} characters`,
  }),
);

/** Comma-separated `system:serviceaccount:<namespace>:<name>` identities; empty: none. */
const senderList = commaList().check(
  zMini.refine((senders) => senders.every((s) => SERVICE_ACCOUNT_SUBJECT.test(s)), {
    message: 'every sender must read system:serviceaccount:<namespace>:<name>',
  }),
);

const httpsUrl = () =>
  zMini.url().check(
    zMini.refine((url) => url.startsWith('https://'), {
      message: 'must be an https:// URL',
    }),
  );

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export const platformShape = {
  /** Token(s) accepted on every request; also VERIFICATION_TOKEN, ADMIN_API_KEY (docs/compatibility.md). */
  API_TOKEN: optional(tokenList),
  VERIFICATION_TOKEN: optional(tokenList),
  ADMIN_API_KEY: optional(tokenList),
  LOG_LEVEL: withDefault(zMini.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']), 'info'),
  PORT: withDefault(integer(0, 65535), 8080),
  MAX_BODY_BYTES: withDefault(integer(1, Number.MAX_SAFE_INTEGER), 1024 * 1024),
  /** The audience a sender's service-account token must carry; `tenant-lifecycle/<function>` when unset. */
  EVENT_AUDIENCE: optional(text(256)),
  /** Service accounts whose tokens are accepted (Knative's sources and Triggers, platform tools). */
  EVENT_SENDERS: withDefault(senderList, []),
  SERVICE_ACCOUNT_ISSUER: withDefault(zMini.url(), 'https://kubernetes.default.svc.cluster.local'),
  SERVICE_ACCOUNT_JWKS_URL: withDefault(httpsUrl(), 'https://kubernetes.default.svc/openid/v1/jwks'),
  SERVICE_ACCOUNT_TOKEN_FILE: withDefault(nonEmpty(), `${SERVICE_ACCOUNT_DIR}/token`),
  SERVICE_ACCOUNT_CA_FILE: withDefault(nonEmpty(), `${SERVICE_ACCOUNT_DIR}/ca.crt`),
  /** A projected service-account token with the Broker's audience, sent with the events a function emits. */
  EVENT_SINK_TOKEN_FILE: optional(nonEmpty()),
  /** How long one invocation may work before it must stop and hand over (Knative allows at most 600 s). */
  REQUEST_TIMEOUT_SECONDS: withDefault(integer(1, 3600), 300),
  /**
   * Seconds between SIGTERM and the forced close: operations watching their signal stop at their next safe
   * point and answer within it (docs/architecture.md, "Shutdown").
   */
  SHUTDOWN_GRACE_SECONDS: withDefault(integer(0, 600), 25),
  /**
   * How long a lock lease lasts without renewal (renewed every third of it): the longest a dead holder keeps
   * a tenant's or a sweep's lock, and how long the store may be unreachable before a holder gives its work up.
   */
  LOCK_LEASE_SECONDS: withDefault(integer(1, 3600), 60),
  /**
   * How many operations one instance runs at once: the Knative Service's containerConcurrency (50 in
   * knative/base). The database pool of the instance holds as many connections.
   */
  MAX_CONCURRENT_OPERATIONS: withDefault(integer(1, 1000), 50),
  /**
   * The bound of one call to each external system (see CallTimeouts). Unset: CALL_TIMEOUT_DEFAULTS, or a
   * third of the request's work time when that is less.
   */
  KUBERNETES_TIMEOUT_SECONDS: optional(integer(1, 600)),
  KEYCLOAK_TIMEOUT_SECONDS: optional(integer(1, 600)),
  GRAFANA_TIMEOUT_SECONDS: optional(integer(1, 600)),
  EVENT_SINK_TIMEOUT_SECONDS: optional(integer(1, 600)),
  DATABASE_CONNECT_TIMEOUT_SECONDS: optional(integer(1, 600)),
  DATABASE_STATEMENT_TIMEOUT_SECONDS: optional(integer(1, 600)),
  DATABASE_LOCK_TIMEOUT_SECONDS: optional(integer(1, 600)),
} satisfies EnvShape;

/** Each call bound's default in seconds, used as it is when a third of the request's work time allows. */
export const CALL_TIMEOUT_DEFAULTS = {
  KUBERNETES_TIMEOUT_SECONDS: 30,
  KEYCLOAK_TIMEOUT_SECONDS: 10,
  GRAFANA_TIMEOUT_SECONDS: 10,
  EVENT_SINK_TIMEOUT_SECONDS: 10,
  DATABASE_CONNECT_TIMEOUT_SECONDS: 10,
  DATABASE_STATEMENT_TIMEOUT_SECONDS: 30,
  DATABASE_LOCK_TIMEOUT_SECONDS: 10,
} as const;

/**
 * How long one call to each external system may take before it fails as a retryable 504 `timeout` (or 503
 * `unavailable` when the connection could not be made). Each fits three times (a call and its two
 * retries) into the request's deadline, which loadPlatformConfig checks.
 */
export interface CallTimeouts {
  /** One apiserver request, connect to last byte (client-node and raw requests). */
  readonly kubernetesMs: number;
  /** One Keycloak request (admin API and token endpoint). */
  readonly keycloakMs: number;
  /** One Grafana API request. */
  readonly grafanaMs: number;
  /** One CloudEvent POST to the event sink. */
  readonly eventSinkMs: number;
  /** Opening a database connection, or waiting for one of the pool's. */
  readonly databaseConnectMs: number;
  /**
   * The server's statement_timeout; the client gives up on an unanswered query a little later (pg's
   * query_timeout), which is what bounds a call to a frozen server.
   */
  readonly databaseStatementMs: number;
  /** The server's lock_timeout: a row or table lock held by another session is waited for this long. */
  readonly databaseLockMs: number;
}

/** The time the client waits for a query's answer beyond statement_timeout before it gives up. */
export const DATABASE_CLIENT_MARGIN_MS = 2_000;

export interface SenderSettings {
  /** EVENT_AUDIENCE; the host defaults it to `tenant-lifecycle/<function name>`. */
  readonly audience?: string;
  /** EVENT_SENDERS; empty: no service-account token is accepted. */
  readonly allowed: readonly string[];
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly tokenFile: string;
  readonly caFile: string;
}

export interface PlatformConfig {
  readonly apiTokens: readonly string[];
  readonly logLevel: string;
  readonly port: number;
  readonly maxBodyBytes: number;
  /** Who may call with a service-account token instead of an API token. */
  readonly senders: SenderSettings;
  /** EVENT_SINK_TOKEN_FILE: the token the function's own events carry to a Broker. */
  readonly eventSinkTokenFile?: string;
  readonly requestTimeoutMs: number;
  readonly shutdownGraceMs: number;
  /** LOCK_LEASE_SECONDS: the lease length of the store's locks. */
  readonly lockLeaseMs: number;
  /** MAX_CONCURRENT_OPERATIONS: what the instance's database pool is sized for. */
  readonly maxConcurrentOperations: number;
  readonly callTimeouts: CallTimeouts;
}

/** The work time of a request: what the host gives an operation as its deadline. */
export function requestWorkMs(requestTimeoutMs: number): number {
  return Math.max(requestTimeoutMs * 0.9, requestTimeoutMs - 30_000);
}

function parseEnv<S extends EnvShape>(shape: S, env: Env): zMini.infer<zMini.ZodMiniObject<S>> {
  const result = zMini.safeParse(zMini.object(shape), env);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      variable: String(issue.path[0] ?? '(environment)'),
      message: env[String(issue.path[0])] === undefined ? 'required' : issue.message,
    })),
  );
}

/** The settings every function shares. Pure: reads only `env`. */
export function loadPlatformConfig(env: Env): PlatformConfig {
  const tokenVariables = ['API_TOKEN', 'VERIFICATION_TOKEN', 'ADMIN_API_KEY'] as const;
  const noToken: ConfigProblem[] = tokenVariables.every((name) => !env[name]?.trim())
    ? [
        {
          variable: 'API_TOKEN',
          message:
            'required (or VERIFICATION_TOKEN / ADMIN_API_KEY): refusing to serve without authentication',
        },
      ]
    : [];
  const refused: ConfigProblem[] = [
    ...noToken,
    ...(env.TRUST_UNAUTHENTICATED_EVENTS === undefined
      ? []
      : [
          {
            variable: 'TRUST_UNAUTHENTICATED_EVENTS',
            message:
              'not supported: every event must carry its sender token; name the senders in EVENT_SENDERS',
          },
        ]),
  ];
  let e: zMini.infer<zMini.ZodMiniObject<typeof platformShape>>;
  try {
    e = parseEnv(platformShape, env);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError([...refused, ...error.problems]);
    throw error;
  }
  // A call and its two retries must fit in the request's work time, or a slow system turns into the
  // platform cutting the request off without an answer. An unset bound shrinks to fit; a set one that does
  // not fit is refused.
  const workMs = requestWorkMs(e.REQUEST_TIMEOUT_SECONDS * 1000);
  const fittingSeconds = Math.max(1, Math.floor(workMs / 3000));
  const bound = (name: keyof typeof CALL_TIMEOUT_DEFAULTS): number => {
    const set = e[name];
    if (set === undefined) return Math.min(CALL_TIMEOUT_DEFAULTS[name], fittingSeconds) * 1000;
    if (set * 1000 * 3 > workMs)
      refused.push({
        variable: name,
        message: `must be at most a third of the request's work time (${String(fittingSeconds)} s with REQUEST_TIMEOUT_SECONDS=${String(e.REQUEST_TIMEOUT_SECONDS)})`,
      });
    return set * 1000;
  };
  const callTimeouts: CallTimeouts = {
    kubernetesMs: bound('KUBERNETES_TIMEOUT_SECONDS'),
    keycloakMs: bound('KEYCLOAK_TIMEOUT_SECONDS'),
    grafanaMs: bound('GRAFANA_TIMEOUT_SECONDS'),
    eventSinkMs: bound('EVENT_SINK_TIMEOUT_SECONDS'),
    databaseConnectMs: bound('DATABASE_CONNECT_TIMEOUT_SECONDS'),
    databaseStatementMs: bound('DATABASE_STATEMENT_TIMEOUT_SECONDS'),
    databaseLockMs: bound('DATABASE_LOCK_TIMEOUT_SECONDS'),
  };
  if (refused.length > 0) throw new ConfigError(refused);
  const apiTokens = [...(e.API_TOKEN ?? []), ...(e.VERIFICATION_TOKEN ?? []), ...(e.ADMIN_API_KEY ?? [])];
  return {
    apiTokens,
    logLevel: e.LOG_LEVEL,
    port: e.PORT,
    maxBodyBytes: e.MAX_BODY_BYTES,
    senders: {
      ...(e.EVENT_AUDIENCE === undefined ? {} : { audience: e.EVENT_AUDIENCE }),
      allowed: e.EVENT_SENDERS,
      issuer: e.SERVICE_ACCOUNT_ISSUER,
      jwksUrl: e.SERVICE_ACCOUNT_JWKS_URL,
      tokenFile: e.SERVICE_ACCOUNT_TOKEN_FILE,
      caFile: e.SERVICE_ACCOUNT_CA_FILE,
    },
    ...(e.EVENT_SINK_TOKEN_FILE === undefined ? {} : { eventSinkTokenFile: e.EVENT_SINK_TOKEN_FILE }),
    requestTimeoutMs: e.REQUEST_TIMEOUT_SECONDS * 1000,
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS * 1000,
    lockLeaseMs: e.LOCK_LEASE_SECONDS * 1000,
    maxConcurrentOperations: e.MAX_CONCURRENT_OPERATIONS,
    callTimeouts,
  };
}

/**
 * Builds a function's `loadConfig(env)`: the platform settings plus the function's own variables
 * (`shape`, keyed by variable name) turned into its typed settings by `build`. Problems in both parts are
 * reported together.
 */
/** A function's `loadConfig`, carrying its own variables' schemas (docs/configuration.ts reads them). */
export type ConfigLoader<C> = ((env: Env) => PlatformConfig & C) & { readonly variables: EnvShape };

export function defineConfig<S extends EnvShape, C>(
  shape: S,
  build: (vars: zMini.infer<zMini.ZodMiniObject<S>>) => C,
): ConfigLoader<C> {
  const load = (env: Env): PlatformConfig & C => {
    const problems: ConfigProblem[] = [];
    let platform: PlatformConfig | undefined;
    let own: C | undefined;
    try {
      platform = loadPlatformConfig(env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
    try {
      own = build(parseEnv(shape, env));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
    if (platform === undefined || own === undefined) throw new ConfigError(problems);
    return { ...platform, ...own };
  };
  return Object.assign(load, { variables: shape });
}
