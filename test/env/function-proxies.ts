/**
 * One loopback port per function, forwarding to the Knative ingress with the function's Host: what makes a
 * Knative Service reachable at a plain `http://127.0.0.1:<port>` URL, as `make dev` serves the functions, so
 * that scripts written against `make dev` run unchanged against `make cluster`. Requests and answers
 * stream through as they are (method, path, headers but Host, body, status); a failure to reach the
 * ingress answers 502 naming it.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FunctionProxies {
  /** function -> http://127.0.0.1:<port> */
  readonly urls: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

function proxyTo(ingressUrl: string, host: string): Server {
  const ingress = new URL(ingressUrl);
  return createServer((incoming, outgoing) => {
    const upstream = request(
      {
        hostname: ingress.hostname,
        port: ingress.port === '' ? 80 : Number(ingress.port),
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host },
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', (error) => {
      if (outgoing.headersSent) {
        outgoing.destroy(error);
        return;
      }
      outgoing.writeHead(502, { 'content-type': 'text/plain' });
      outgoing.end(`the Knative ingress ${ingressUrl} did not answer for ${host}: ${error.message}\n`);
    });
    incoming.pipe(upstream);
  });
}

export async function startFunctionProxies(
  ingressUrl: string,
  hosts: Readonly<Record<string, string>>,
): Promise<FunctionProxies> {
  const servers: Server[] = [];
  const urls: Record<string, string> = {};
  for (const [fn, host] of Object.entries(hosts)) {
    const server = proxyTo(ingressUrl, host);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    servers.push(server);
    urls[fn] = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  }
  return {
    urls,
    stop: async () => {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => {
                resolve();
              });
            }),
        ),
      );
    },
  };
}
