/**
 * The pure parts of bench/knative.ts: summary statistics, the kubelet's stats summary, the startup log line
 * and the goal's verdict.
 */
import { z } from 'zod';

/** n, median and p90 of a sample. */
export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p90: number;
}

/**
 * The nearest-rank percentile: the smallest value with at least p% of the sample at or below it (for the
 * median of an even sample, the lower of the two middle values). NaN for an empty sample.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

export function summarize(values: readonly number[]): Summary {
  return { n: values.length, median: percentile(values, 50), p90: percentile(values, 90) };
}

const memory = z.object({
  time: z.string().optional(),
  usageBytes: z.number().optional(),
  workingSetBytes: z.number().optional(),
  rssBytes: z.number().optional(),
});
const statsSummary = z.object({
  pods: z
    .array(
      z.object({
        podRef: z.object({ name: z.string(), namespace: z.string() }),
        containers: z
          .array(z.object({ name: z.string(), memory: memory.optional() }))
          .optional()
          .default([]),
      }),
    )
    .optional()
    .default([]),
});

/** A container's memory as the kubelet reports it (cgroup v2: memory.current and memory.stat). */
export interface ContainerMemory {
  /** memory.current: everything charged to the container's cgroup, page cache included. */
  readonly usageBytes: number;
  /** usageBytes less the inactive file cache: what the kubelet counts for eviction. */
  readonly workingSetBytes: number;
  /** Anonymous memory (memory.stat `anon`): the process' heap and stacks, what `ps` calls RSS but shared files. */
  readonly rssBytes: number;
  /** When the kubelet read it. */
  readonly time: string;
}

/**
 * The memory of `container` in pod `namespace`/`pod` in the kubelet's stats summary (GET
 * /api/v1/nodes/<node>/proxy/stats/summary), or undefined while the kubelet has no figures for it yet.
 */
export function containerMemory(
  summary: unknown,
  target: { readonly namespace: string; readonly pod: string; readonly container: string },
): ContainerMemory | undefined {
  const { pods } = statsSummary.parse(summary);
  const pod = pods.find((p) => p.podRef.namespace === target.namespace && p.podRef.name === target.pod);
  const found = pod?.containers.find((c) => c.name === target.container)?.memory;
  if (
    found?.time === undefined ||
    found.usageBytes === undefined ||
    found.workingSetBytes === undefined ||
    found.rssBytes === undefined
  )
    return undefined;
  return {
    usageBytes: found.usageBytes,
    workingSetBytes: found.workingSetBytes,
    rssBytes: found.rssBytes,
    time: found.time,
  };
}

/**
 * The time (epoch ms) of the first JSON log line whose message is `<name> listening`, as the functions'
 * server (shared/platform/server.ts, pino with ISO times) and the bench's hello world log it once the
 * process listens; undefined when no such line (with a valid time) is in `log`.
 */
export function listeningAt(log: string, name: string): number | undefined {
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    const entry = z.object({ time: z.union([z.number(), z.string()]), msg: z.string() }).safeParse(parsed);
    if (!entry.success || entry.data.msg !== `${name} listening`) continue;
    const time = typeof entry.data.time === 'number' ? entry.data.time : Date.parse(entry.data.time);
    if (!Number.isNaN(time)) return time;
  }
  return undefined;
}

/** The cold-start goal: the function's median within `goal` times the hello world's. */
export function coldStartVerdict(
  functionMedianMs: number,
  helloMedianMs: number,
  goal = 1.3,
): { readonly ratio: number; readonly met: boolean; readonly overGoalMs: number } {
  const ratio = functionMedianMs / helloMedianMs;
  return { ratio, met: ratio <= goal, overGoalMs: Math.max(0, functionMedianMs - goal * helloMedianMs) };
}

/** A Markdown table (what docs/benchmarks.md holds), columns padded as Prettier pads them. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
