/**
 * pg-reconcile's settings: the managed PostgreSQL server (PG_URL, or DB_HOST, DB_PORT, DB_NAME, DB_USER,
 * DB_PASS), where the desired state lives (NAMESPACE, CONFIGMAP_NAME), the platform store (DATABASE_URL:
 * audit), and the safety bound. The DB_* variables, NAMESPACE, CONFIGMAP_NAME, DRY_RUN and MAX_RETRIES keep
 * their names and defaults for compatibility (docs/compatibility.md).
 */
import {
  between,
  envBoolean,
  integer,
  nonEmpty,
  optional,
  text,
  withDefault,
  zMini,
} from '../../shared/platform/env-schema.ts';
import { kubeconfigSource } from '../../shared/adapters/kubernetes/kubeconfig-source.ts';
import { ConfigError, defineConfig } from '../../shared/platform/config.ts';
import { DNS_LABEL } from '../../shared/platform/kubernetes-names.ts';

const postgresUrl = zMini.string().check(
  zMini.refine((v) => /^postgres(ql)?:\/\//.test(v), {
    message: 'must be a postgres:// or postgresql:// URL',
  }),
);

export const loadConfig = defineConfig(
  {
    /** Platform store (audit log). */
    DATABASE_URL: nonEmpty(),
    /** The PostgreSQL server whose roles are managed, as a URL; else the DB_* variables. */
    PG_URL: optional(postgresUrl),
    DB_HOST: optional(nonEmpty()),
    DB_PORT: withDefault(integer(1, 65535), 5432),
    DB_NAME: withDefault(nonEmpty(), 'postgres'),
    DB_USER: withDefault(nonEmpty(), 'postgres'),
    DB_PASS: optional(zMini.string()),
    NAMESPACE: withDefault(zMini.string().check(zMini.regex(DNS_LABEL, 'a namespace name')), 'postgres'),
    CONFIGMAP_NAME: withDefault(nonEmpty(), 'postgres-users-config'),
    KUBE_CONFIG: optional(zMini.string()),
    KUBECONFIG: optional(zMini.string()),
    /** Marker scope: which managed roles are this reconciler's. Default: NAMESPACE/CONFIGMAP_NAME. */
    PG_RECONCILE_SCOPE: optional(text(200)),
    /** REASSIGN OWNED target of dropped users. Default: the connecting user (DB_USER, or PG_URL's user). */
    PG_FALLBACK_ROLE: optional(text(63)),
    /** Share of the managed users one run may drop unless forced (at least one). */
    PG_DROP_MAX_SHARE: withDefault(between(0, 1), 0.25),
    /** Every run is a dry run. */
    DRY_RUN: withDefault(envBoolean(), false),
    /** Retries of transient failures. */
    MAX_RETRIES: withDefault(integer(0, 20), 5),
    /** First backoff delay; doubles each retry, with jitter. */
    RETRY_MIN_DELAY_MS: withDefault(integer(1, 60_000), 200),
    DB_POOL_MAX_CONN: withDefault(integer(1, 50), 5),
    /** PBKDF2 iterations of new SCRAM verifiers (PostgreSQL's default is 4096). */
    PG_SCRAM_ITERATIONS: withDefault(integer(4096, 1_000_000), 4096),
    /** Statements per round trip when applying. */
    PG_BATCH_SIZE: withDefault(integer(1, 10_000), 1000),
  },
  (v) => {
    let target: URL;
    if (v.PG_URL !== undefined) target = new URL(v.PG_URL);
    else if (v.DB_HOST !== undefined && v.DB_PASS !== undefined) {
      target = new URL('postgresql://localhost');
      target.hostname = v.DB_HOST;
      target.port = String(v.DB_PORT);
      target.username = encodeURIComponent(v.DB_USER);
      target.password = encodeURIComponent(v.DB_PASS);
      target.pathname = `/${encodeURIComponent(v.DB_NAME)}`;
    } else {
      throw new ConfigError([
        {
          variable: v.DB_HOST === undefined ? 'PG_URL' : 'DB_PASS',
          message:
            v.DB_HOST === undefined
              ? 'required (or DB_HOST and DB_PASS): the PostgreSQL server to manage'
              : 'required with DB_HOST',
        },
      ]);
    }
    const defaultDatabase = decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres';
    const targetUrl = target.toString();
    return {
      databaseUrl: v.DATABASE_URL,
      targetUrl,
      /** The same server, another database (REASSIGN/DROP OWNED where a dropped user owns objects). */
      targetDatabaseUrl: (database: string) => {
        const url = new URL(targetUrl);
        url.pathname = `/${encodeURIComponent(database)}`;
        return url.toString();
      },
      defaultDatabase,
      namespace: v.NAMESPACE,
      configMap: v.CONFIGMAP_NAME,
      kubeconfig: kubeconfigSource({ KUBE_CONFIG: v.KUBE_CONFIG, KUBECONFIG: v.KUBECONFIG }),
      scope: v.PG_RECONCILE_SCOPE ?? `${v.NAMESPACE}/${v.CONFIGMAP_NAME}`,
      ...(v.PG_FALLBACK_ROLE === undefined ? {} : { fallbackRole: v.PG_FALLBACK_ROLE }),
      maxDropShare: v.PG_DROP_MAX_SHARE,
      dryRun: v.DRY_RUN,
      retries: v.MAX_RETRIES,
      retryMinDelayMs: v.RETRY_MIN_DELAY_MS,
      poolMax: v.DB_POOL_MAX_CONN,
      scramIterations: v.PG_SCRAM_ITERATIONS,
      batchSize: v.PG_BATCH_SIZE,
    };
  },
);

export type PgReconcileConfig = ReturnType<typeof loadConfig>;
