import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LATENCY_BOUNDS_MS, type MetricsBucket } from '../../providers/builtin/proxy/types.ts';
import {
  emptyPoint,
  errorRate,
  LATENCY_BUCKETS,
  type Point,
  pointFromJson,
  pointsFromBuckets,
  pointToJson,
  quantile,
  requestRate,
  SeriesBuffer,
  SeriesIndex,
  sumWindow,
  UNKNOWN_HEALTH,
} from './series.ts';
import { bucketOf, histogramAt, points, prng, repeat } from './test-helpers.ts';

const hist = (entries: Record<number, number>) => {
  const h = new Array<number>(LATENCY_BUCKETS).fill(0);
  for (const [i, n] of Object.entries(entries)) h[Number(i)] = n;
  return h;
};

const quantiles: [string, number[], number, number | null][] = [
  ['empty histogram', hist({}), 0.5, null],
  ['first bucket starts at 0', hist({ 0: 10 }), 0.5, 0.25],
  ['interpolated within the bucket', hist({ 6: 100 }), 0.5, 8.75], // (7.5, 10]
  ['upper edge', hist({ 6: 100 }), 1, 10],
  ['spread over two buckets', hist({ 6: 50, 8: 50 }), 0.75, 17.5], // (15, 20]
  ['p99 in the tail', hist({ 6: 99, 12: 1 }), 0.99, 10],
  ['p99 just past the bulk', hist({ 6: 98, 12: 2 }), 0.99, 87.5], // (75, 100]
  ['open last bucket reports the last bound', hist({ [LATENCY_BUCKETS - 1]: 5 }), 0.5, 10_000],
  ['q=0 gives the first occupied bucket', hist({ 3: 5, 9: 5 }), 0, 2],
];

for (const [what, h, q, expected] of quantiles) {
  test(`quantile: ${what}`, () => {
    const got = quantile(h, q);
    if (expected === null) assert.equal(got, null);
    else assert.ok(got !== null && Math.abs(got - expected) < 1e-9, `got ${got}, want ${expected}`);
  });
}

test('bucketOf and LATENCY_BUCKETS agree with LATENCY_BOUNDS_MS', () => {
  assert.equal(LATENCY_BUCKETS, LATENCY_BOUNDS_MS.length + 1);
  assert.equal(bucketOf(0.1), 0);
  assert.equal(bucketOf(10), 6);
  assert.equal(bucketOf(10.01), 7);
  assert.equal(bucketOf(1e6), LATENCY_BUCKETS - 1);
});

const rates: [string, { requests: number; errors5xx: number; connectFailures: number }, number | null][] = [
  ['no requests', { requests: 0, errors5xx: 0, connectFailures: 0 }, null],
  ['none failed', { requests: 100, errors5xx: 0, connectFailures: 0 }, 0],
  ['5xx and connect failures count', { requests: 100, errors5xx: 3, connectFailures: 2 }, 0.05],
  ['capped at 1', { requests: 2, errors5xx: 2, connectFailures: 1 }, 1],
];
for (const [what, sum, expected] of rates)
  test(`errorRate: ${what}`, () => assert.equal(errorRate(sum), expected));

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
  assert.equal(sum.latency[bucketOf(5)], 10);
  assert.equal(sum.latency[bucketOf(50)], 20);
  assert.equal(sum.latency[bucketOf(500)], 0);
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
  }
});

test('pointsFromBuckets splits per revision, sorts, fills idle revisions and health', () => {
  const lat = new Array<number>(LATENCY_BUCKETS).fill(0);
  lat[3] = 4;
  const buckets: MetricsBucket[] = [
    { second: 11, revisions: [{ revision: 2, requests: 1, errors5xx: 1, connectFailures: 0, latency: lat }] },
    {
      second: 10,
      revisions: [
        { revision: 1, requests: 9, errors5xx: 0, connectFailures: 1, latency: lat },
        { revision: 2, requests: 4, errors5xx: 0, connectFailures: 0, latency: lat },
      ],
    },
  ];
  const byRevision = pointsFromBuckets(buckets, {
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
  assert.equal(one[0]!.latency.length, LATENCY_BUCKETS);
  assert.equal(one[0]!.latency[3], 4);
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
  const bucket: MetricsBucket = {
    second: 20,
    revisions: [{ revision: 2, requests: 3, errors5xx: 0, connectFailures: 0, latency: [] }],
  };
  const [point] = pointsFromBuckets([bucket], { health: () => UNKNOWN_HEALTH }).get(2)!;
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
