import { describe, expect, it } from 'vitest';
import {
  coldStartVerdict,
  containerMemory,
  listeningAt,
  markdownTable,
  percentile,
  summarize,
} from '../../../bench/knative-stats.ts';

describe('percentile and summarize', () => {
  it('takes the nearest rank of the sorted sample, whatever the order', () => {
    const values = [50, 10, 40, 20, 30, 100, 90, 80, 70, 60];
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 90)).toBe(90);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile(values, 0)).toBe(10);
    expect(summarize([3, 1, 2])).toEqual({ n: 3, median: 2, p90: 3 });
    expect(summarize([7])).toEqual({ n: 1, median: 7, p90: 7 });
    // The input is left as it was.
    expect(values[0]).toBe(50);
  });

  it('answers NaN for an empty sample rather than a number', () => {
    expect(summarize([])).toEqual({ n: 0, median: Number.NaN, p90: Number.NaN });
    expect(percentile([4], 50)).toBe(4);
  });
});

/** A stats summary as the kubelet's /stats/summary answers it (the fields read, plus some that are not). */
const summary = {
  node: { nodeName: 'tl-node', memory: { rssBytes: 1 } },
  pods: [
    {
      podRef: { name: 'provision-00001-deployment-abc', namespace: 'other', uid: 'u1' },
      containers: [
        { name: 'function', memory: { time: 't0', usageBytes: 1, workingSetBytes: 1, rssBytes: 1 } },
      ],
    },
    {
      podRef: { name: 'provision-00001-deployment-abc', namespace: 'bench', uid: 'u2' },
      containers: [
        {
          name: 'queue-proxy',
          memory: {
            time: '2026-12-03T02:37:28Z',
            usageBytes: 6156288,
            workingSetBytes: 6156288,
            rssBytes: 5632000,
          },
        },
        {
          name: 'function',
          startTime: '2026-12-03T02:37:20Z',
          memory: {
            time: '2026-12-03T02:37:28Z',
            availableBytes: 1,
            usageBytes: 39235584,
            workingSetBytes: 39200000,
            rssBytes: 37326848,
            pageFaults: 0,
          },
        },
      ],
    },
    { podRef: { name: 'starting', namespace: 'bench' }, containers: [{ name: 'function' }] },
  ],
};

describe('containerMemory', () => {
  it('reads the named container of the named pod in the named namespace', () => {
    expect(
      containerMemory(summary, {
        namespace: 'bench',
        pod: 'provision-00001-deployment-abc',
        container: 'function',
      }),
    ).toEqual({
      time: '2026-12-03T02:37:28Z',
      usageBytes: 39235584,
      workingSetBytes: 39200000,
      rssBytes: 37326848,
    });
    expect(
      containerMemory(summary, {
        namespace: 'bench',
        pod: 'provision-00001-deployment-abc',
        container: 'queue-proxy',
      })?.rssBytes,
    ).toBe(5632000);
  });

  it('answers undefined while the kubelet has no figures, or for another pod or container', () => {
    expect(
      containerMemory(summary, { namespace: 'bench', pod: 'starting', container: 'function' }),
    ).toBeUndefined();
    expect(
      containerMemory(summary, {
        namespace: 'bench',
        pod: 'provision-00001-deployment-abc',
        container: 'sidecar',
      }),
    ).toBeUndefined();
    expect(
      containerMemory({ node: {} }, { namespace: 'bench', pod: 'x', container: 'function' }),
    ).toBeUndefined();
    // Beside them, the same pod name in the right namespace is found.
    expect(
      containerMemory(summary, {
        namespace: 'other',
        pod: 'provision-00001-deployment-abc',
        container: 'function',
      })?.rssBytes,
    ).toBe(1);
  });

  it('rejects what is not a stats summary', () => {
    expect(() => containerMemory({ pods: 'none' }, { namespace: 'n', pod: 'p', container: 'c' })).toThrow();
  });
});

describe('listeningAt', () => {
  it('finds the time of the `<name> listening` line among the others', () => {
    const log = [
      'Warning: something Node.js printed',
      '{"level":30,"time":1764729448100,"msg":"provision starting"}',
      '{"level":30,"time":1764729448200,"port":8080,"msg":"provision listening"}',
      '{"level":30,"time":1764729448300,"msg":"provision listening"}',
    ].join('\n');
    expect(listeningAt(log, 'provision')).toBe(1764729448200);
    expect(listeningAt('{"level":30,"time":5,"msg":"hello listening"}\n', 'hello')).toBe(5);
    // pino's ISO times (shared/platform/logger.ts).
    expect(
      listeningAt(
        '{"level":"info","time":"2026-12-03T02:53:58.125Z","function":"sync","msg":"sync listening"}',
        'sync',
      ),
    ).toBe(Date.parse('2026-12-03T02:53:58.125Z'));
  });

  it('answers undefined without such a line: another name, a broken line, no time', () => {
    expect(listeningAt('{"level":30,"time":1,"msg":"sync listening"}', 'provision')).toBeUndefined();
    expect(listeningAt('{"msg":"provision listening"', 'provision')).toBeUndefined();
    expect(listeningAt('{"msg":"provision listening"}', 'provision')).toBeUndefined();
    expect(listeningAt('{"time":"yesterday","msg":"provision listening"}', 'provision')).toBeUndefined();
    expect(listeningAt('', 'provision')).toBeUndefined();
  });
});

describe('coldStartVerdict', () => {
  it('meets the goal at or under 1.3 times the hello world, and says by how much it misses', () => {
    expect(coldStartVerdict(1300, 1000)).toEqual({ ratio: 1.3, met: true, overGoalMs: 0 });
    const missed = coldStartVerdict(2000, 1000);
    expect(missed.met).toBe(false);
    expect(missed.ratio).toBe(2);
    expect(missed.overGoalMs).toBeCloseTo(700);
    expect(coldStartVerdict(1100, 1000, 1.05).met).toBe(false);
  });
});

describe('markdownTable', () => {
  it('pads every column to its widest cell, the separator too', () => {
    expect(markdownTable(['a', 'long header'], [['value', 'x'], ['v']])).toBe(
      [
        '| a     | long header |',
        '| ----- | ----------- |',
        '| value | x           |',
        '| v     |             |',
      ].join('\n'),
    );
  });
});
