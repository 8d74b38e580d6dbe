/**
 * Supervises one server process of the test environment: output appended to `<logDir>/<name>.log`,
 * readiness polled with a deadline, and a start failure reported with the tail of that log. Stopping sends
 * SIGTERM (or the server's own stop signal), then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
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
  readonly pid: number;
  /** Time from spawn to ready, in ms. */
  readonly startMs: number;
  stop(): Promise<void>;
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
  const started = Date.now();
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', log, log],
    ...(options.user ?? {}),
  });
  let exit: string | undefined;
  child.once('exit', (code, signal) => (exit ??= `exited with ${signal ?? `code ${code ?? '?'}`}`));
  child.once('error', (error) => (exit ??= `could not be started: ${error.message}`));
  const stop = async (): Promise<void> => {
    await stopChild(child, options.stopSignal ?? 'SIGTERM', 10_000);
    log.end();
  };

  const deadline = started + (options.timeoutMs ?? 120_000);
  for (;;) {
    if (exit !== undefined) break;
    if (await options.ready().catch(() => false)) {
      return { name: options.name, logFile, pid: child.pid ?? -1, startMs: Date.now() - started, stop };
    }
    if (Date.now() > deadline) {
      exit = `was not ready after ${Math.round((options.timeoutMs ?? 120_000) / 1000)} s`;
      break;
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`${options.name} ${exit} (log: ${logFile}); last lines:\n${await logTail(logFile)}`);
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
