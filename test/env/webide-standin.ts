/**
 * Stands in for code-server: the webide plan's starter (shared/tenancy/starters.ts) runs it in the tests,
 * through WEBIDE_IMAGE, because Docker Hub is out of reach here (image webide-standin, built by
 * test/env/starter-images.ts; Node.js runs this file as it is, stripping its types). It keeps the part of
 * code-server's contract that the starter relies on:
 * - HTTP on the address of `--bind-addr` (the starter passes 0.0.0.0:8080), `/healthz` answering without a
 *   login (the starter's readiness probe);
 * - `--auth password`: the password comes from the environment variable PASSWORD (the Secret webide-auth);
 *   it refuses to start without one. GET / without a session redirects to ./login; POST /login with the
 *   form field `password` answers 302 to ./ with a session cookie when it is right, 401 when it is wrong;
 *   GET / with the cookie answers 200;
 * - runs as uid 1000 and keeps its state under $HOME, /home/coder (the volume webide-home): it writes a
 *   file there before it listens, and stops if it cannot.
 * Nothing else of code-server (no editor, no terminal).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : (process.argv[at + 1] ?? fallback);
}

const auth = option('--auth', 'password');
const [host = '0.0.0.0', port = '8080'] = option('--bind-addr', '0.0.0.0:8080').split(':');
const password = process.env.PASSWORD ?? '';
if (auth !== 'password' || password === '') {
  console.error('webide stand-in: needs --auth password and a PASSWORD');
  process.exit(1);
}
const home = process.env.HOME ?? '/home/coder';
const state = join(home, '.local', 'share', 'webide-standin');
mkdirSync(state, { recursive: true });
writeFileSync(join(state, 'started'), `${new Date().toISOString()} uid=${String(process.getuid?.())}\n`);

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
const sessions = new Set<string>();

function hasSession(request: IncomingMessage): boolean {
  const cookie = (request.headers.cookie ?? '').split(';').map((c) => c.trim());
  const key = cookie.find((c) => c.startsWith('key='))?.slice(4);
  return key !== undefined && sessions.has(key);
}

createServer((request, response) => {
  const path = new URL(request.url ?? '/', 'http://webide').pathname;
  if (path === '/healthz') {
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"alive"}\n');
    return;
  }
  if (path === '/login' && request.method === 'POST') {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const given = new URLSearchParams(body).get('password') ?? '';
      if (!timingSafeEqual(digest(given), digest(password))) {
        response.writeHead(401, { 'content-type': 'text/plain' }).end('Incorrect password\n');
        return;
      }
      const key = randomBytes(24).toString('hex');
      sessions.add(key);
      response.writeHead(302, { location: './', 'set-cookie': `key=${key}; Path=/; HttpOnly` }).end();
    });
    return;
  }
  if (path === '/' && hasSession(request)) {
    response.writeHead(200, { 'content-type': 'text/plain' }).end(`webide of ${process.env.TENANT ?? ''}\n`);
    return;
  }
  response.writeHead(302, { location: './login' }).end();
}).listen(Number(port), host, () => {
  console.log(`webide stand-in listening on ${host}:${port}, home ${home}`);
});
