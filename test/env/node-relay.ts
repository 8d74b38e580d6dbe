/**
 * Makes a loopback server reachable from pods: a TCP relay listens on the pod bridge's host address with
 * the server's own port and forwards each connection to 127.0.0.1 on that port. The servers keep listening
 * on loopback only (nothing reaches them from outside the machine), and pods reach
 * `<host address>:<port>` (the apiserver also through the `kubernetes` Service, whose endpoint is that
 * address). Only these ports are opened to pods (allowPodsToHostPort).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { allowPodsToHostPort } from './node-host.ts';

export interface Relay {
  readonly port: number;
  close(): Promise<void>;
}

export async function startRelay(hostAddress: string, port: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostAddress, resolve);
  });
  await allowPodsToHostPort(port);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
