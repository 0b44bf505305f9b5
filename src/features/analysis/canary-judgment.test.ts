import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { points, prng, repeat, simulateCanary } from '../../../test/support/analysis-fixtures.ts';
import {
  judgeCanary,
  judgeErrorRate,
  judgeLatency,
  mannWhitney,
  normalUpperTail,
} from './canary-judgment.ts';

const LATENCY_BUCKETS = 23; // the built-in proxy's: any number of buckets works

const S = 1_700_000_000;

/** Canary requests until Worse, over `runs` seeded analyses of 10% of 200 req/s with a 0.5% baseline. */
function detection(canaryErrorRate: number, runs: number, seconds: number, seed: number) {
  const random = prng(seed);
  const found: number[] = [];
  for (let i = 0; i < runs; i++) {
    const sim = simulateCanary(random, {
      seconds,
      rps: 200,
      weight: 0.1,
      canaryErrorRate,
      baselineErrorRate: 0.005,
    });
    const j = judgeErrorRate(sim.candidate, sim.baseline);
    if (j.verdict === 'Worse') found.push(j.stats.decidedAfterRequests as number);
  }
  found.sort((a, b) => a - b);
  return { detected: found.length, median: found[found.length >> 1] ?? null, worst: found.at(-1) ?? null };
}

const detections: [number, number, number][] = [
  // canary error rate, seconds simulated (20 canary req/s), canary requests within which every run is Worse
  [1, 20, 100],
  [0.2, 20, 150],
  [0.05, 100, 1000],
  [0.02, 300, 4000],
];

for (const [rate, seconds, within] of detections) {
  test(`error rate ${rate * 100}% vs 0.5% at 10% weight is Worse within ${within} canary requests`, (t: TestContext) => {
    const d = detection(rate, 30, seconds, 17);
    t.diagnostic(
      `${rate * 100}%: detected ${d.detected}/30, median ${d.median}, worst ${d.worst} canary requests`,
    );
    assert.equal(d.detected, 30);
    assert.ok(d.worst! <= within, `worst ${d.worst}`);
  });
}

test('equal canaries (0.5% vs 0.5%): fewer than 2 false Worse in 200 analyses of 5000 canary requests', (t: TestContext) => {
  const random = prng(2024);
  let worse = 0;
  let notWorse = 0;
  for (let i = 0; i < 200; i++) {
    const sim = simulateCanary(random, {
      seconds: 50,
      rps: 1000,
      weight: 0.1,
      canaryErrorRate: 0.005,
      baselineErrorRate: 0.005,
    });
    const j = judgeErrorRate(sim.candidate, sim.baseline);
    if (j.verdict === 'Worse') worse++;
    if (j.verdict === 'NotWorse') notWorse++;
  }
  t.diagnostic(`false Worse ${worse}/200, NotWorse ${notWorse}/200`);
  assert.ok(worse < 2, `${worse} false alarms`);
});

test('at the margin itself (1.5x, no absolute margin) false alarms stay near 1 - confidence', (t: TestContext) => {
  const random = prng(99);
  let worse = 0;
  for (let i = 0; i < 200; i++) {
    const sim = simulateCanary(random, {
      seconds: 100,
      rps: 1000,
      weight: 0.1,
      canaryErrorRate: 0.0075,
      baselineErrorRate: 0.005,
    });
    if (judgeErrorRate(sim.candidate, sim.baseline, { absoluteMargin: 0 }).verdict === 'Worse') worse++;
  }
  t.diagnostic(`false Worse at the margin: ${worse}/200`);
  assert.ok(worse <= 6, `${worse}`); // alpha = 1%: about 2 expected
});

const small: [string, number, number, number, number, 'Worse' | 'NotWorse' | 'Continue', RegExp][] = [
  // what, canary requests/s, canary errors/s, baseline requests/s, baseline errors/s (10 seconds)
  ['one error in two requests never decides', 0, 0, 90, 0, 'Continue', /2 of 50 canary requests needed/],
  ['no baseline traffic', 10, 5, 0, 0, 'Continue', /no baseline traffic/],
  ['no errors anywhere: no decision', 10, 0, 90, 0, 'Continue', /no decision yet/],
  [
    'all canary requests fail',
    10,
    10,
    90,
    0,
    'Worse',
    /worse with 99% confidence .* after 50 canary requests/,
  ],
];

for (const [what, nc, ec, nb, eb, verdict, message] of small) {
  test(`judgeErrorRate: ${what}`, () => {
    const candidate = points(S, repeat(10, { requests: nc, errors: ec }));
    if (what.startsWith('one error')) candidate.push(...points(S + 10, [{ requests: 2, errors: 1 }]));
    const j = judgeErrorRate(candidate, points(S, repeat(10, { requests: nb, errors: eb })));
    assert.equal(j.verdict, verdict, j.message);
    assert.equal(j.metric, 'errorRate');
    assert.match(j.message, message);
  });
}

test('judgeErrorRate: a canary worse by less than the absolute margin is not flagged', () => {
  // 0.4% vs 0.01%: a huge ratio, but under half a percentage point.
  const random = prng(5);
  const sim = simulateCanary(random, {
    seconds: 300,
    rps: 1000,
    weight: 0.1,
    canaryErrorRate: 0.004,
    baselineErrorRate: 0.0001,
  });
  assert.notEqual(judgeErrorRate(sim.candidate, sim.baseline).verdict, 'Worse');
  assert.equal(judgeErrorRate(sim.candidate, sim.baseline, { absoluteMargin: 0 }).verdict, 'Worse');
});

test('judgeErrorRate: since and now select the analysis window', () => {
  const candidate = points(S, [...repeat(20, { requests: 10, errors: 10 }), ...repeat(20, { requests: 10 })]);
  const baseline = points(S, repeat(40, { requests: 90 }));
  assert.equal(judgeErrorRate(candidate, baseline).verdict, 'Worse');
  assert.notEqual(judgeErrorRate(candidate, baseline, { since: (S + 20) * 1000 }).verdict, 'Worse');
  assert.equal(judgeErrorRate(candidate, baseline, { now: (S + 3) * 1000 }).stats.canaryRequests, 30);
});

test('judgeErrorRate: Worse is sticky and names when it was decided', () => {
  const candidate = points(S, [
    ...repeat(10, { requests: 10, errors: 10 }),
    ...repeat(100, { requests: 10 }),
  ]);
  const baseline = points(S, repeat(110, { requests: 90 }));
  const j = judgeErrorRate(candidate, baseline);
  assert.equal(j.verdict, 'Worse');
  assert.equal(j.stats.decidedAt, (S + 5) * 1000);
  assert.equal(j.stats.decidedAfterRequests, 50);
  assert.equal(j.stats.canaryRequests, 1100);
});

test('normalUpperTail matches known values', () => {
  for (const [z, p] of [
    [0, 0.5],
    [1.6448536, 0.05],
    [2.3263479, 0.01],
    [3.0902323, 0.001],
    [-1.959964, 0.975],
  ] as const)
    assert.ok(Math.abs(normalUpperTail(z) - p) < 1e-6, `${z}`);
});

test('mannWhitney with bucket ties equals the brute-force U', () => {
  const random = prng(8);
  for (let run = 0; run < 20; run++) {
    const a = Array.from({ length: LATENCY_BUCKETS }, () => (random() < 0.3 ? Math.floor(random() * 6) : 0));
    const b = Array.from({ length: LATENCY_BUCKETS }, () => (random() < 0.3 ? Math.floor(random() * 6) : 0));
    a[3]! += 1;
    b[5]! += 1;
    let brute = 0;
    for (let i = 0; i < LATENCY_BUCKETS; i++)
      for (let j = 0; j < LATENCY_BUCKETS; j++) brute += a[i]! * b[j]! * (i > j ? 1 : i === j ? 0.5 : 0);
    assert.ok(Math.abs(mannWhitney(a, b).u - brute) < 1e-9);
  }
  const same = mannWhitney([0, 10, 0], [0, 10, 0]);
  assert.equal(same.pValue, 1);
});

test('latency three times the baseline is Worse; equal latency is not, over 100 seeded analyses each', (t: TestContext) => {
  const random = prng(31);
  let slowWorse = 0;
  let equalWorse = 0;
  let equalNotWorse = 0;
  let slowAfter = 0;
  for (let i = 0; i < 100; i++) {
    const slow = simulateCanary(random, {
      ...{ seconds: 5, rps: 200, weight: 0.1, canaryErrorRate: 0, baselineErrorRate: 0 },
      ...{ canaryMedianMs: 60, baselineMedianMs: 20 },
    });
    const js = judgeLatency(slow.candidate, slow.baseline);
    if (js.verdict === 'Worse') slowWorse++;
    slowAfter = Math.max(slowAfter, js.stats.canaryCount as number);
    const equal = simulateCanary(random, {
      ...{ seconds: 50, rps: 200, weight: 0.1, canaryErrorRate: 0, baselineErrorRate: 0 },
      ...{ canaryMedianMs: 20, baselineMedianMs: 20 },
    });
    const je = judgeLatency(equal.candidate, equal.baseline);
    if (je.verdict === 'Worse') equalWorse++;
    if (je.verdict === 'NotWorse') equalNotWorse++;
  }
  t.diagnostic(
    `x3: Worse ${slowWorse}/100 within ${slowAfter} canary requests; equal: Worse ${equalWorse}, NotWorse ${equalNotWorse}`,
  );
  assert.equal(slowWorse, 100);
  assert.equal(equalWorse, 0);
  assert.ok(equalNotWorse >= 95);
});

test('latency: a slightly slower canary (1.2x) is not Worse even when significant', () => {
  const random = prng(4);
  const sim = simulateCanary(random, {
    ...{ seconds: 100, rps: 1000, weight: 0.1, canaryErrorRate: 0, baselineErrorRate: 0 },
    ...{ canaryMedianMs: 24, baselineMedianMs: 20 },
  });
  const j = judgeLatency(sim.candidate, sim.baseline);
  assert.ok((j.stats.pValue as number) < 0.001);
  assert.notEqual(j.verdict, 'Worse');
});

test('latency: a cold canary at 0.5 ms against a warm 0.25 ms is not Worse (below the 5 ms floor)', () => {
  const random = prng(5);
  const sim = simulateCanary(random, {
    ...{ seconds: 30, rps: 1000, weight: 0.1, canaryErrorRate: 0, baselineErrorRate: 0 },
    ...{ canaryMedianMs: 0.5, baselineMedianMs: 0.25 },
  });
  const j = judgeLatency(sim.candidate, sim.baseline);
  assert.ok((j.stats.pValue as number) < 0.001, 'the difference is significant');
  assert.equal(j.verdict, 'NotWorse');
  assert.equal(judgeLatency(sim.candidate, sim.baseline, { latencyMinIncreaseMs: 0 }).verdict, 'Worse');
});

test('judgeCanary: the worst part decides', () => {
  const random = prng(12);
  const slow = simulateCanary(random, {
    ...{ seconds: 10, rps: 200, weight: 0.1, canaryErrorRate: 0.005, baselineErrorRate: 0.005 },
    ...{ canaryMedianMs: 100, baselineMedianMs: 20 },
  });
  const j = judgeCanary(slow.candidate, slow.baseline);
  assert.equal(j.verdict, 'Worse');
  assert.equal(j.metric, 'latency');
  assert.equal(j.parts.length, 2);
  assert.match(j.message, /slower, Mann-Whitney p = .* over \d+ canary requests/);

  const failing = simulateCanary(random, {
    seconds: 10,
    rps: 200,
    weight: 0.1,
    canaryErrorRate: 1,
    baselineErrorRate: 0.005,
  });
  assert.equal(judgeCanary(failing.candidate, failing.baseline).metric, 'errorRate');

  const fine = simulateCanary(random, {
    ...{ seconds: 200, rps: 1000, weight: 0.1, canaryErrorRate: 0.005, baselineErrorRate: 0.005 },
    ...{ canaryMedianMs: 20, baselineMedianMs: 20 },
  });
  const ok = judgeCanary(fine.candidate, fine.baseline);
  assert.equal(ok.verdict, 'NotWorse', ok.message);
  assert.equal(ok.metric, 'all');
});
