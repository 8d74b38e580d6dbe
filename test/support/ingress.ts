/**
 * A request through the Knative ingress: Traefik routes by Host, which fetch may not set, so this speaks
 * node:http. The body is read whole; a request without an answer within `timeoutMs` fails naming the Host.
 * A body goes with its Content-Length: node:http sends a DELETE's body with neither that nor chunked
 * encoding, so the server would not read it.
 */
import { request } from 'node:http';

export interface IngressAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

export function ingressRequest(
  ingressUrl: string,
  host: string,
  options: {
    readonly method?: string;
    readonly path?: string;
    readonly headers?: Readonly<Record<string, string>>;
    readonly body?: string;
    readonly timeoutMs?: number;
  } = {},
): Promise<IngressAnswer> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const req = request(
      `${ingressUrl}${options.path ?? '/'}`,
      {
        method: options.method ?? 'GET',
        // Framed by Content-Length whatever the method (Node would not send one for a DELETE's body).
        headers: {
          ...options.headers,
          host,
          ...(options.body === undefined
            ? {}
            : { 'content-length': String(Buffer.byteLength(options.body)) }),
        },
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${host} within ${String(timeoutMs)} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
