/**
 * KeycloakDirectory sends at most `maxConcurrentCalls` admin API calls at once: an instance running many
 * operations must not hand Keycloak all of them at the same moment (each password set is a slow hash).
 * A stand-in Keycloak on loopback counts the admin requests in flight and answers each only after the
 * test lets it, so the count is read while calls are held, not guessed from timing.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeycloakDirectory } from '../../../../shared/adapters/keycloak/directory.ts';

let inFlight = 0;
let mostInFlight = 0;
const held: ServerResponse[] = [];
let onHeld: (() => void) | undefined;

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  req.resume();
  if (req.url?.includes('/protocol/openid-connect/token')) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ access_token: 'token', expires_in: 300 }));
    return;
  }
  inFlight++;
  mostInFlight = Math.max(mostInFlight, inFlight);
  res.on('finish', () => {
    inFlight--;
  });
  held.push(res);
  onHeld?.();
});

let baseUrl: string;
beforeAll(async () => {
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
});

/** Resolves once `count` requests are being held by the stand-in. */
function heldCount(count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (held.length >= count) resolve();
    };
    onHeld = check;
    check();
  });
}

function answerHeld(): void {
  for (const res of held.splice(0)) {
    res.setHeader('content-type', 'application/json');
    res.end('[]');
  }
}

describe('KeycloakDirectory', () => {
  it('keeps at most maxConcurrentCalls admin calls in flight, and every call still completes', async () => {
    const directory = new KeycloakDirectory({
      baseUrl,
      realm: 'tenants',
      credentials: { grant: 'client_credentials', clientId: 'fn', clientSecret: 'secret' },
      maxConcurrentCalls: 3,
    });
    const calls = Array.from({ length: 12 }, (_, i) => directory.findUserByUsername(`user-${i}`));
    let answered = 0;
    while (answered < 12) {
      const batch = Math.min(3, 12 - answered);
      await heldCount(batch);
      await sleep(100); // gives calls over the limit, if any were sent, the time to arrive
      // Held at the server: exactly the limit, the rest wait in the instance.
      expect(held).toHaveLength(batch);
      expect(inFlight).toBe(batch);
      answered += held.length;
      answerHeld();
    }
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 12 }, () => undefined));
    expect(mostInFlight).toBe(3);
  });
});
