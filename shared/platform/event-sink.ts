/**
 * Sends CloudEvents (binary mode) to an event sink: a Knative Broker's ingress, or the K_SINK a SinkBinding
 * injects. A function uses it to hand the rest of a long job to a later invocation of itself, through a
 * Trigger. The sink must accept asynchronously (a Broker answers 202 at once): posting to the function's own
 * URL would wait for the follow-up to finish, and that request would be aborted when this one ends.
 */
import { randomUUID } from 'node:crypto';
import { CloudEvent, HTTP } from 'cloudevents';
import { Agent, request, type Dispatcher } from 'undici';
import { unansweredCallError } from '../adapters/network-errors.ts';
import { withRetry } from '../adapters/retry.ts';
import { PlatformError } from './errors.ts';

export interface EventSinkOptions {
  readonly url: string;
  /** The source attribute of sent events, e.g. /tenant-lifecycle/reset. */
  readonly source: string;
  /** Sent as a Bearer token when set (when the sink is the function itself behind its API token). */
  readonly token?: string;
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
    const event = new CloudEvent({
      id,
      type,
      source: this.options.source,
      datacontenttype: 'application/json',
      data,
      ...(subject === undefined ? {} : { subject }),
    });
    const message = HTTP.binary(event);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(message.headers)) headers[name] = String(value);
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    const action = `send ${type} to the event sink`;
    await withRetry(async () => {
      let status: number;
      try {
        const response = await request(this.options.url, {
          method: 'POST',
          dispatcher: this.dispatcher,
          headers,
          body: typeof message.body === 'string' ? message.body : JSON.stringify(message.body),
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
    return id;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/** The sink a function's settings name (`{sink, token}`), or none when no sink URL is configured. */
export function eventSinkFor(
  target: { readonly sink?: string | undefined; readonly token?: string | undefined },
  source: string,
): EventSink | undefined {
  if (target.sink === undefined) return undefined;
  return new EventSink({
    url: target.sink,
    source,
    ...(target.token === undefined ? {} : { token: target.token }),
  });
}
