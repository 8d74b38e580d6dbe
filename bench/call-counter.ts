/**
 * Counts the HTTP requests this process sends, per server, through Node's diagnostics channels: undici's
 * (the Kubernetes client, the Keycloak admin client through global fetch, the Grafana adapter) and
 * node:http's (RawKubernetes), so every API call a function makes is seen, including retries, token
 * fetches and the last empty page.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';

export interface CallCounter {
  /** Requests per origin (scheme://host:port) since the last reset. */
  readonly byOrigin: Map<string, number>;
  total(origins?: readonly string[]): number;
  reset(): void;
  stop(): void;
}

export function countCalls(): CallCounter {
  const byOrigin = new Map<string, number>();
  const onCreate = (message: unknown): void => {
    const origin = (message as { request?: { origin?: string } }).request?.origin ?? 'unknown';
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + 1);
  };
  const onHttpStart = (message: unknown): void => {
    const request = (
      message as { request?: { protocol?: string; getHeader?: (name: string) => string | undefined } }
    ).request;
    const origin = `${request?.protocol ?? 'http:'}//${request?.getHeader?.('host') ?? 'unknown'}`;
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + 1);
  };
  subscribe('undici:request:create', onCreate);
  subscribe('http.client.request.start', onHttpStart);
  return {
    byOrigin,
    total: (origins) =>
      [...byOrigin]
        .filter(([o]) => origins === undefined || origins.includes(o))
        .reduce((n, [, c]) => n + c, 0),
    reset: () => {
      byOrigin.clear();
    },
    stop: () => {
      unsubscribe('undici:request:create', onCreate);
      unsubscribe('http.client.request.start', onHttpStart);
    },
  };
}
