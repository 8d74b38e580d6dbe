/**
 * Serving a function. The handler is registered with the functions framework (so `functions-framework
 * --target=<name>` works too) and served by the framework's Express app, with three things in front of it:
 * - start-up in two steps, so that the process listens, and answers GET /healthz and /_/health (OpenFaaS'
 *   probe), before the heavy modules are loaded: first the configuration (synchronous; a bad setting stops
 *   start-up) and the logger; then, on the first request for anything but those (/readyz, /metrics, an
 *   operation), the function's
 *   `setup` (its adapters, which main.ts imports with a dynamic `import()`) and the host (host.ts: triggers,
 *   auth, metrics), both split into chunks of their own by the bundler. That request and any arriving
 *   meanwhile wait for it. startFunction() runs the second step before returning unless `lazySetup`;
 *   serve() runs it lazily, and exits as a failed start-up when it fails;
 * - a body guard that reads the body (bounded by MAX_BODY_BYTES) before the framework's parsers, which would
 *   otherwise accept up to 1 GiB and answer malformed JSON with an HTML page (see docs/architecture.md);
 * - graceful shutdown: on SIGTERM (Knative scaling down) stop accepting connections (and answer 503 to a
 *   request that still reaches the handler); abort every running operation's ctx.signal at once, so that a
 *   long sweep stops at its next safe point, records its part, sends its continuation and answers; let
 *   in-flight requests finish within SHUTDOWN_GRACE_SECONDS, then close what is still open, close
 *   dependencies, exit 0. The framework alone exits at once. How the grace fits Knative's own shutdown
 *   (queue-proxy drain, terminationGracePeriodSeconds) is in docs/architecture.md, "Shutdown".
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { readBody } from './body.ts';
import { requestIdOf } from './request-id.ts';
import { checkPathEscapes } from './routing.ts';
import { ConfigError, type Env, type PlatformConfig } from './config.ts';
import type { HttpHandler } from './host.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { createLogger, type Logger } from './logger.ts';
import { InvocationStopped, type FunctionSpec } from './operation.ts';
import { PlatformError } from './errors.ts';
import type { DestinationStream } from 'pino';
import type { Registry } from 'prom-client';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.ts';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * node:http as CommonJS: an ES `import` of it builds its ES module facade, which reads every export,
 * WebSocket's among them, and so loads Node's internal undici (about 15 ms at start).
 */
const http = process.getBuiltinModule('node:http');

/** Marks the body as parsed for the framework's body-parser middleware, which then skips the request. */
interface GuardedRequest extends IncomingMessage {
  rawBody?: Buffer;
  body?: unknown;
  _body?: boolean;
}

/** The framework's Express app for a registered function, as a plain request listener. */
function frameworkApp(name: string): Listener {
  const listener = getTestServer(name).listeners('request')[0];
  if (typeof listener !== 'function')
    throw new Error(`functions framework gave no request listener for ${name}`);
  return listener as Listener;
}

export function bodyGuard(app: Listener, maxBodyBytes: number, log: Logger): Listener {
  return (req, res) => {
    const guarded = req as GuardedRequest;
    // Fix the request id here so that the guard's own answers and the handler's logs carry the same one.
    req.headers['x-request-id'] = requestIdOf(req.headers);
    readBody(req, maxBodyBytes)
      .then((raw) => {
        checkPathEscapes((req.url ?? '/').split('?')[0] ?? '/');
        return raw;
      })
      .then(
        (raw) => {
          guarded.rawBody = raw;
          guarded.body = {};
          guarded._body = true;
          app(req, res);
        },
        (error: unknown) => {
          const requestId = req.headers['x-request-id'] as string;
          const problem = toProblem(error, requestId);
          log.warn({ requestId, method: req.method, path: req.url, status: problem.status }, problem.detail);
          res.writeHead(problem.status, {
            'Content-Type': PROBLEM_CONTENT_TYPE,
            'X-Request-ID': requestId,
            Connection: 'close',
          });
          res.end(JSON.stringify(problem));
        },
      );
  };
}

export interface ServeOptions<C extends PlatformConfig> {
  /** The function's name (logs, metrics, FUNCTION_TARGET); defaults to the spec's. */
  readonly name?: string;
  /** The operations, when they do not depend on the configuration; otherwise `setup` returns them. */
  readonly spec?: FunctionSpec;
  readonly loadConfig: (env: Env) => C;
  readonly env?: Env;
  /** Where logs go; defaults to stdout. */
  readonly logDestination?: DestinationStream;
  /**
   * Builds the operations' dependencies from the config; called once, after the server listens (see the
   * top of this file). main.ts imports the module holding it with `import()`, so that its adapters are
   * loaded only then.
   */
  readonly setup?: (config: C, log: Logger) => Promise<FunctionSetup>;
}

export interface FunctionSetup extends FunctionLifecycle {
  /** The operations, built from the configuration. */
  readonly spec?: FunctionSpec;
}

export interface FunctionLifecycle {
  /** Readiness of dependencies, served at /readyz. */
  readonly ready?: () => Promise<void>;
  /** Releases dependencies (pools) after the last request on shutdown. */
  readonly close?: () => Promise<void>;
  /** The platform store, for operations marked idempotent. */
  readonly idempotency?: IdempotencyStore;
  /** Registers the function's own metrics in the registry served at /metrics. */
  readonly registerMetrics?: (registry: Registry) => void;
}

function functionName(options: { readonly name?: string; readonly spec?: FunctionSpec }): string {
  return options.name ?? options.spec?.name ?? 'function';
}

export interface RunningFunction {
  readonly server: Server;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * The liveness paths, answered without setup (readiness is /readyz): /healthz, and /_/health, the path
 * OpenFaaS Community Edition probes on port 8080 for both readiness and liveness of a function container
 * (openfaas/faas-netes 0.18.17 pkg/k8s/probes.go MakeProbes; the port is RuntimeHTTPPort, 8080 in main.go),
 * where the of-watchdog, which this image does not use, would otherwise answer it.
 */
export const LIVENESS_PATHS: readonly string[] = ['/healthz', '/_/health'];

/** GET on a liveness path: the process serves. */
function isHealthz(req: { readonly method: string; readonly path: string }): boolean {
  return req.method === 'GET' && LIVENESS_PATHS.includes(req.path);
}

/**
 * Builds the function's server (listening on `port`, or config.port) and returns once it listens and, unless
 * `lazySetup`, once setup has run.
 */
export async function startFunction<C extends PlatformConfig>(
  options: ServeOptions<C> & {
    readonly port?: number;
    readonly host?: string;
    /** Run setup on the first request that needs it rather than before returning (serve() does). */
    readonly lazySetup?: boolean;
    /** Called when setup fails (the requests waiting for it get a 500 problem). */
    readonly onSetupError?: (error: unknown) => void;
  },
): Promise<RunningFunction> {
  const config = options.loadConfig(options.env ?? process.env);
  const name = functionName(options);
  const log = createLogger({
    functionName: name,
    level: config.logLevel,
    ...(options.logDestination === undefined ? {} : { destination: options.logDestination }),
  });
  const shutdown = new AbortController();
  let lifecycle: FunctionSetup = {};

  /** The second step of start-up: setup, then the host over its operations. */
  const setUp = async (): Promise<HttpHandler> => {
    const [{ createHandler }, { createMetrics }, set] = await Promise.all([
      import('./host.ts'),
      import('./metrics.ts'),
      options.setup?.(config, log),
    ]);
    lifecycle = set ?? {};
    const spec = lifecycle.spec ?? options.spec;
    if (spec === undefined) throw new Error(`${name}: no operations (neither spec nor setup gave any)`);
    const metrics = createMetrics(spec.name);
    lifecycle.registerMetrics?.(metrics.registry);
    return createHandler(spec, {
      config,
      log,
      metrics,
      shutdown: shutdown.signal,
      ...(lifecycle.ready === undefined ? {} : { ready: lifecycle.ready }),
      ...(lifecycle.idempotency === undefined ? {} : { idempotency: lifecycle.idempotency }),
    });
  };
  let settingUp: Promise<HttpHandler> | undefined;
  const handler = (): Promise<HttpHandler> =>
    (settingUp ??= setUp().catch((error: unknown) => {
      options.onSetupError?.(error);
      throw error;
    }));

  functions.http(name, async (req, res) => {
    if (isHealthz(req)) {
      res.setHeader('X-Request-ID', requestIdOf(req.headers));
      res.status(200).json({ status: 'ok' });
      return;
    }
    if (shutdown.signal.aborted) {
      // A request that still reaches the handler after SIGTERM (Node closes kept-alive connections after
      // their answer once the server closes, so this is a race): the instance takes no new work.
      const requestId = requestIdOf(req.headers);
      res.setHeader('X-Request-ID', requestId);
      res.setHeader('Retry-After', '1');
      res.setHeader('Connection', 'close');
      res
        .status(503)
        .type(PROBLEM_CONTENT_TYPE)
        .send(
          JSON.stringify(
            toProblem(
              new PlatformError({ reason: 'unavailable', message: `${name} is shutting down; retry` }),
              requestId,
            ),
          ),
        );
      return;
    }
    let host: HttpHandler;
    try {
      host = await handler();
    } catch (error) {
      const requestId = requestIdOf(req.headers);
      res.setHeader('X-Request-ID', requestId);
      res
        .status(500)
        .type(PROBLEM_CONTENT_TYPE)
        .send(JSON.stringify(toProblem(error, requestId)));
      return;
    }
    await host(req, res);
  });
  const server = http.createServer(bodyGuard(frameworkApp(name), config.maxBodyBytes, log));
  await new Promise<void>((resolve) => server.listen(options.port ?? config.port, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  log.info({ port }, `${name} listening`);
  if (options.lazySetup !== true) {
    try {
      await handler();
    } catch (error) {
      await new Promise((resolve) => server.close(resolve));
      throw error;
    }
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info({ graceMs: config.shutdownGraceMs }, 'shutting down: finishing in-flight requests');
      // Running operations learn it now, not at the end of the grace: a sweep stops at its next safe point
      // and still has the grace to record its part, send its continuation and answer.
      shutdown.abort(new InvocationStopped('shutdown'));
      const closed = new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
      // Keep-alive connections become idle as their last response ends; close them as they do.
      const sweep = setInterval(() => {
        server.closeIdleConnections();
      }, 50);
      const grace = setTimeout(() => {
        log.warn('shutdown grace over: closing the connections still open');
        server.closeAllConnections();
      }, config.shutdownGraceMs);
      await closed;
      clearInterval(sweep);
      clearTimeout(grace);
      // A setup still running finishes first, so that what it opened is closed too.
      await settingUp?.catch(() => undefined);
      await lifecycle.close?.();
      log.info('stopped');
      log.flush();
    })());
  return { server, url: `http://127.0.0.1:${port}`, stop };
}

function exitAsFailedStart(name: string, error: unknown): never {
  // One JSON line on stderr that names the bad variables; never the values.
  const message = error instanceof ConfigError ? error.message : `start-up failed: ${String(error)}`;
  process.stderr.write(`${JSON.stringify({ level: 'fatal', function: name, msg: message })}\n`);
  process.exit(1);
}

/** Process entrypoint of a bundled function: start, and stop cleanly on SIGTERM/SIGINT. */
export function serve<C extends PlatformConfig>(options: ServeOptions<C>): void {
  const name = functionName(options);
  startFunction({
    ...options,
    lazySetup: true,
    onSetupError: (error) => exitAsFailedStart(name, error),
  }).then(
    (running) => {
      const onSignal = (): void => {
        running.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    },
    (error: unknown) => exitAsFailedStart(name, error),
  );
}
