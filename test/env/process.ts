/**
 * Supervises one server process of the test environment: output appended to `<logDir>/<name>.log`,
 * readiness polled with a deadline, and a start failure reported with the tail of that log. Stopping sends
 * SIGTERM (or the server's own stop signal), then SIGKILL after a grace period. The fault tests also
 * freeze a server (SIGSTOP to it and every process it started), kill it (SIGKILL, likewise) and start it
 * again with the same command, arguments and data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StartOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logDir: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Run as this user (uid/gid), e.g. PostgreSQL, which refuses to run as root. */
  readonly user?: { readonly uid: number; readonly gid: number };
  /** Signal asking for a clean, prompt shutdown; SIGTERM unless the server reads it otherwise. */
  readonly stopSignal?: NodeJS.Signals;
  /** Resolves true once the server answers; errors count as "not yet". */
  readonly ready: () => Promise<boolean>;
  readonly timeoutMs?: number;
}

export interface ServerProcess {
  readonly name: string;
  readonly logFile: string;
  /** The pid of the current run (a restart changes it). */
  readonly pid: number;
  /** Time from spawn to ready, in ms. */
  readonly startMs: number;
  stop(): Promise<void>;
  /**
   * Sends `signal` to the server and to every process below it (PostgreSQL's backends, the JVM under
   * Keycloak's kc.sh): SIGSTOP freezes the whole server, SIGCONT thaws it, SIGKILL kills it.
   */
  signalAll(signal: NodeJS.Signals): void;
  /** Starts the server again with the same command, arguments and data, after it was killed. */
  restart(): Promise<void>;
}

/** The pids of `root` and of every process below it, read from /proc (parents before children). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const tree: number[] = [];
  const visit = (pid: number): void => {
    tree.push(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(root);
  return tree;
}

export async function logTail(logFile: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(logFile, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function startProcess(options: StartOptions): Promise<ServerProcess> {
  const logFile = join(options.logDir, `${options.name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  await once(log, 'open');
  let child: ChildProcess;
  let startMs = 0;

  /** Spawns the server and waits until it answers; on failure it is stopped and the error names why. */
  const launch = async (): Promise<void> => {
    const started = Date.now();
    const current = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', log, log],
      ...(options.user ?? {}),
    });
    child = current;
    let exit: string | undefined;
    current.once('exit', (code, signal) => (exit ??= `exited with ${signal ?? `code ${code ?? '?'}`}`));
    current.once('error', (error) => (exit ??= `could not be started: ${error.message}`));
    const deadline = started + (options.timeoutMs ?? 120_000);
    for (;;) {
      if (exit !== undefined) break;
      if (await options.ready().catch(() => false)) {
        startMs = Date.now() - started;
        return;
      }
      if (Date.now() > deadline) {
        exit = `was not ready after ${Math.round((options.timeoutMs ?? 120_000) / 1000)} s`;
        break;
      }
      await sleep(100);
    }
    await stopChild(current, options.stopSignal ?? 'SIGTERM', 10_000);
    throw new Error(`${options.name} ${exit} (log: ${logFile}); last lines:\n${await logTail(logFile)}`);
  };

  const stop = async (): Promise<void> => {
    // A frozen server would not hear its stop signal.
    if (child.exitCode === null && child.signalCode === null) server.signalAll('SIGCONT');
    await stopChild(child, options.stopSignal ?? 'SIGTERM', 10_000);
    log.end();
  };
  const server: ServerProcess = {
    name: options.name,
    logFile,
    get pid() {
      return child.pid ?? -1;
    },
    get startMs() {
      return startMs;
    },
    stop,
    signalAll: (signal) => {
      if (child.pid === undefined) return;
      for (const pid of processTree(child.pid)) {
        try {
          process.kill(pid, signal);
        } catch {
          // exited meanwhile
        }
      }
    },
    restart: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        server.signalAll('SIGKILL');
        await once(child, 'exit');
      }
      await launch();
    },
  };
  try {
    await launch();
  } catch (error) {
    log.end();
    throw error;
  }
  return server;
}

/** Runs a command to completion (initdb, openssl); fails with its output on a non-zero exit. */
export async function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; user?: { uid: number; gid: number }; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: 'pipe',
    ...(options.user ?? {}),
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${code ?? 'signal'}):\n${output.slice(-4000)}`);
  return output;
}
