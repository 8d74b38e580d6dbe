/**
 * Sends CloudEvents (binary mode) to an event sink: a Knative Broker's ingress, or the K_SINK a SinkBinding
 * injects. A function uses it to hand the rest of a long job to a later invocation of itself, through a
 * Trigger. The sink must accept asynchronously (a Broker answers 202 at once): posting to the function's own
 * URL would wait for the follow-up to finish, and that request would be aborted when this one ends.
 *
 * Under Knative's `authentication-oidc` a Broker's ingress accepts only events bearing a service-account
 * token with its audience (`eventing.knative.dev/broker/<namespace>/<name>`): the function sends its own,
 * from a projected token file (EVENT_SINK_TOKEN_FILE), read again at every send since the kubelet rotates it.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CloudEvent, HTTP } from 'cloudevents';
import { Agent, request, type Dispatcher } from 'undici';
import { unansweredCallError } from './network-errors.ts';
import { withRetry } from './retry.ts';
import { PlatformError } from './errors.ts';

export interface EventSinkOptions {
  readonly url: string;
  /** The source attribute of sent events, e.g. /tenant-lifecycle/reset. */
  readonly source: string;
  /** Sent as a Bearer token when set (when the sink is the function itself behind its API token). */
  readonly token?: string;
  /** A file holding the Bearer token (a projected service-account token), when `token` is unset. */
  readonly tokenFile?: string;
  /** Connect, headers and body timeout of one POST (EVENT_SINK_TIMEOUT_SECONDS); default 10 s. */
  readonly timeoutMs?: number;
}

export class EventSink {
  private readonly options: EventSinkOptions;
  private readonly dispatcher: Dispatcher;

  constructor(options: EventSinkOptions) {
    this.options = options;
    const timeout = options.timeoutMs ?? 10_000;
    this.dispatcher = new Agent({ connectTimeout: timeout, headersTimeout: timeout, bodyTimeout: timeout });
  }

  /** Sends one event and answers its id; retried on 429, 5xx and network failures (sinks dedupe by id). */
  async send(type: string, data: Readonly<Record<string, unknown>>, subject?: string): Promise<string> {
    const id = randomUUID();
    await this.deliver(
      new CloudEvent({
        id,
        type,
        source: this.options.source,
        datacontenttype: 'application/json',
        data,
        ...(subject === undefined ? {} : { subject }),
      }),
    );
    return id;
  }

  /**
   * Sends `event` as it is (its own id and source: the dead-letter sink's replay of an undelivered event);
   * retried like `send`.
   */
  async deliver(event: CloudEvent<unknown>): Promise<void> {
    const { type } = event;
    const message = HTTP.binary(event);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(message.headers)) headers[name] = String(value);
    const token = this.options.token ?? (await this.tokenFromFile());
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const action = `send ${type} to the event sink`;
    await withRetry(async () => {
      let status: number;
      try {
        const response = await request(this.options.url, {
          method: 'POST',
          dispatcher: this.dispatcher,
          headers,
          body:
            typeof message.body === 'string' || message.body instanceof Uint8Array
              ? message.body
              : JSON.stringify(message.body),
        });
        status = response.statusCode;
        await response.body.dump();
      } catch (error) {
        throw unansweredCallError(error, 'event-sink', action);
      }
      if (status >= 300) {
        throw new PlatformError({
          reason: status === 429 ? 'rate_limited' : status >= 500 ? 'unavailable' : 'upstream',
          message: `event sink: ${action}: HTTP ${status}`,
          upstream: 'event-sink',
          ...(status === 429 || status >= 500 ? {} : { retryable: false }),
        });
      }
    });
  }

  private async tokenFromFile(): Promise<string | undefined> {
    const file = this.options.tokenFile;
    if (file === undefined) return undefined;
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch (error) {
      throw new PlatformError({
        reason: 'unavailable',
        message: `event sink: cannot read the token file EVENT_SINK_TOKEN_FILE (${file})`,
        upstream: 'event-sink',
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/**
 * The sink a function's settings name (`{sink, token}`), or none when no sink URL is configured; without a
 * token, the platform's EVENT_SINK_TOKEN_FILE (`tokenFile`) is sent when set.
 */
export function eventSinkFor(
  target: {
    readonly sink?: string | undefined;
    readonly token?: string | undefined;
    readonly tokenFile?: string | undefined;
  },
  source: string,
  timeoutMs?: number,
): EventSink | undefined {
  if (target.sink === undefined) return undefined;
  return new EventSink({
    url: target.sink,
    source,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(target.token === undefined ? {} : { token: target.token }),
    ...(target.tokenFile === undefined ? {} : { tokenFile: target.tokenFile }),
  });
}
