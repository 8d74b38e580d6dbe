/**
 * One function instance of `bench/load.ts`, in its own process (as a Knative instance is its own pod), run
 * from a given checkout: the bench compares the code of two commits on the same servers, so the function,
 * its configuration and the test wiring that sets its environment are imported from that checkout's root
 * (`functions/`, `shared/`, `test/support/tenant-functions.ts`), never from this one. Started by
 * `child_process.fork`; it talks with the bench over the IPC channel:
 *
 * - `{ kind: 'env', root, testEnv, databaseUrl, functions }`: answers `{ kind: 'env', envs }`, the environment
 *   of each named function as the checkout's `tenantFunctionEnv` makes it (one Keycloak client each, which
 *   every instance of that function then shares, as the instances of one Knative Service do), and exits.
 * - `{ kind: 'serve', root, name, functionEnv }`: starts the function on a free loopback port and answers
 *   `{ kind: 'ready', url }`; then `{ kind: 'profile' }` answers `{ kind: 'profile', profile }` (what the
 *   instance spent its time on since the last one) and `{ kind: 'stop' }` stops it and exits.
 *
 * The profile: every outbound HTTP request (undici's and node:http's diagnostics channels: the Kubernetes
 * client, the Keycloak admin client, the Grafana adapter) by origin, with its latency and the most in
 * flight at once; pg pool waits (`Pool.connect`, until a connection is handed out), new connections
 * (`Client.connect`), the pool's peak size and queue, and pg statements by kind (lock, audit write, other)
 * with their latency; the process's CPU time and event loop delay.
 */
import { subscribe } from 'node:diagnostics_channel';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import type { PlatformConfig } from '../shared/platform/config.ts';
import type { Logger } from '../shared/platform/logger.ts';
import type { FunctionSetup, RunningFunction, startFunction } from '../shared/platform/server.ts';
import type { TestEnv } from '../test/env/provided.ts';
import type { tenantFunctionEnv } from '../test/support/tenant-functions.ts';

export type BenchFunction = 'provision' | 'deprovision' | 'sync';

export type InstanceRequest =
  | {
      readonly kind: 'env';
      readonly root: string;
      readonly testEnv: TestEnv;
      readonly databaseUrl: string;
      readonly functions: readonly BenchFunction[];
    }
  | {
      readonly kind: 'serve';
      readonly root: string;
      readonly name: BenchFunction;
      readonly functionEnv: Record<string, string>;
    }
  | { readonly kind: 'profile' }
  | { readonly kind: 'stop' };

/** Latencies (ms) of one kind of call, with the most of them in flight at once. */
export interface CallTimes {
  readonly count: number;
  readonly errors: number;
  readonly latenciesMs: readonly number[];
  readonly maxInFlight: number;
}

export interface InstanceProfile {
  /** Outbound HTTP requests by origin (scheme://host:port). */
  readonly http: Readonly<Record<string, CallTimes>>;
  /** Outbound HTTP requests by "origin method path-template". */
  readonly httpCalls: Readonly<Record<string, CallTimes>>;
  /** Waits for a pool connection (pg's Pool.connect, also inside Pool.query). */
  readonly poolWaits: CallTimes;
  /** New pool connections: TCP, startup and SCRAM authentication. */
  readonly connectionOpens: CallTimes;
  /** The most connections open, and callers queued, seen when a connection was asked for. */
  readonly poolPeak: { readonly total: number; readonly waiting: number };
  /** pg statements by kind: 'lock' (lease or advisory lock statements), 'audit', 'other'. */
  readonly statements: Readonly<Record<string, CallTimes>>;
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly eventLoopDelayP99Ms: number;
}

export type InstanceAnswer =
  | { readonly kind: 'env'; readonly envs: Record<string, Record<string, string>> }
  | { readonly kind: 'ready'; readonly url: string }
  | { readonly kind: 'profile'; readonly profile: InstanceProfile }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'failed'; readonly message: string };

/** Ends one timed call; `failed` counts it as an error. */
type End = (failed?: boolean) => void;

class Recorder {
  private count = 0;
  private errors = 0;
  private latencies: number[] = [];
  private inFlight = 0;
  private maxInFlight = 0;

  start(): End {
    const startedAt = performance.now();
    this.count++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let ended = false;
    return (failed = false) => {
      if (ended) return;
      ended = true;
      this.inFlight--;
      if (failed) this.errors++;
      this.latencies.push(performance.now() - startedAt);
    };
  }

  take(): CallTimes {
    const times = {
      count: this.count,
      errors: this.errors,
      latenciesMs: this.latencies,
      maxInFlight: this.maxInFlight,
    };
    this.count = 0;
    this.errors = 0;
    this.latencies = [];
    this.maxInFlight = this.inFlight;
    return times;
  }
}

/** A request path with its names and ids replaced, so that calls of one kind add up: "/users/{id}". */
function pathTemplate(path: string): string {
  return (path.split('?')[0] ?? '')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '{id}')
    .replace(/(tenant-)?load-[a-z0-9-]+/g, '{tenant}')
    .replace(/\/\d+(?=\/|$)/g, '/{n}');
}

/**
 * Outbound HTTP: undici (global fetch and npm undici share the channel names) and node:http, by origin and
 * by "origin method path-template".
 */
function watchHttp(): { byOrigin: Map<string, Recorder>; byCall: Map<string, Recorder> } {
  const byOrigin = new Map<string, Recorder>();
  const byCall = new Map<string, Recorder>();
  const recorder = (map: Map<string, Recorder>, key: string): Recorder => {
    let found = map.get(key);
    if (found === undefined) map.set(key, (found = new Recorder()));
    return found;
  };
  const start = (origin: string, method: string, path: string): End => {
    const ends = [
      recorder(byOrigin, origin).start(),
      recorder(byCall, `${origin} ${method} ${pathTemplate(path)}`).start(),
    ];
    return (failed) => {
      for (const end of ends) end(failed);
    };
  };
  const pending = new WeakMap<object, End>();
  const finish = (message: unknown, failed: boolean): void => {
    const request = (message as { request: object }).request;
    pending.get(request)?.(failed);
    pending.delete(request);
  };
  subscribe('undici:request:create', (message) => {
    const request = (message as { request: { origin?: string; method?: string; path?: string } }).request;
    pending.set(request, start(request.origin ?? 'unknown', request.method ?? '?', request.path ?? ''));
  });
  subscribe('undici:request:headers', (message) => {
    finish(message, false);
  });
  subscribe('undici:request:error', (message) => {
    finish(message, true);
  });
  subscribe('http.client.request.start', (message) => {
    const request = (
      message as {
        request: { protocol?: string; method?: string; path?: string; getHeader(name: string): unknown };
      }
    ).request;
    const host = request.getHeader('host');
    const origin = `${request.protocol ?? 'http:'}//${typeof host === 'string' ? host : 'unknown'}`;
    pending.set(request, start(origin, request.method ?? '?', request.path ?? ''));
  });
  subscribe('http.client.response.finish', (message) => {
    finish(message, false);
  });
  subscribe('http.client.request.error', (message) => {
    finish(message, true);
  });
  return { byOrigin, byCall };
}

function statementKind(text: unknown): string {
  if (typeof text !== 'string') return 'other';
  if (/lock_leases|pg_advisory/.test(text)) return 'lock';
  if (/audit_log/.test(text) && /^\s*INSERT/i.test(text)) return 'audit';
  return 'other';
}

type Callback = (...args: unknown[]) => void;

/**
 * Times pool waits and statements by wrapping pg's Pool.connect and Client.query. Every checkout resolves
 * `pg` to the same module (node_modules is the same directory), so the wrapper sees the function's calls.
 */
interface PoolPeak {
  /** The most connections the pool had open (in use or idle) when a connection was asked for. */
  total: number;
  /** The most callers already queued for a connection when one more asked. */
  waiting: number;
}

function watchPostgres(): {
  poolWaits: Recorder;
  connectionOpens: Recorder;
  poolPeak: PoolPeak;
  statements: Map<string, Recorder>;
} {
  const poolWaits = new Recorder();
  const connectionOpens = new Recorder();
  const poolPeak: PoolPeak = { total: 0, waiting: 0 };
  const statements = new Map<string, Recorder>();
  const connect = Reflect.get(pg.Pool.prototype, 'connect') as (
    this: pg.Pool,
    callback?: Callback,
  ) => unknown;
  pg.Pool.prototype.connect = function timedConnect(this: pg.Pool, callback?: Callback) {
    poolPeak.total = Math.max(poolPeak.total, this.totalCount);
    poolPeak.waiting = Math.max(poolPeak.waiting, this.waitingCount);
    const end = poolWaits.start();
    if (typeof callback === 'function')
      return connect.call(this, (error: unknown, ...rest: unknown[]) => {
        end(error !== undefined && error !== null);
        callback(error, ...rest);
      });
    return (connect.call(this) as Promise<pg.PoolClient>).then(
      (client) => {
        end();
        return client;
      },
      (error: unknown) => {
        end(true);
        throw error;
      },
    );
  } as typeof pg.Pool.prototype.connect;
  // A new connection: TCP, startup, SCRAM authentication (pg-pool opens them with a callback).
  const open = Reflect.get(pg.Client.prototype, 'connect') as (
    this: pg.Client,
    callback?: Callback,
  ) => unknown;
  pg.Client.prototype.connect = function timedOpen(this: pg.Client, callback?: Callback) {
    const end = connectionOpens.start();
    if (typeof callback === 'function')
      return open.call(this, (error: unknown, ...rest: unknown[]) => {
        end(error !== undefined && error !== null);
        callback(error, ...rest);
      });
    return (open.call(this) as Promise<void>).then(
      () => {
        end();
      },
      (error: unknown) => {
        end(true);
        throw error;
      },
    );
  } as typeof pg.Client.prototype.connect;
  const query = Reflect.get(pg.Client.prototype, 'query') as (this: pg.Client, ...args: unknown[]) => unknown;
  pg.Client.prototype.query = function timedQuery(this: pg.Client, ...args: unknown[]) {
    const first = args[0];
    if (typeof first === 'object' && first !== null && 'submit' in first) return query.apply(this, args);
    const text = typeof first === 'object' && first !== null ? (first as { text?: unknown }).text : first;
    const kind = statementKind(text);
    let recorder = statements.get(kind);
    if (recorder === undefined) statements.set(kind, (recorder = new Recorder()));
    const end = recorder.start();
    const last = args.at(-1);
    if (typeof last === 'function') {
      const callback = last as Callback;
      args[args.length - 1] = (error: unknown, ...rest: unknown[]) => {
        end(error !== undefined && error !== null);
        callback(error, ...rest);
      };
      return query.apply(this, args);
    }
    const answer = query.apply(this, args);
    if (answer instanceof Promise)
      answer.then(
        () => {
          end();
        },
        () => {
          end(true);
        },
      );
    return answer;
  } as typeof pg.Client.prototype.query;
  return { poolWaits, connectionOpens, poolPeak, statements };
}

const send = (answer: InstanceAnswer): Promise<void> =>
  new Promise((resolve) => {
    process.send?.(answer, undefined, {}, () => {
      resolve();
    });
  });

const importFrom = async <M>(root: string, path: string): Promise<M> =>
  (await import(pathToFileURL(`${root}/${path}`).href)) as M;

interface FunctionModules {
  readonly loadConfig: (env: Readonly<Record<string, string | undefined>>) => PlatformConfig;
  readonly setup: (config: PlatformConfig, log: Logger) => FunctionSetup;
}

async function functionModules(root: string, name: BenchFunction): Promise<FunctionModules> {
  const { loadConfig } = await importFrom<{ loadConfig: FunctionModules['loadConfig'] }>(
    root,
    `functions/${name}/config.ts`,
  );
  const index = await importFrom<Record<string, unknown>>(root, `functions/${name}/index.ts`);
  const setup = index[`${name}Setup`];
  if (typeof setup !== 'function') throw new Error(`${root}: functions/${name}/index.ts has no ${name}Setup`);
  return { loadConfig, setup: setup as FunctionModules['setup'] };
}

async function environments(request: Extract<InstanceRequest, { kind: 'env' }>): Promise<void> {
  const support = await importFrom<{ tenantFunctionEnv: typeof tenantFunctionEnv }>(
    request.root,
    'test/support/tenant-functions.ts',
  );
  const envs: Record<string, Record<string, string>> = {};
  for (const name of request.functions)
    envs[name] = await support.tenantFunctionEnv(request.testEnv, request.databaseUrl);
  await send({ kind: 'env', envs });
  process.disconnect();
}

async function serveInstance(request: Extract<InstanceRequest, { kind: 'serve' }>): Promise<void> {
  const { byOrigin, byCall } = watchHttp();
  const { poolWaits, connectionOpens, poolPeak, statements } = watchPostgres();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let cpu = process.cpuUsage();
  let since = performance.now();

  const { loadConfig, setup } = await functionModules(request.root, request.name);
  const server = await importFrom<{ startFunction: typeof startFunction }>(
    request.root,
    'shared/platform/server.ts',
  );
  const running: RunningFunction = await server.startFunction({
    name: request.name,
    loadConfig,
    env: request.functionEnv,
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(setup(config, log)),
  });

  process.on('message', (message: InstanceRequest) => {
    if (message.kind === 'profile') {
      const used = process.cpuUsage(cpu);
      const now = performance.now();
      const profile: InstanceProfile = {
        http: Object.fromEntries([...byOrigin].map(([origin, recorder]) => [origin, recorder.take()])),
        httpCalls: Object.fromEntries([...byCall].map(([call, recorder]) => [call, recorder.take()])),
        poolWaits: poolWaits.take(),
        connectionOpens: connectionOpens.take(),
        poolPeak: { ...poolPeak },
        statements: Object.fromEntries([...statements].map(([kind, recorder]) => [kind, recorder.take()])),
        cpuMs: (used.user + used.system) / 1000,
        wallMs: now - since,
        eventLoopDelayP99Ms: loop.percentile(99) / 1e6,
      };
      cpu = process.cpuUsage();
      poolPeak.total = 0;
      poolPeak.waiting = 0;
      since = now;
      loop.reset();
      void send({ kind: 'profile', profile });
    } else if (message.kind === 'stop') {
      void running
        .stop()
        .then(() => send({ kind: 'stopped' }))
        .finally(() => {
          process.disconnect();
        });
    }
  });
  await send({ kind: 'ready', url: running.url });
}

process.once('message', (request: InstanceRequest) => {
  const started =
    request.kind === 'env'
      ? environments(request)
      : request.kind === 'serve'
        ? serveInstance(request)
        : Promise.reject(new Error(`unexpected first message ${request.kind}`));
  started.catch(async (error: unknown) => {
    await send({
      kind: 'failed',
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    process.exit(1);
  });
});
