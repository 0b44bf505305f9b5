import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  binomial,
  lognormalHistogram,
  points,
  prng,
  repeat,
} from '../../../test/support/analysis-fixtures.ts';
import { beforeLatency, judgeBeforeAfter, referencePoints, summarizeBefore } from './before-after.ts';
import { addHistogram, emptyHistogram, quantile } from './histogram.ts';
import { emptyPoint, type Point } from './series.ts';

const SWITCH = 1_000_000; // the second of the switch

/** `seconds` of one revision at `rps`, failing with `errorRate`, log-normal latency around `median`. */
function series(
  random: () => number,
  o: { start: number; seconds: number; rps: number; errorRate: number; median?: number },
): Point[] {
  return Array.from({ length: o.seconds }, (_, i) => ({
    ...emptyPoint(o.start + i),
    requests: o.rps,
    errors5xx: binomial(random, o.rps, o.errorRate),
    latency: lognormalHistogram(random, o.rps, o.median ?? 2, 0.3),
  }));
}

/** Judged at the end of `after`: the test tracks the first crossing, so this tells if it ever decided. */
function judgeAt(before: Point[], after: Point[]) {
  const last = after.at(-1)!.second;
  return judgeBeforeAfter(summarizeBefore(before, SWITCH), after, {
    since: SWITCH * 1000,
    now: (last + 1) * 1000,
  });
}

test('a release failing well above its predecessor is judged worse within seconds', () => {
  const cases = [
    { before: 0, after: 0.5, within: 2 },
    { before: 0, after: 0.2, within: 2 },
    { before: 0, after: 0.08, within: 3 },
    { before: 0.005, after: 0.08, within: 5 },
    { before: 0, after: 0.05, within: 5 },
  ];
  for (const c of cases) {
    const random = prng(7);
    const before = series(random, { start: SWITCH - 100, seconds: 100, rps: 200, errorRate: c.before });
    const after = series(random, { start: SWITCH, seconds: 60, rps: 200, errorRate: c.after });
    const j = judgeAt(before, after);
    assert.equal(j.verdict, 'Worse', `${c.after} after ${c.before}: ${j.message}`);
    assert.equal(j.metric, 'errorRate');
    const decidedAt = j.stats.decidedAt as number;
    assert.ok(
      decidedAt <= (SWITCH + c.within) * 1000,
      `${c.after}: decided ${decidedAt / 1000 - SWITCH}s in`,
    );
  }
});

test('a release as healthy as its predecessor is never judged worse (300 runs of 15 minutes)', () => {
  let worse = 0;
  for (let run = 0; run < 300; run++) {
    const random = prng(1000 + run);
    const rate = [0, 0.001, 0.01, 0.03][run % 4]!;
    const rps = [20, 50, 200][run % 3]!;
    const before = series(random, { start: SWITCH - 110, seconds: 110, rps, errorRate: rate });
    const after = series(random, { start: SWITCH, seconds: 900, rps, errorRate: rate });
    if (judgeAt(before, after).verdict === 'Worse') worse++;
  }
  assert.equal(worse, 0);
});

test('a 3x slower release is judged worse on latency', () => {
  const random = prng(3);
  const before = series(random, { start: SWITCH - 100, seconds: 100, rps: 100, errorRate: 0, median: 10 });
  const after = series(random, { start: SWITCH, seconds: 45, rps: 100, errorRate: 0, median: 30 });
  const j = judgeAt(before, after);
  assert.equal(j.verdict, 'Worse');
  assert.equal(j.metric, 'latency');
  assert.match(j.message, /^before\/after: release median latency.*in every 10s window for 20s$/);
  // Not before the warm-up (10 s), a first window (10 s) and 20 s of persistence.
  assert.notEqual(judgeAt(before, after.slice(0, 35)).verdict, 'Worse');
});

test('a spike of slowness that passes is not judged slower: the box, not the release', () => {
  const random = prng(11);
  const before = series(random, { start: SWITCH - 100, seconds: 100, rps: 100, errorRate: 0, median: 10 });
  const after = [
    ...series(random, { start: SWITCH, seconds: 20, rps: 100, errorRate: 0, median: 10 }),
    ...series(random, { start: SWITCH + 20, seconds: 15, rps: 100, errorRate: 0, median: 40 }),
    ...series(random, { start: SWITCH + 35, seconds: 30, rps: 100, errorRate: 0, median: 10 }),
  ];
  for (let end = 25; end <= after.length; end++)
    assert.notEqual(judgeAt(before, after.slice(0, end)).verdict, 'Worse', `after ${end}s`);
});

test('a fresh process that is slow while it warms up is not judged slower', () => {
  const random = prng(5);
  const before = series(random, { start: SWITCH - 100, seconds: 100, rps: 300, errorRate: 0, median: 5 });
  const cold = series(random, { start: SWITCH, seconds: 8, rps: 300, errorRate: 0, median: 12 });
  const warm = series(random, { start: SWITCH + 8, seconds: 60, rps: 300, errorRate: 0, median: 5 });
  const j = judgeAt(before, [...cold, ...warm]);
  assert.notEqual(j.verdict, 'Worse', j.message);
  assert.equal(j.parts[1]!.verdict, 'NotWorse', j.parts[1]!.message);
});

test('too thin or too old a reference gives no judgment, never a guess', () => {
  const after = points(SWITCH, repeat(30, { requests: 200, errors: 100 }));
  const thin = judgeAt(points(SWITCH - 10, repeat(10, { requests: 5 })), after);
  assert.equal(thin.judged, false);
  assert.equal(thin.verdict, 'Continue');
  assert.match(thin.message, /served 50 requests before the switch, 100 needed/);
  const old = judgeAt(points(SWITCH - 100, repeat(30, { requests: 50 })), after);
  assert.equal(old.judged, false);
  assert.match(old.message, /last traffic was 70s before the switch/);
  const none = judgeAt([], after);
  assert.match(none.message, /no traffic before the switch/);
});

test('a minimum sample after the switch: one error in two requests is not an outage', () => {
  const before = points(SWITCH - 60, repeat(60, { requests: 100 }));
  const j = judgeAt(before, points(SWITCH, [{ requests: 2, errors: 1 }]));
  assert.equal(j.verdict, 'Continue');
  assert.match(j.message, /2 of 50 requests needed/);
});

test('the reference ends before the switch second and ignores seconds without traffic', () => {
  const p = points(SWITCH - 3, [
    { requests: 10, errors: 1 },
    { requests: 0 },
    { requests: 20 },
    { requests: 99 },
  ]);
  const s = summarizeBefore(p, SWITCH);
  assert.deepEqual(
    { from: s?.from, to: s?.to, requests: s?.requests, errors: s?.errors },
    { from: SWITCH - 3, to: SWITCH - 1, requests: 30, errors: 1 },
  );
});

test('after a full switch, relative rules compare with the reference second by second', () => {
  const before = summarizeBefore(
    points(SWITCH - 10, repeat(10, { requests: 50, errors: 1, latencyMs: 20 })),
    SWITCH,
  )!;
  const ref = referencePoints(before, SWITCH, SWITCH + 2);
  assert.deepEqual(
    ref.map((p) => [p.second, p.requests, p.errors5xx]),
    [
      [SWITCH, 50, 1],
      [SWITCH + 1, 50, 1],
      [SWITCH + 2, 50, 1],
    ],
  );
  assert.equal(quantile(ref[0]!.latency, 0.99), quantile(beforeLatency(before), 0.99));
});

test('a reference kept by the code before samples carried bounds judges the same; one in other bounds keeps them', () => {
  const random = prng(12);
  const before = series(random, { start: SWITCH - 100, seconds: 100, rps: 100, errorRate: 0, median: 5 });
  const after = series(random, { start: SWITCH, seconds: 40, rps: 100, errorRate: 0, median: 20 });
  const summary = summarizeBefore(before, SWITCH)!;
  assert.equal('latencyBoundsMs' in summary, false, 'built-in bounds: kept as counts, as before');
  const options = { since: SWITCH * 1000, now: (SWITCH + 40) * 1000 };
  const kept = JSON.parse(JSON.stringify(summary));
  assert.deepEqual(judgeBeforeAfter(kept, after, options), judgeBeforeAfter(summary, after, options));
  assert.equal(judgeBeforeAfter(kept, after, options).metric, 'latency');

  const bounds = [1, 2, 5, 10, 20, 50, 100];
  const coarse: Point[] = before.map((p) => {
    const h = emptyHistogram(bounds);
    addHistogram(h, p.latency);
    return { ...p, latency: h };
  });
  const other = summarizeBefore(coarse, SWITCH)!;
  assert.deepEqual(other.latencyBoundsMs, bounds);
  assert.deepEqual(beforeLatency(JSON.parse(JSON.stringify(other))).boundsMs, bounds);
  assert.equal(
    judgeBeforeAfter(other, after, options).metric,
    'latency',
    'the release is re-binned onto them',
  );
});
