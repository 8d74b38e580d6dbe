/**
 * knative/openfaas: stack.yml deploys every function with keys faas-cli knows; schedules.yaml runs the
 * PingSources' schedules as CronJobs on each function's scheduled route; openfaas-values.yaml gives the
 * gateway and its provider timeouts longer than the functions' run time. The upstream facts are cited
 * where they are used; the requests themselves run in test/integration/knative/openfaas-schedules.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { specs } from '../../../docs/openapi/generate.ts';
import { functionNames } from '../../../knative/image/bundle.ts';
import { matchHttp } from '../../../shared/platform/routing.ts';
import { pingTarget } from '../../support/knative-routes.ts';

const read = (path: string) => readFileSync(new URL(`../../../knative/${path}`, import.meta.url), 'utf8');

interface StackFunction {
  image: string;
  environment?: Record<string, unknown>;
  environment_file?: string[];
  annotations?: Record<string, string>;
}
const stackText = read('openfaas/stack.yml');
const stack = parse(stackText) as { functions: Record<string, StackFunction> };

/**
 * The keys faas-cli reads from a stack file: the yaml tags of github.com/openfaas/go-sdk v0.2.22
 * stack/schema.go (vendored by openfaas/faas-cli 0.18.12, c8191b7): Services, Provider, Function,
 * FunctionResources, StackConfiguration and TemplateSource. faas-cli parses with gopkg.in/yaml.v3's
 * yaml.Unmarshal (stack/stack.go), which drops an unknown key without a word.
 */
const SCHEMA = {
  root: ['version', 'functions', 'provider', 'configuration'],
  provider: ['name', 'gateway'],
  function: [
    'lang',
    'handler',
    'image',
    'fprocess',
    'environment',
    'secrets',
    'skip_build',
    'constraints',
    'environment_file',
    'labels',
    'limits',
    'requests',
    'readonly_root_filesystem',
    'build_options',
    'annotations',
    'namespace',
    'build_args',
    'platforms',
    'build_secrets',
  ],
  resources: ['memory', 'cpu'],
  configuration: ['templates', 'copy'],
};

function keysOf(value: unknown): string[] {
  return typeof value === 'object' && value !== null ? Object.keys(value) : [];
}

/** The keys of a parsed stack file that faas-cli's schema does not have, as paths. */
function unknownKeys(doc: unknown): string[] {
  const unknown = (path: string, value: unknown, allowed: readonly string[]) =>
    keysOf(value)
      .filter((key) => !allowed.includes(key))
      .map((key) => `${path}${key}`);
  const root = doc as Record<string, unknown>;
  const functions = (root.functions ?? {}) as Record<string, Record<string, unknown>>;
  return [
    ...unknown('', root, SCHEMA.root),
    ...unknown('provider.', root.provider, SCHEMA.provider),
    ...unknown('configuration.', root.configuration, SCHEMA.configuration),
    ...Object.entries(functions).flatMap(([name, f]) => [
      ...unknown(`functions.${name}.`, f, SCHEMA.function),
      ...unknown(`functions.${name}.limits.`, f.limits, SCHEMA.resources),
      ...unknown(`functions.${name}.requests.`, f.requests, SCHEMA.resources),
    ]),
  ];
}

interface CronJob {
  kind: string;
  metadata: { name: string; namespace: string };
  spec: {
    schedule: string;
    timeZone?: string;
    jobTemplate: {
      spec: {
        template: {
          spec: {
            serviceAccountName: string;
            automountServiceAccountToken?: boolean;
            containers: {
              image: string;
              command: string[];
              env: { name: string; value: string }[];
              volumeMounts: { name: string; mountPath: string }[];
            }[];
            volumes: {
              name: string;
              configMap?: { name: string };
              projected?: {
                sources: {
                  serviceAccountToken?: { audience: string; expirationSeconds: number; path: string };
                }[];
              };
            }[];
          };
        };
      };
    };
  };
}
const scheduleDocs = parseAllDocuments(read('openfaas/schedules.yaml')).map(
  (d) => d.toJS() as { kind: string; metadata: { name: string; namespace: string } },
);
const cronJobs = scheduleDocs.filter((d): d is CronJob => d.kind === 'CronJob');

/** The function a CronJob calls and the path the function sees: the gateway strips /function/<name>. */
function target(job: CronJob): { name: string; path: string; env: Record<string, string> } {
  const container = job.spec.jobTemplate.spec.template.spec.containers[0];
  const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
  const url = new URL(env.FUNCTION_URL ?? '');
  // openfaas/faas 0.27.14 gateway/pkg/middleware/resolver.go: ^/?(?:async-)?function/([^/?]+)([^?]*)
  const [, name = '', rest = ''] = /^\/?(?:async-)?function\/([^/?]+)([^?]*)/.exec(url.pathname) ?? [];
  return { name, path: rest === '' ? '/' : rest, env };
}

const pings = ['base/schedules.yaml', 'base/pg-reconcile.yaml'].flatMap((file) =>
  parseAllDocuments(read(file))
    .map(
      (d) =>
        d.toJS() as {
          kind: string;
          metadata: { name: string; namespace: string };
          spec: { schedule?: string; data?: string };
        },
    )
    .filter((o) => o.kind === 'PingSource'),
);

/** A Go duration as time.ParseDuration reads the ones used here (h, m, s), in seconds. */
function goSeconds(duration: string): number {
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(h|m|s)/g)];
  expect(parts.map((p) => p[0]).join(''), duration).toBe(duration);
  const unitSeconds: Record<string, number> = { h: 3600, m: 60, s: 1 };
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * (unitSeconds[unit ?? ''] ?? Number.NaN), 0);
}

interface Timeouts {
  gateway: { upstreamTimeout: string; readTimeout: string; writeTimeout: string };
  faasnetes?: { readTimeout?: string; writeTimeout?: string };
}

/** Why a call of `runSeconds` through the gateway would be cut short with these values; none: it is not. */
function timeoutProblems(values: Timeouts, runSeconds: number, clientSeconds: number): string[] {
  const upstream = goSeconds(values.gateway.upstreamTimeout);
  const gatewayRead = goSeconds(values.gateway.readTimeout);
  const gatewayWrite = goSeconds(values.gateway.writeTimeout);
  // templates/gateway-dep.yaml: faas-netes takes the gateway's timeouts unless its own are set.
  const providerRead = goSeconds(values.faasnetes?.readTimeout ?? values.gateway.readTimeout);
  const providerWrite = goSeconds(values.faasnetes?.writeTimeout ?? values.gateway.writeTimeout);
  return [
    ...(upstream > runSeconds ? [] : [`gateway upstream ${upstream} s <= run ${runSeconds} s`]),
    ...(gatewayRead > upstream && gatewayWrite > upstream ? [] : ['gateway read/write <= upstream']),
    ...(providerRead > upstream && providerWrite > upstream ? [] : ['faas-netes read/write <= upstream']),
    ...(clientSeconds > gatewayWrite ? [] : [`client ${clientSeconds} s <= gateway write ${gatewayWrite} s`]),
  ];
}

describe('knative/openfaas/stack.yml', () => {
  it('deploys every function', () => {
    expect(Object.keys(stack.functions).sort()).toEqual(functionNames());
  });

  it('uses only keys of faas-cli stack schema, which would drop a misspelt one silently', () => {
    expect(unknownKeys(parse(stackText))).toEqual([]);
    // The same check on the file with one key misspelt and one limit misnamed finds exactly those.
    const misspelt = stackText
      .replace('  reset:\n    image:', '  reset:\n    imgae:')
      .replace('limits: { memory: 384Mi }', 'limits: { memroy: 384Mi }');
    expect(unknownKeys(parse(misspelt))).toEqual(['functions.reset.imgae', 'functions.sync.limits.memroy']);
  });

  it('gives environment values as strings, as faas-cli map[string]string takes them', () => {
    for (const [name, f] of Object.entries(stack.functions))
      for (const [key, value] of Object.entries(f.environment ?? {}))
        expect(typeof value, `${name}.${key}`).toBe('string');
  });

  it('gives every function its own credentials file besides the shared settings', () => {
    for (const [name, f] of Object.entries(stack.functions))
      expect(f.environment_file, name).toEqual(['tenant-lifecycle.yml', `tenant-lifecycle-${name}.yml`]);
  });

  it('schedules nothing through the cron-connector, whose calls carry no token', () => {
    // openfaas/cron-connector 0.7.0 types/cron_function.go: ToCronFunction picks functions annotated
    // topic=cron-function; InvokeFunction then calls them without any credential.
    for (const [name, f] of Object.entries(stack.functions))
      expect(f.annotations?.topic, name).not.toBe('cron-function');
  });
});

describe('knative/openfaas/schedules.yaml', () => {
  it('runs exactly what the PingSources schedule, in UTC', () => {
    expect(Object.fromEntries(cronJobs.map((job) => [target(job).name, job.spec.schedule]))).toEqual(
      Object.fromEntries(
        pings.map((p) => [pingTarget(p.metadata.name, p.metadata.namespace), p.spec.schedule]),
      ),
    );
    for (const job of cronJobs) expect(job.spec.timeZone, job.metadata.name).toBe('Etc/UTC');
  });

  it.each(cronJobs.map((job) => [job.metadata.name, job] as const))(
    '%s calls its function on the route of its scheduled operation, with the body a PingSource sends',
    (_, job) => {
      const { name, path } = target(job);
      const spec = specs[name]?.();
      expect(spec, name).toBeDefined();
      if (spec === undefined) return;
      const match = matchHttp(spec, 'POST', path);
      expect(match.operation.ping, `${name} POST ${path}`).toBe(true);
      const ping = pings.find((p) => pingTarget(p.metadata.name, p.metadata.namespace) === name);
      const body = JSON.parse(ping?.spec.data ?? 'null') as unknown;
      expect(body).toEqual({});
      expect(match.operation.input.safeParse(body).success).toBe(true);
    },
  );

  it('is where the cron-connector would fail even with a token: enforce serves nothing at POST /', () => {
    // The cron-connector always calls the function's root; enforce's scheduled route is elsewhere.
    const enforce = specs.enforce?.();
    expect(enforce).toBeDefined();
    if (enforce === undefined) return;
    expect(() => matchHttp(enforce, 'POST', '/')).toThrow(/no operation at POST \//);
    expect(matchHttp(enforce, 'POST', '/enforce/apply').operation.ping).toBe(true);
  });

  it.each(cronJobs.map((job) => [job.metadata.name, job] as const))(
    '%s authenticates as its own service account, with a token only its function accepts',
    (_, job) => {
      const { name, env } = target(job);
      const pod = job.spec.jobTemplate.spec.template.spec;
      const container = pod.containers[0];
      expect(pod.serviceAccountName).toBe(`${name}-schedule`);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(job.metadata.namespace).toBe('openfaas-fn');
      // The function it calls accepts that service account and no other.
      expect(stack.functions[name]?.environment?.EVENT_SENDERS).toBe(
        `system:serviceaccount:${job.metadata.namespace}:${pod.serviceAccountName}`,
      );
      const tokenVolume = pod.volumes.find((v) => v.projected !== undefined);
      const token = tokenVolume?.projected?.sources[0]?.serviceAccountToken;
      expect(token?.audience).toBe(`tenant-lifecycle/${name}`);
      const mount = container?.volumeMounts.find((m) => m.name === tokenVolume?.name);
      expect(env.TOKEN_FILE).toBe(`${mount?.mountPath ?? ''}/${token?.path ?? ''}`);
      // The script is the ConfigMap's, run by the function's own image.
      expect(container?.image).toBe(stack.functions[name]?.image);
      const script = pod.volumes.find((v) => v.configMap !== undefined);
      expect(script?.configMap?.name).toBe('tenant-lifecycle-schedule');
      expect(container?.command).toEqual([
        'node',
        `${container?.volumeMounts.find((m) => m.name === script?.name)?.mountPath ?? ''}/scheduled-call.mjs`,
      ]);
    },
  );

  it('gives every periodic function a schedule and no other function a schedule sender', () => {
    const scheduled = cronJobs.map((job) => target(job).name).sort();
    expect(
      Object.entries(stack.functions)
        .filter(([, f]) => f.environment?.EVENT_SENDERS !== undefined)
        .map(([name]) => name)
        .sort(),
    ).toEqual(scheduled);
  });
});

describe('knative/openfaas/openfaas-values.yaml', () => {
  const values = parse(read('openfaas/openfaas-values.yaml')) as Timeouts & {
    functions: { httpProbe: boolean };
  };
  const longestRun = Math.max(
    ...Object.values(stack.functions).map((f) => Number(f.environment?.REQUEST_TIMEOUT_SECONDS ?? 300)),
  );
  const clientSeconds = Math.min(
    ...cronJobs.map((job) => Number(target(job).env.CALL_TIMEOUT_SECONDS ?? Number.NaN)),
  );

  it('lets the longest run through the gateway and faas-netes before anyone gives up', () => {
    expect(longestRun).toBe(600);
    expect(timeoutProblems(values, longestRun, clientSeconds)).toEqual([]);
    // The chart's own defaults (openfaas/faas-netes chart/openfaas 15.0.6 values.yaml) cut it at 60 s.
    const chartDefaults: Timeouts = {
      gateway: { upstreamTimeout: '1m', readTimeout: '1m05s', writeTimeout: '1m05s' },
    };
    expect(timeoutProblems(chartDefaults, longestRun, clientSeconds)).toEqual([
      'gateway upstream 60 s <= run 600 s',
    ]);
  });

  it('asks for HTTP probes, the kind the functions answer (GET /_/health)', () => {
    expect(values.functions.httpProbe).toBe(true);
  });
});
