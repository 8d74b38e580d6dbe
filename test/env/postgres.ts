/**
 * A throwaway PostgreSQL cluster (Debian's packages) in the work dir, on a free loopback port, tuned for
 * tests (no fsync). PostgreSQL refuses to run as root: when we are root it runs as the `postgres` system
 * user that the Debian package creates, through spawn's uid/gid (no su/sudo wrapper between us and it, so
 * signals reach it directly).
 *
 * Every login gives its password, as on a real server: pg_hba.conf says `scram-sha-256` for TCP and socket
 * logins alike, and passwords are stored as SCRAM verifiers. The superuser `postgres` gets a password
 * generated for this run, carried in the URL the environment hands out; so a password pg-reconcile sets is
 * the one that logs its user in, and a wrong or rotated-away password is refused.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';
import { run, startProcess, type ServerProcess } from './process.ts';

export interface PostgresServer {
  /** postgresql://postgres:<password>@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly process: ServerProcess;
}

/** TL_PG_BINDIR, else the newest /usr/lib/postgresql/<v>/bin. */
export function postgresBinDir(): string {
  const fromEnv = process.env.TL_PG_BINDIR;
  if (fromEnv) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined)
    throw new Error('PostgreSQL not found: install the Debian package postgresql, or set TL_PG_BINDIR');
  return join(root, newest, 'bin');
}

function systemUser(name: string): { uid: number; gid: number } {
  const id = (flag: string): number => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error(
      `running as root and no "${name}" user exists to run PostgreSQL (the Debian package creates it)`,
    );
  }
}

export async function startPostgres(options: {
  readonly workDir: string;
  readonly logDir: string;
}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const dir = join(options.workDir, 'postgres');
  const data = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  await mkdir(socketDir, { recursive: true });
  const user = process.getuid?.() === 0 ? systemUser('postgres') : undefined;
  if (user !== undefined) {
    // The work dir is root's; let the postgres user traverse it and own its own folder.
    await chmod(options.workDir, 0o755);
    await chown(dir, user.uid, user.gid);
    await chown(socketDir, user.uid, user.gid);
  }
  const runAs = user === undefined ? {} : { user };
  // Hex: nothing to escape in a URL or a shell.
  const password = randomBytes(18).toString('hex');
  // initdb reads the superuser's password from a file that its OS user can read; gone once it is stored.
  const passwordFile = join(dir, 'superuser-password');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (user !== undefined) await chown(passwordFile, user.uid, user.gid);
  try {
    await run(
      join(bin, 'initdb'),
      [
        '-D',
        data,
        '-U',
        'postgres',
        `--pwfile=${passwordFile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
      ],
      runAs,
    );
  } finally {
    await rm(passwordFile, { force: true });
  }

  const port = await freePort();
  const url = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
  const server = await startProcess({
    name: 'postgres',
    command: join(bin, 'postgres'),
    args: [
      '-D',
      data,
      '-p',
      String(port),
      '-h',
      '127.0.0.1',
      '-k',
      socketDir,
      '-c',
      'fsync=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'max_connections=200',
      '-c',
      'password_encryption=scram-sha-256',
    ],
    logDir: options.logDir,
    ...runAs,
    // SIGTERM is a "smart" shutdown that waits for every client to leave (a psql left open by `make
    // testenv`); SIGINT is the "fast" one: clients are disconnected, and the shutdown stays clean.
    stopSignal: 'SIGINT',
    ready: async () => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  });
  return { url, host: '127.0.0.1', port, user: 'postgres', password, process: server };
}
