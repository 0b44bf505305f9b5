import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketOf, histogramAt, points, prng, repeat } from '../../../test/support/analysis-fixtures.ts';
import { BUILTIN_LATENCY_BOUNDS_MS } from '../../providers/builtin/metrics/builtin-metrics-source.ts';
import type { LatencyHistogram, MetricsSample } from '../../providers/metrics-source.ts';
import { emptyHistogram, quantile } from './histogram.ts';
import {
  emptyPoint,
  errorRate,
  failedRequests,
  type Point,
  pointFromJson,
  pointsFromSamples,
  pointToJson,
  requestRate,
  SeriesBuffer,
  SeriesIndex,
  sumWindow,
  UNKNOWN_HEALTH,
} from './series.ts';

const BUCKETS = BUILTIN_LATENCY_BOUNDS_MS.length + 1;
const hist = (entries: Record<number, number>): LatencyHistogram => {
  const h = emptyHistogram(BUILTIN_LATENCY_BOUNDS_MS);
  for (const [i, n] of Object.entries(entries)) h.counts[Number(i)] = n;
  return h;
};

const quantiles: [string, LatencyHistogram, number, number | null][] = [
  ['empty histogram', hist({}), 0.5, null],
  ['first bucket starts at 0', hist({ 0: 10 }), 0.5, 0.25],
  ['interpolated within the bucket', hist({ 6: 100 }), 0.5, 8.75], // (7.5, 10]
  ['upper edge', hist({ 6: 100 }), 1, 10],
  ['spread over two buckets', hist({ 6: 50, 8: 50 }), 0.75, 17.5], // (15, 20]
  ['p99 in the tail', hist({ 6: 99, 12: 1 }), 0.99, 10],
  ['p99 just past the bulk', hist({ 6: 98, 12: 2 }), 0.99, 87.5], // (75, 100]
  ['open last bucket reports the last bound', hist({ [BUCKETS - 1]: 5 }), 0.5, 10_000],
  ['q=0 gives the first occupied bucket', hist({ 3: 5, 9: 5 }), 0, 2],
];

for (const [what, h, q, expected] of quantiles) {
  test(`quantile: ${what}`, () => {
    const got = quantile(h, q);
    if (expected === null) assert.equal(got, null);
    else assert.ok(got !== null && Math.abs(got - expected) < 1e-9, `got ${got}, want ${expected}`);
  });
}

test('bucketOf agrees with the built-in bounds', () => {
  assert.equal(bucketOf(0.1), 0);
  assert.equal(bucketOf(10), 6);
  assert.equal(bucketOf(10.01), 7);
  assert.equal(bucketOf(1e6), BUCKETS - 1);
});

// Prometheus-style `le` buckets: the quantile is computed with the bounds the histogram carries.
const le = (boundsMs: number[], counts: number[]): LatencyHistogram => ({ boundsMs, counts });
const otherBounds: [string, LatencyHistogram, number, number | null][] = [
  ['interpolated within its own bucket', le([100, 250, 1000], [0, 10, 0, 0]), 0.5, 175],
  ['first bucket from 0', le([100, 250, 1000], [4, 0, 0, 0]), 0.5, 50],
  ['open last bucket reports its own last bound', le([100, 250, 1000], [0, 0, 0, 3]), 0.99, 1000],
  ['p99 spread', le([5, 10], [99, 0, 1]), 0.99, 5],
  ['empty', le([5, 10], [0, 0, 0]), 0.5, null],
];
for (const [what, h, q, expected] of otherBounds) {
  test(`quantile with the sample's bounds: ${what}`, () => {
    const got = quantile(h, q);
    if (expected === null) assert.equal(got, null);
    else assert.ok(got !== null && Math.abs(got - expected) < 1e-9, `got ${got}, want ${expected}`);
  });
}

// THE error rate (runbook: "error rate > 5%"): failed (5xx + connection failures, at most the
// requests) over all the requests of the window; null without requests.
const rates: [
  string,
  { requests: number; errors5xx: number; connectFailures: number },
  number,
  number | null,
][] = [
  ['no requests', { requests: 0, errors5xx: 0, connectFailures: 0 }, 0, null],
  [
    'connect failures without requests (all retried elsewhere)',
    { requests: 0, errors5xx: 0, connectFailures: 4 },
    0,
    null,
  ],
  ['none failed', { requests: 100, errors5xx: 0, connectFailures: 0 }, 0, 0],
  ['5xx only', { requests: 100, errors5xx: 5, connectFailures: 0 }, 5, 0.05],
  ['5xx and connect failures count', { requests: 100, errors5xx: 3, connectFailures: 2 }, 5, 0.05],
  [
    'connect failures are not added to the requests',
    { requests: 18, errors5xx: 3, connectFailures: 2 },
    5,
    5 / 18,
  ],
  ['capped at the requests', { requests: 2, errors5xx: 2, connectFailures: 1 }, 2, 1],
  ['fractional counts (a reference second)', { requests: 2.5, errors5xx: 0.5, connectFailures: 0 }, 0.5, 0.2],
];
for (const [what, counts, failed, expected] of rates)
  test(`errorRate: ${what}`, () => {
    assert.equal(failedRequests(counts), failed);
    assert.equal(errorRate(counts), expected);
  });

test('requestRate is requests over the seconds of the window, gaps included', () => {
  const sum = sumWindow(points(10, [{ requests: 30 }, { requests: 10 }]), 10, 13);
  assert.equal(sum.seconds, 4);
  assert.equal(sum.knownSeconds, 2);
  assert.equal(requestRate(sum), 10);
});

test('sumWindow sums counters, histograms and health seconds inside the window only', () => {
  const ps = points(100, [
    { requests: 10, errors: 1, latencyMs: 5, healthFailing: true },
    { requests: 20, errors: 2, latencyMs: 50, unavailable: true },
    { requests: 40, errors: 4, latencyMs: 500 },
  ]);
  const sum = sumWindow(ps, 100, 101);
  assert.equal(sum.requests, 30);
  assert.equal(sum.errors5xx, 3);
  assert.equal(sum.healthFailingSeconds, 1);
  assert.equal(sum.unavailableSeconds, 1);
  assert.equal(sum.latency.counts[bucketOf(5)], 10);
  assert.equal(sum.latency.counts[bucketOf(50)], 20);
  assert.equal(sum.latency.counts[bucketOf(500)], 0);
  assert.equal(sum.latency.boundsMs, BUILTIN_LATENCY_BOUNDS_MS);
});

test('SeriesIndex gives the same sums as sumWindow (random windows)', () => {
  const random = prng(1);
  const ps: Point[] = [];
  for (let s = 0; s < 120; s++) {
    if (random() < 0.2) continue; // gaps
    ps.push({
      ...emptyPoint(5000 + s),
      requests: Math.floor(random() * 50),
      errors5xx: Math.floor(random() * 3),
      connectFailures: Math.floor(random() * 2),
      latency: histogramAt(random() * 300, 7),
      healthFailing: random() < 0.3,
      unavailable: random() < 0.1,
      ...(random() < 0.1 ? { healthUnknown: true } : {}),
      ...(random() < 0.7 && {
        usage: {
          cpu: random() < 0.2 ? null : random(),
          cpuCores: null,
          memory: random(),
          memoryBytes: null,
          logErrors: random() < 0.2 ? null : Math.floor(random() * 5),
          logLines: null,
        },
      }),
    });
  }
  const index = new SeriesIndex(ps, 4990, 5130);
  for (let i = 0; i < 200; i++) {
    const a = 4990 + Math.floor(random() * 140);
    const b = a + Math.floor(random() * 60);
    const want = sumWindow(ps, a, b);
    const got = index.sum(a, b);
    assert.equal(got.requests, want.requests);
    assert.equal(got.errors5xx, want.errors5xx + want.connectFailures);
    assert.equal(got.knownSeconds, want.knownSeconds);
    assert.equal(got.healthKnownSeconds, want.healthKnownSeconds);
    assert.equal(got.healthFailingSeconds, want.healthFailingSeconds);
    assert.equal(got.unavailableSeconds, want.unavailableSeconds);
    assert.deepEqual(got.latency, want.latency);
    assert.equal(index.requests(a, b), want.requests);
    for (const key of ['cpuSeconds', 'cpu', 'memorySeconds', 'memory', 'logSeconds', 'logErrors'] as const)
      assert.ok(Math.abs(got[key] - want[key]) < 1e-9, `${key}: ${got[key]} vs ${want[key]}`);
  }
});

test('pointsFromSamples splits per revision, sorts, fills idle revisions and health', () => {
  const lat = hist({ 3: 4 });
  const buckets: MetricsSample[] = [
    { second: 11, revisions: [{ revision: 2, requests: 1, errors5xx: 1, connectFailures: 0, latency: lat }] },
    {
      second: 10,
      revisions: [
        { revision: 1, requests: 9, errors5xx: 0, connectFailures: 1, latency: lat },
        { revision: 2, requests: 4, errors5xx: 0, connectFailures: 0, latency: lat },
      ],
    },
  ];
  const byRevision = pointsFromSamples(buckets, {
    revisions: [1, 2],
    health: (revision, second) => ({ healthFailing: revision === 2 && second === 11, unavailable: false }),
  });
  const one = byRevision.get(1)!;
  const two = byRevision.get(2)!;
  assert.deepEqual(
    one.map((p) => [p.second, p.requests, p.connectFailures]),
    [
      [10, 9, 1],
      [11, 0, 0],
    ],
  );
  assert.deepEqual(
    two.map((p) => [p.second, p.requests, p.healthFailing]),
    [
      [10, 4, false],
      [11, 1, true],
    ],
  );
  assert.equal(one[0]!.latency.counts.length, BUCKETS);
  assert.equal(one[0]!.latency.counts[3], 4);
  assert.equal(one[0]!.latency.boundsMs, BUILTIN_LATENCY_BOUNDS_MS);
});

test('SeriesBuffer keeps order, replaces a re-read second and drops what is older than its capacity', () => {
  const buffer = new SeriesBuffer(5);
  for (const s of [1, 2, 4, 3]) buffer.append({ ...emptyPoint(s), requests: s });
  assert.deepEqual(
    buffer.points().map((p) => p.second),
    [1, 2, 3, 4],
  );
  buffer.append({ ...emptyPoint(2), requests: 99 });
  assert.equal(buffer.points(2, 2)[0]!.requests, 99);
  assert.equal(buffer.size, 4);
  buffer.appendAll(points(5, repeat(3, { requests: 1 })));
  assert.deepEqual(
    buffer.points().map((p) => p.second),
    [3, 4, 5, 6, 7],
  );
  assert.equal(buffer.latestSecond, 7);
  buffer.append(emptyPoint(1)); // older than the window: dropped at once
  assert.equal(buffer.points()[0]!.second, 3);
  assert.throws(() => new SeriesBuffer(0), /capacity/);
});

test('a second whose health nobody saw counts for traffic, not for the health shares', () => {
  const ps: Point[] = [
    { ...emptyPoint(10), requests: 5, healthFailing: true },
    { ...emptyPoint(11), requests: 7, healthUnknown: true },
    { ...emptyPoint(12), requests: 1, healthFailing: true, unavailable: true },
  ];
  const sum = sumWindow(ps, 10, 12);
  assert.equal(sum.knownSeconds, 3);
  assert.equal(sum.requests, 13);
  assert.equal(sum.healthKnownSeconds, 2);
  assert.equal(sum.healthFailingSeconds, 2);
  assert.equal(sum.unavailableSeconds, 1);
  const bucket: MetricsSample = {
    second: 20,
    revisions: [
      {
        revision: 2,
        requests: 3,
        errors5xx: 0,
        connectFailures: 0,
        latency: emptyHistogram(BUILTIN_LATENCY_BOUNDS_MS),
      },
    ],
  };
  const [point] = pointsFromSamples([bucket], { health: () => UNKNOWN_HEALTH }).get(2)!;
  assert.equal(point!.healthUnknown, true);
  assert.equal(point!.healthFailing, false);
});

test('a point survives the store as JSON; data this version cannot read is refused, not guessed', () => {
  const point: Point = {
    ...emptyPoint(1_800_000_000),
    requests: 40,
    errors5xx: 3,
    connectFailures: 1,
    latency: hist({ 4: 30, 12: 10 }),
    healthFailing: true,
  };
  const stored = JSON.parse(JSON.stringify(pointToJson(point)));
  assert.equal('second' in stored, false, 'the second is the row key');
  assert.deepEqual(pointFromJson(point.second, stored), point);
  const unknown = { ...emptyPoint(7), healthUnknown: true };
  assert.deepEqual(pointFromJson(7, JSON.parse(JSON.stringify(pointToJson(unknown)))), unknown);
  const measured: Point = {
    ...point,
    usage: { cpu: 0.25, cpuCores: 0.5, memory: 0.1, memoryBytes: 2e9, logErrors: 3, logLines: 40 },
  };
  assert.deepEqual(pointFromJson(point.second, JSON.parse(JSON.stringify(pointToJson(measured)))), measured);
  assert.equal(
    pointFromJson(point.second, { ...stored, usage: { cpu: 'busy' } })?.usage,
    undefined,
    'usage this version cannot read is left out, the traffic kept',
  );
  const bad: [string, unknown][] = [
    ['not an object', 3],
    ['null', null],
    ['negative requests', { ...stored, requests: -1 }],
    ['missing errors', { ...stored, errors5xx: undefined }],
    ['latency not a list', { ...stored, latency: 'fast' }],
    ['latency with a string', { ...stored, latency: [1, '2'] }],
  ];
  for (const [name, data] of bad) assert.equal(pointFromJson(1, data), null, name);
});

test('a series stored before histograms carried bounds reads with the built-in proxy bounds', () => {
  // A row as the code before MetricsSource wrote it: counts only.
  const legacy = {
    requests: 40,
    errors5xx: 3,
    connectFailures: 1,
    latency: [0, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 10],
    healthFailing: false,
    unavailable: false,
  };
  const point = pointFromJson(5, legacy)!;
  assert.equal(point.latency.boundsMs, BUILTIN_LATENCY_BOUNDS_MS);
  assert.equal(point.latency.counts.length, BUCKETS);
  assert.equal(quantile(point.latency, 0.99), quantile(hist({ 4: 30, 12: 10 }), 0.99));
  // The built-in source's rows are written as they were: no bounds beside the counts.
  assert.equal('latencyBoundsMs' in (pointToJson(point) as object), false);
});

test('a point counted in other bounds keeps them through the store; bad bounds are refused', () => {
  const point: Point = { ...emptyPoint(9, [100, 250, 1000]), requests: 5 };
  (point.latency.counts as number[])[1] = 5;
  const stored = JSON.parse(JSON.stringify(pointToJson(point)));
  assert.deepEqual(stored.latencyBoundsMs, [100, 250, 1000]);
  assert.deepEqual(pointFromJson(9, stored), point);
  assert.equal(pointFromJson(9, { ...stored, latencyBoundsMs: [250, 100] }), null, 'not ascending');
  assert.equal(pointFromJson(9, { ...stored, latencyBoundsMs: 'le' }), null, 'not a list');
});

test('a window summed over points with other bounds re-bins them, never faster than measured', () => {
  const coarse = (ms: number, n: number): Point => {
    const p = { ...emptyPoint(0, [5, 50, 500]), requests: n };
    (p.latency.counts as number[])[[5, 50, 500].findIndex((b) => ms <= b)] = n;
    return p;
  };
  const ps: Point[] = [
    { ...coarse(40, 10), second: 1 }, // (5, 50]: counted at 50 ms in the built-in bounds
    { ...points(2, [{ requests: 10, latencyMs: 3 }])[0]! },
  ];
  const sum = sumWindow(ps, 1, 2);
  assert.deepEqual(
    sum.latency.boundsMs,
    [5, 50, 500],
    "the first point with traffic sets the window's bounds",
  );
  assert.deepEqual(sum.latency.counts, [10, 10, 0, 0]);
  const index = new SeriesIndex(ps, 1, 2);
  assert.deepEqual(index.sum(1, 2).latency, sum.latency);
  const builtinFirst = sumWindow([ps[1]!, { ...ps[0]!, second: 3 }], 2, 3);
  assert.equal(builtinFirst.latency.counts[bucketOf(3)], 10);
  assert.equal(builtinFirst.latency.counts[bucketOf(50)], 10);
});
