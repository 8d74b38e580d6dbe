/**
 * Prometheus metrics served at GET /metrics: requests and their latency per function, operation, trigger
 * and outcome, plus the Node.js process metrics. One registry per function instance.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Outcome = 'success' | 'client_error' | 'server_error';
export type TriggerKind = 'http' | 'cloudevent' | 'ping';

export interface FunctionMetrics {
  readonly registry: Registry;
  observe(labels: { operation: string; trigger: TriggerKind; outcome: Outcome }, seconds: number): void;
}

export function outcomeOf(status: number): Outcome {
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'client_error';
  return 'success';
}

export function createMetrics(
  functionName: string,
  options: { defaultMetrics?: boolean } = {},
): FunctionMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ function: functionName });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const labelNames = ['operation', 'trigger', 'outcome'] as const;
  const requests = new Counter({
    name: 'tenant_function_requests_total',
    help: 'Requests handled, by operation, trigger and outcome.',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'tenant_function_request_duration_seconds',
    help: 'Time to handle a request, by operation, trigger and outcome.',
    labelNames,
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [registry],
  });
  return {
    registry,
    observe(labels, seconds) {
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
  };
}
