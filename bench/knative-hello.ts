/**
 * The hello world of bench/knative.ts: a minimal Node.js HTTP server, bundled and put in an image exactly as
 * the functions are (knative/image/build-images.ts with this file as the entry). It answers every request
 * with 200 `hello` (so the functions' readiness path /readyz and liveness path /healthz too), logs one JSON
 * line `hello listening` once it listens (as the functions' server does, for the bench to time), and exits
 * on SIGTERM (which also writes Node.js' compile cache when the image's build warms it).
 */
import { createServer } from 'node:http';

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('hello\n');
});
server.listen(Number(process.env.PORT ?? 8080), () => {
  console.log(JSON.stringify({ level: 'info', time: new Date().toISOString(), msg: 'hello listening' }));
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
