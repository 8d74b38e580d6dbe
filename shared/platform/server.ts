/**
 * Serving a function. The handler is registered with the functions framework (so `functions-framework
 * --target=<name>` works too) and served by the framework's Express app, with two things in front of it:
 * - a body guard that reads the body (bounded by MAX_BODY_BYTES) before the framework's parsers, which would
 *   otherwise accept up to 1 GiB and answer malformed JSON with an HTML page (see docs/architecture.md);
 * - graceful shutdown: on SIGTERM (Knative scaling down) stop accepting, let in-flight requests finish within
 *   SHUTDOWN_GRACE_SECONDS, close dependencies, exit 0. The framework alone exits at once.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { readBody } from './body.ts';
import { requestIdOf } from './request-id.ts';
import { ConfigError, type Env, type PlatformConfig } from './config.ts';
import { createHandler, type IdempotencyStore } from './host.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import type { FunctionSpec } from './operation.ts';
import type { DestinationStream } from 'pino';
import type { Registry } from 'prom-client';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.ts';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

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
    readBody(req, maxBodyBytes).then(
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
  /** Builds the operations' dependencies from the config; called once at start-up. */
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
  readonly server: http.Server;
  readonly url: string;
  stop(): Promise<void>;
}

/** Builds the function's server (listening on `port`, or config.port) and returns once it listens. */
export async function startFunction<C extends PlatformConfig>(
  options: ServeOptions<C> & { readonly port?: number; readonly host?: string },
): Promise<RunningFunction> {
  const config = options.loadConfig(options.env ?? process.env);
  const log = createLogger({
    functionName: functionName(options),
    level: config.logLevel,
    ...(options.logDestination === undefined ? {} : { destination: options.logDestination }),
  });
  const lifecycle: FunctionSetup = (await options.setup?.(config, log)) ?? {};
  const spec = lifecycle.spec ?? options.spec;
  if (spec === undefined)
    throw new Error(`${functionName(options)}: no operations (neither spec nor setup gave any)`);
  const shutdown = new AbortController();
  const metrics = createMetrics(spec.name);
  lifecycle.registerMetrics?.(metrics.registry);
  const handler = createHandler(spec, {
    config,
    log,
    metrics,
    shutdown: shutdown.signal,
    ...(lifecycle.ready === undefined ? {} : { ready: lifecycle.ready }),
    ...(lifecycle.idempotency === undefined ? {} : { idempotency: lifecycle.idempotency }),
  });
  functions.http(spec.name, handler);
  const server = http.createServer(bodyGuard(frameworkApp(spec.name), config.maxBodyBytes, log));
  await new Promise<void>((resolve) => server.listen(options.port ?? config.port, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  log.info({ port }, `${spec.name} listening`);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info({ graceMs: config.shutdownGraceMs }, 'shutting down: finishing in-flight requests');
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
        shutdown.abort(new Error('instance shutting down'));
        server.closeAllConnections();
      }, config.shutdownGraceMs);
      await closed;
      clearInterval(sweep);
      clearTimeout(grace);
      await lifecycle.close?.();
      log.info('stopped');
      log.flush();
    })());
  return { server, url: `http://127.0.0.1:${port}`, stop };
}

/** Process entrypoint of a bundled function: start, and stop cleanly on SIGTERM/SIGINT. */
export function serve<C extends PlatformConfig>(options: ServeOptions<C>): void {
  startFunction(options).then(
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
    (error: unknown) => {
      // One JSON line on stderr that names the bad variables; never the values.
      const message = error instanceof ConfigError ? error.message : `start-up failed: ${String(error)}`;
      process.stderr.write(
        `${JSON.stringify({ level: 'fatal', function: functionName(options), msg: message })}\n`,
      );
      process.exit(1);
    },
  );
}
