/**
 * `make fuzz`: every function's OpenAPI document (docs/openapi/<name>.json) fuzzed by schemathesis against
 * the real local stack, started as `make dev` starts it (test/env/dev-stack.ts, as a child process): the
 * test servers and the eight functions on loopback, with the API token. Fails when any answer is a 5xx
 * (check not_a_server_error) or breaks the document (status codes, content types, the problem+json schema).
 *
 * Destructive operations run too (deprovision, cleanup with `force`, namespace removal, prune): the stack is
 * thrown away afterwards. They cannot make it unusable for the operations fuzzed after them: names are
 * checked against the reserved names and Everest's internal namespaces, and the destructive functions go
 * last.
 *
 * Settings (environment):
 *   FUZZ_EXAMPLES     examples per operation and phase (default 25)
 *   FUZZ_SEED         schemathesis seed (default fixed, so that CI runs are reproducible)
 *   FUZZ_FUNCTIONS    a,b: fuzz only these functions
 *   FUZZ_STACK_FILE   the stack.json of a stack already running (`make dev`): fuzz it instead of starting one
 * Reports (JUnit per function) and the stack's log go to .dev/fuzz/.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const outDir = `${root}.dev/fuzz/`;
const stackLog = `${outDir}stack.log`;

/** Fuzzing order: what only reads or creates first, what deletes last. */
const ORDER = [
  'provision',
  'enforce',
  'bootstrap',
  'pg-reconcile',
  'sync',
  'reset',
  'deprovision',
  'cleanup',
  'dead-letter',
];

/**
 * What every answer is checked for. not_a_server_error is the point; the conformance checks keep every
 * error a problem+json document and every status one the document allows.
 */
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
];

interface Stack {
  readonly functions: Readonly<Record<string, string>>;
  readonly apiToken: string;
}

function documents(): string[] {
  const names = readdirSync(`${root}docs/openapi`)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length));
  const unordered = names.filter((n) => !ORDER.includes(n));
  if (unordered.length > 0)
    throw new Error(`test/fuzz/run.ts: no place in ORDER for ${unordered.join(', ')}`);
  const only = process.env.FUZZ_FUNCTIONS?.split(',').map((s) => s.trim());
  return ORDER.filter((n) => names.includes(n) && (only === undefined || only.includes(n)));
}

/** Starts test/env/dev-stack.ts and waits for the .dev/stack.json it writes once everything serves. */
async function startStack(): Promise<{ stack: Stack; child: ChildProcess }> {
  const stackFile = `${root}.dev/stack.json`;
  rmSync(stackFile, { force: true });
  const log = openSync(stackLog, 'w');
  const child = spawn(process.execPath, [`${root}test/env/dev-stack.ts`], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let exited: number | null | undefined;
  child.on('exit', (code) => {
    exited = code;
  });
  const started = Date.now();
  while (!existsSync(stackFile)) {
    if (exited !== undefined)
      throw new Error(`the stack exited (${String(exited)}) while starting: ${stackLog}`);
    if (Date.now() - started > 10 * 60_000) {
      child.kill('SIGTERM');
      throw new Error(`the stack did not start within 10 minutes: ${stackLog}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  // Written once everything serves; wait for a whole file.
  while (statSync(stackFile).size === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  console.log(`stack started in ${Math.round((Date.now() - started) / 1000)} s (log: ${stackLog})`);
  return { stack: JSON.parse(readFileSync(stackFile, 'utf8')) as Stack, child };
}

async function stopStack(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  await exited;
  clearTimeout(timer);
}

function fuzz(schemathesis: string, stack: Stack, name: string): boolean {
  const url = stack.functions[name];
  if (url === undefined) throw new Error(`the stack serves no function ${name}`);
  const started = Date.now();
  const result = spawnSync(
    schemathesis,
    [
      'run',
      `${root}docs/openapi/${name}.json`,
      '--url',
      url,
      '--header',
      `Authorization: Bearer ${stack.apiToken}`,
      '--generation-with-security-parameters',
      'false',
      '--checks',
      CHECKS.join(','),
      '--max-examples',
      process.env.FUZZ_EXAMPLES ?? '25',
      '--seed',
      process.env.FUZZ_SEED ?? '20261202',
      '--workers',
      '1',
      '--request-timeout',
      '120',
      '--generation-database',
      'none',
      '--no-color',
      '--report',
      'junit,ndjson',
      '--report-junit-path',
      `${outDir}${name}.junit.xml`,
      '--report-ndjson-path',
      `${outDir}${name}.ndjson`,
    ],
    // Its report goes to a log beside the JUnit and NDJSON reports, and is printed only when the run fails, so
    // that CI's output ends with the summaries. Run it where a stray file would be ignored.
    { cwd: outDir, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 },
  );
  const logFile = `${outDir}${name}.log`;
  writeFileSync(logFile, Buffer.concat([result.stdout, result.stderr]));
  const answers = statusClasses(`${outDir}${name}.ndjson`);
  const summary = Object.entries(answers)
    .map(([cls, n]) => `${cls} ${String(n)}`)
    .join(', ');
  const cases = Object.values(answers).reduce((sum, n) => sum + n, 0);
  console.log(
    `::: fuzz ${name}: exit ${String(result.status)} in ${Math.round((Date.now() - started) / 1000)} s; ${String(cases)} requests, answers: ${summary} (report: ${logFile})`,
  );
  if (result.status !== 0) process.stdout.write(readFileSync(logFile, 'utf8'));
  // The positive control: a run where nothing succeeded (a wrong token, a stack that is down) proves nothing.
  if ((answers['2xx'] ?? 0) === 0) {
    console.log(`::: fuzz ${name}: no request succeeded, so the run proves nothing`);
    return false;
  }
  return result.status === 0;
}

/** How many answers of each status class (2xx, 4xx, 5xx) the run's NDJSON report holds. */
function statusClasses(report: string): Record<string, number> {
  const counts: Record<string, number> = {};
  if (!existsSync(report)) return counts;
  for (const line of readFileSync(report, 'utf8').split('\n')) {
    if (!line.startsWith('{"ScenarioFinished"')) continue;
    const event = JSON.parse(line) as {
      ScenarioFinished: {
        recorder?: { interactions?: Record<string, { response?: { status_code?: number } }> };
      };
    };
    for (const interaction of Object.values(event.ScenarioFinished.recorder?.interactions ?? {})) {
      const status = interaction.response?.status_code;
      if (status === undefined) continue;
      const cls = `${String(Math.floor(status / 100))}xx`;
      counts[cls] = (counts[cls] ?? 0) + 1;
    }
  }
  return counts;
}

/** The errors the functions logged (each 5xx is one, with its cause), so that a failure names its cause. */
function loggedErrors(): string[] {
  if (!existsSync(stackLog)) return [];
  return readFileSync(stackLog, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"level":"error"'))
    .map((line) => {
      try {
        const entry = JSON.parse(line) as { function?: string; msg?: string; err?: { message?: string } };
        return `${entry.function ?? '?'}: ${entry.msg ?? ''}${entry.err?.message === undefined ? '' : ` (${entry.err.message})`}`;
      } catch {
        return line;
      }
    });
}

const schemathesisCli = spawnSync('bash', [`${root}test/fuzz/schemathesis.sh`], {
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
});
if (schemathesisCli.status !== 0) throw new Error('installing schemathesis failed');
const schemathesis = schemathesisCli.stdout.trim();

mkdirSync(outDir, { recursive: true });
const names = documents();
const runStarted = Date.now();
const given = process.env.FUZZ_STACK_FILE;
const { stack, child } =
  given === undefined
    ? await startStack()
    : { stack: JSON.parse(readFileSync(given, 'utf8')) as Stack, child: undefined };
const stop = (): void => {
  if (child !== undefined) void stopStack(child).then(() => process.exit(130));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

const failed: string[] = [];
try {
  for (const name of names) if (!fuzz(schemathesis, stack, name)) failed.push(name);
} finally {
  if (child !== undefined) await stopStack(child);
}
// Bad input must not make a function log an error either (a 5xx, an audit record that could not be written).
const errors = given === undefined ? loggedErrors() : [];
if (errors.length > 0) {
  console.log(`errors the functions logged:\n  ${errors.join('\n  ')}`);
  failed.push('the functions logged errors');
}
console.log(
  `fuzzed ${names.join(', ')} in ${Math.round((Date.now() - runStarted) / 1000)} s: ${
    failed.length === 0 ? 'no failure' : `failed: ${failed.join(', ')}`
  }`,
);
process.exit(failed.length === 0 ? 0 : 1);
