// The live feed's per-second summary of the data plane's counters (table test), and its series:
// what it kept while watched, then what the data plane still holds, one point per second.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetricsBucket } from '../providers/builtin/proxy/types.ts';
import { LATENCY_BOUNDS_MS } from '../spec/proxy-spec.ts';
import { LiveFeed, summarise } from './live-feed.ts';

/** A histogram with `n` requests in the bucket whose upper bound is `ms`. */
const latency = (...pairs: [ms: number, n: number][]) => {
  const counts = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  for (const [ms, n] of pairs)
    counts[LATENCY_BOUNDS_MS.indexOf(ms as (typeof LATENCY_BOUNDS_MS)[number])]! += n;
  return counts;
};

const bucket = (second: number, revisions: MetricsBucket['revisions']): MetricsBucket => ({
  second,
  revisions,
});

test('a second per revision: requests, 5xx as errors, p50/p99 from the histogram, null without requests', () => {
  const cases: [string, MetricsBucket['revisions'][number], object][] = [
    [
      'all fast',
      { revision: 1, requests: 100, errors5xx: 0, connectFailures: 0, latency: latency([5, 100]) },
      { revision: 1, requests: 100, errors: 0, p50: 4, p99: 4.98 },
    ],
    [
      'a slow tail',
      { revision: 2, requests: 100, errors5xx: 7, connectFailures: 2, latency: latency([5, 98], [500, 2]) },
      { revision: 2, requests: 100, errors: 7, p50: 4.02, p99: 400 },
    ],
    [
      'no requests',
      { revision: 3, requests: 0, errors5xx: 0, connectFailures: 0, latency: latency() },
      { revision: 3, requests: 0, errors: 0, p50: null, p99: null },
    ],
  ];
  for (const [name, counters, want] of cases)
    assert.deepEqual(summarise(bucket(1_700_000_000, [counters])).revisions[0], want, name);
});

test('series: the seconds asked for, from the data plane when nothing was kept', async () => {
  const now = Math.floor(Date.now() / 1000);
  const asked: number[] = [];
  const feed = new LiveFeed({
    views: { detail: async () => assert.fail('no detail is needed') },
    appNames: () => ['shop'],
    metrics: async (_app, since) => {
      asked.push(since);
      return [since, since + 1, since + 2].map((s) =>
        bucket(s, [{ revision: 1, requests: 1, errors5xx: 0, connectFailures: 0, latency: latency([1, 1]) }]),
      );
    },
    onEvent: () => () => {},
    onError: (err) => assert.fail(String(err)),
  });
  const points = await feed.series('shop', now - 10);
  assert.deepEqual(asked, [now - 10]);
  assert.deepEqual(
    points.map((p) => p.second),
    [now - 10, now - 9, now - 8],
  );
  feed.close();
});
