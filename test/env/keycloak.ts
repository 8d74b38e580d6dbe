/**
 * Keycloak from Maven Central (org.keycloak:keycloak-quarkus-dist), run with a JDK of the machine in
 * `start-dev` mode on loopback with the in-memory dev database and a bootstrap admin. The distribution is
 * downloaded once, checked against Maven Central's SHA-1, and cached under $TL_CACHE_DIR/keycloak/.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { ServingCertificate } from './certificates.ts';
import { freePort } from './ports.ts';
import { run, startProcess, type ServerProcess } from './process.ts';

export const KEYCLOAK_VERSION = '26.7.3';
const MAVEN = 'https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist';

export interface KeycloakServer {
  readonly url: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly process: ServerProcess;
}

function cacheDir(): string {
  return process.env.TL_CACHE_DIR ?? fileURLToPath(new URL('../../.cache', import.meta.url));
}

/** The unpacked distribution, downloading and verifying it on first use. */
export async function keycloakHome(version = KEYCLOAK_VERSION): Promise<string> {
  const root = join(cacheDir(), 'keycloak');
  const home = join(root, `keycloak-${version}`);
  if (existsSync(join(home, '.complete'))) return home;
  await mkdir(root, { recursive: true });
  const archive = join(root, `keycloak-${version}.tar.gz`);
  const url = `${MAVEN}/${version}/keycloak-quarkus-dist-${version}.tar.gz`;
  const expected = (await (await fetch(`${url}.sha1`)).text()).trim().split(/\s+/)[0];
  const response = await fetch(url);
  if (!response.ok || response.body === null) throw new Error(`downloading ${url}: HTTP ${response.status}`);
  const sha1 = createHash('sha1');
  const body = Readable.fromWeb(response.body);
  body.on('data', (chunk: Buffer) => sha1.update(chunk));
  await pipeline(body, createWriteStream(`${archive}.part`));
  const actual = sha1.digest('hex');
  if (actual !== expected) throw new Error(`checksum mismatch for ${url}: ${actual} != ${expected ?? '?'}`);
  await rename(`${archive}.part`, archive);
  const staging = join(root, `.staging-${randomBytes(4).toString('hex')}`);
  await mkdir(staging);
  await run('tar', ['-xzf', archive, '-C', staging]);
  await rm(home, { recursive: true, force: true });
  await rename(join(staging, `keycloak-${version}`), home);
  await rm(staging, { recursive: true, force: true });
  await rm(archive);
  await run('touch', [join(home, '.complete')]);
  return home;
}

/** TL_JAVA_HOME, else the newest supported JDK under /usr/lib/jvm (25, 21, then 17, which 26.x deprecates). */
export function javaHome(): string {
  if (process.env.TL_JAVA_HOME) return process.env.TL_JAVA_HOME;
  const jvm = '/usr/lib/jvm';
  const all = existsSync(jvm) ? readdirSync(jvm).filter((d) => existsSync(join(jvm, d, 'bin', 'java'))) : [];
  for (const major of ['25', '21', '17']) {
    const found = all.find((d) => new RegExp(`(^|-)${major}([-.]|$)`).test(d));
    if (found !== undefined) return join(jvm, found);
  }
  throw new Error('no JDK 17, 21 or 25 found under /usr/lib/jvm: install one or set TL_JAVA_HOME');
}

export interface KeycloakListeners {
  readonly httpPort: number;
  /** HTTPS with a certificate of the environment's CA: the apiserver reaches the OIDC issuer here. */
  readonly httpsPort: number;
  readonly tls: ServingCertificate;
}

/** Ports chosen before start, so the apiserver can be told the issuer URL while Keycloak still starts. */
export async function keycloakListeners(tls: ServingCertificate): Promise<KeycloakListeners> {
  const [httpPort, httpsPort] = await Promise.all([freePort(), freePort()]);
  return { httpPort, httpsPort, tls };
}

export function keycloakIssuerBase(listeners: KeycloakListeners): string {
  return `https://127.0.0.1:${listeners.httpsPort}`;
}

export async function startKeycloak(options: {
  readonly workDir: string;
  readonly logDir: string;
  readonly listeners: KeycloakListeners;
}): Promise<KeycloakServer> {
  const home = await keycloakHome();
  const { httpPort, httpsPort, tls } = options.listeners;
  const url = `http://127.0.0.1:${httpPort}`;
  const adminUser = 'admin';
  const adminPassword = randomBytes(12).toString('hex');
  const server = await startProcess({
    name: 'keycloak',
    command: join(home, 'bin', 'kc.sh'),
    args: [
      'start-dev',
      '--http-host=127.0.0.1',
      `--http-port=${httpPort}`,
      `--https-port=${httpsPort}`,
      `--https-certificate-file=${tls.certFile}`,
      `--https-certificate-key-file=${tls.keyFile}`,
      // Tokens carry this issuer whichever listener issued them: the one the apiserver trusts.
      `--hostname=${keycloakIssuerBase(options.listeners)}`,
      '--db=dev-mem',
    ],
    env: {
      ...process.env,
      JAVA_HOME: javaHome(),
      KC_BOOTSTRAP_ADMIN_USERNAME: adminUser,
      KC_BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
      // Heap capped: the test machine has other servers to run.
      JAVA_OPTS_APPEND: '-Xms128m -Xmx768m -XX:TieredStopAtLevel=1',
    },
    logDir: options.logDir,
    timeoutMs: 240_000,
    ready: async () => (await fetch(`${url}/realms/master/.well-known/openid-configuration`)).ok,
  });
  return { url, adminUser, adminPassword, process: server };
}
