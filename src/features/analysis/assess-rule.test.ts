import assert from 'node:assert/strict';
import { test } from 'node:test';
import { points, repeat, type SecondSpec } from '../../../test/support/analysis-fixtures.ts';
import { type Rule, ruleSpecSchema } from '../../spec/analysis-spec.ts';
import { assessRule, type RulePhase } from './assess-rule.ts';
import type { Point } from './series.ts';

const S = 1_700_000_000; // first second of every scenario
const rule = (input: Record<string, unknown>): Rule => ruleSpecSchema.parse({ severity: 'P0', ...input });

const errors5 = rule({ metric: 'errorRate', above: 0.05 });
const errors5for5m = rule({ metric: 'errorRate', above: 0.05, for: '5m' });
const p99x3 = rule({ metric: 'latencyP99', above: '3x baseline', for: '10m', severity: 'P1' });
const p99x3now = rule({ metric: 'latencyP99', above: '3x baseline', severity: 'P1' });
const p99abs = rule({ metric: 'latencyP99', above: '200ms', severity: 'P2' });
const health3m = rule({ metric: 'healthFailing', for: '3m' });
const unavailable2m = rule({ metric: 'unavailable', for: '2m' });
const traffic = rule({ metric: 'requestRate', below: 1, for: '10s', severity: 'P3' });

const bad: SecondSpec = { requests: 100, errors: 20 };
const good: SecondSpec = { requests: 100, errors: 1 };
const quiet: SecondSpec = { requests: 0 };

interface Case {
  what: string;
  rule: Rule;
  candidate: SecondSpec[] | null;
  baseline?: SecondSpec[] | null;
  /** Seconds after the end of the candidate's data at which it is assessed (default 0: just after). */
  lag?: number;
  interval?: number;
  phase: RulePhase;
  observed?: number | null;
  threshold?: number | null;
  /** Second (offset from S) at which the breach began. */
  since?: number | null;
  sample?: number;
  /** Window as offsets from S, half-open. */
  window?: [number, number];
  message?: RegExp;
}

const cases: Case[] = [
  {
    what: 'error rate breach with for 0 is a Breach at once',
    rule: errors5,
    candidate: [...repeat(20, good), ...repeat(12, bad)],
    phase: 'Breach',
    observed: 0.2,
    threshold: 0.05,
    since: 20,
    sample: 100,
    window: [31, 32],
    message: /^error rate 20% above 5% for 12s \(P0\)$/,
  },
  {
    what: 'a breach shorter than for is Pending with its start',
    rule: errors5for5m,
    candidate: [...repeat(20, good), ...repeat(12, bad)],
    phase: 'Pending',
    since: 20,
    message: /^error rate 20% above 5% for 12s of 5m \(P0\)$/,
  },
  {
    what: 'a breach that lasted for is a Breach',
    rule: errors5for5m,
    candidate: [...repeat(5, good), ...repeat(300, bad)],
    phase: 'Breach',
    since: 5,
    message: /for 5m \(P0\)/,
  },
  {
    what: 'one second short of for is still Pending',
    rule: errors5for5m,
    candidate: [...repeat(5, good), ...repeat(299, bad)],
    phase: 'Pending',
    message: /for 4m59s of 5m/,
  },
  {
    what: 'a passing second ends the breach: it restarts after it',
    rule: errors5for5m,
    candidate: [...repeat(100, bad), good, ...repeat(50, bad)],
    phase: 'Pending',
    since: 101,
  },
  {
    what: 'exactly at the threshold is not above it',
    rule: errors5,
    candidate: repeat(10, { requests: 100, errors: 5 }),
    phase: 'Pass',
    observed: 0.05,
    message: /^error rate 5%, not above 5% \(P0\)$/,
  },
  {
    what: 'healthy error rate passes',
    rule: errors5,
    candidate: repeat(10, good),
    phase: 'Pass',
    observed: 0.01,
  },
  {
    what: 'low traffic widens the window to minSample requests',
    rule: errors5,
    candidate: repeat(30, { requests: 5, errors: 1 }),
    phase: 'Breach',
    observed: 0.2,
    sample: 20,
    window: [26, 30],
  },
  {
    what: 'one error in two requests is not an outage: Inconclusive below minSample',
    rule: errors5,
    candidate: [...repeat(50, quiet), { requests: 2, errors: 1 }],
    phase: 'Inconclusive',
    observed: 0.5,
    sample: 2,
    message: /error rate: 2 requests in the last 60s, 20 needed \(P0\)/,
  },
  {
    what: 'no data at all is Inconclusive',
    rule: errors5,
    candidate: null,
    phase: 'Inconclusive',
    message: /no data from this revision yet/,
  },
  {
    what: 'silence inside a breach neither ends nor restarts it',
    rule: errors5for5m,
    candidate: [...repeat(5, good), ...repeat(100, bad), ...repeat(70, quiet), ...repeat(10, bad)],
    phase: 'Pending',
    since: 5,
    message: /for 3m of 5m \(P0\)$/,
  },
  {
    what: 'a relative rule without baseline data is an Error',
    rule: p99x3,
    candidate: repeat(10, { requests: 50, latencyMs: 100 }),
    baseline: null,
    phase: 'Error',
    message:
      /p99 latency: no baseline data to compare with 3x baseline; is the stable revision running\? \(P1\)/,
  },
  {
    what: 'a relative rule with an idle baseline is an Error',
    rule: p99x3,
    candidate: repeat(10, { requests: 50, latencyMs: 100 }),
    baseline: repeat(10, quiet),
    phase: 'Error',
    message: /no baseline traffic in the last 60s/,
  },
  {
    what: 'a relative rule with a thin baseline is Inconclusive',
    rule: p99x3,
    candidate: repeat(10, { requests: 50, latencyMs: 100 }),
    baseline: [...repeat(9, quiet), { requests: 3, latencyMs: 10 }],
    phase: 'Inconclusive',
    message: /baseline has 3 requests in the last 60s, 20 needed/,
  },
  {
    what: 'p99 at 10x the baseline breaches 3x baseline (Pending for 10m)',
    rule: p99x3,
    candidate: repeat(30, { requests: 50, latencyMs: 100 }),
    baseline: repeat(30, { requests: 450, latencyMs: 10 }),
    phase: 'Pending',
    observed: 75 + 25 * 0.99, // interpolated in (75, 100]
    threshold: 3 * (7.5 + 2.5 * 0.99),
    since: 0,
    message: /^p99 latency 99\.\dms above 3x baseline \(29\.9ms\) for 30s of 10m \(P1\)$/,
  },
  {
    what: 'p99 at 2x the baseline passes 3x baseline',
    rule: p99x3now,
    candidate: repeat(30, { requests: 50, latencyMs: 20 }),
    baseline: repeat(30, { requests: 450, latencyMs: 10 }),
    phase: 'Pass',
    observed: 15 + 5 * 0.99,
    threshold: 3 * (7.5 + 2.5 * 0.99),
  },
  {
    what: 'absolute latency threshold',
    rule: p99abs,
    candidate: repeat(5, { requests: 50, latencyMs: 400 }),
    phase: 'Breach',
    observed: 300 + (500 - 300) * 0.99,
    threshold: 200,
    message: /^p99 latency 498ms above 200ms for 5s \(P2\)$/,
  },
  {
    what: 'health failing for 3m is a Breach',
    rule: health3m,
    candidate: [...repeat(10, { requests: 10 }), ...repeat(180, { healthFailing: true })],
    phase: 'Breach',
    observed: 1,
    since: 10,
    sample: 1,
    message: /^health checks failing for 3m \(P0\)$/,
  },
  {
    what: 'health failing for 100s is Pending',
    rule: health3m,
    candidate: [...repeat(10, { requests: 10 }), ...repeat(100, { healthFailing: true })],
    phase: 'Pending',
    message: /^health checks failing for 1m40s of 3m \(P0\)$/,
  },
  {
    what: 'healthy revision passes the health rule',
    rule: health3m,
    candidate: repeat(10, { requests: 10 }),
    phase: 'Pass',
    observed: 0,
    message: /^health checks passing \(health checks failing 0% of the last 1s\) \(P0\)$/,
  },
  {
    what: 'no healthy instance for 2m is a Breach, with no traffic needed',
    rule: unavailable2m,
    candidate: repeat(120, { unavailable: true }),
    phase: 'Breach',
    message: /^no healthy instance for 2m \(P0\)$/,
  },
  {
    what: 'data lagging 2s behind now is still used',
    rule: errors5,
    candidate: repeat(10, bad),
    lag: 2,
    phase: 'Breach',
    window: [9, 10],
  },
  {
    what: 'stale health data is Inconclusive, not a pass',
    rule: unavailable2m,
    candidate: repeat(10, {}),
    lag: 4,
    phase: 'Inconclusive',
    message: /no healthy instance: state unknown/,
  },
  {
    what: 'request rate below 1 req/s for 10s',
    rule: traffic,
    candidate: [...repeat(10, { requests: 10 }), ...repeat(12, quiet)],
    phase: 'Breach',
    observed: 0,
    since: 10,
    message: /^request rate 0 req\/s below 1 req\/s for 12s \(P3\)$/,
  },
  {
    what: 'interval widens the base window',
    rule: errors5,
    interval: 5000,
    candidate: [...repeat(10, good), ...repeat(4, { requests: 100, errors: 100 })],
    phase: 'Breach',
    observed: 401 / 500,
    sample: 500,
    window: [9, 14],
  },
];

const cpu70 = rule({ metric: 'cpu', above: '70%', for: '3s', severity: 'P1' });
const memory80 = rule({ metric: 'memory', above: 0.8, severity: 'P2' });
const logErrors5 = rule({ metric: 'logErrors', above: 5, for: '2s' });
const logErrorsX2 = rule({ metric: 'logErrors', above: '2x baseline' });
const cpuX2 = rule({ metric: 'cpu', above: '2x baseline', severity: 'P1' });

cases.push(
  {
    what: 'CPU above 70% for 3s is a Breach, judged on the mean of the interval, whatever the traffic',
    rule: cpu70,
    candidate: [...repeat(10, { cpu: 0.2 }), ...repeat(4, { cpu: 0.9 })],
    phase: 'Breach',
    observed: 0.9,
    threshold: 0.7,
    since: 10,
    sample: 1,
    message: /^CPU 90% above 70% for 4s \(P1\)$/,
  },
  {
    what: 'CPU below the threshold passes',
    rule: cpu70,
    candidate: repeat(10, { cpu: 0.3, requests: 50 }),
    phase: 'Pass',
    message: /^CPU 30%, not above 70% \(P1\)$/,
  },
  {
    what: 'CPU over a 5s interval is the mean of its seconds',
    rule: cpu70,
    interval: 5000,
    candidate: [...repeat(10, { cpu: 0.1 }), ...repeat(2, { cpu: 0.9 }), ...repeat(3, { cpu: 0.1 })],
    phase: 'Pass',
    observed: 0.42,
  },
  {
    what: 'memory above 80% breaches at once with for 0',
    rule: memory80,
    candidate: [...repeat(5, { memory: 0.5 }), { memory: 0.85 }],
    phase: 'Breach',
    observed: 0.85,
    message: /^memory 85% above 80%/,
  },
  {
    what: 'a runtime that measures nothing leaves a CPU rule Inconclusive, saying why',
    rule: cpu70,
    candidate: repeat(10, { requests: 100 }),
    phase: 'Inconclusive',
    message: /CPU: not measured in these seconds/,
  },
  {
    what: 'error lines are counted over the last minute: 1 a second for 10s is 10/min, above 5',
    rule: logErrors5,
    candidate: [...repeat(30, { logErrors: 0 }), ...repeat(10, { logErrors: 1 })],
    phase: 'Breach',
    observed: 10,
    threshold: 5,
    // The count passed 5 at the sixth second of errors, and has stayed above since.
    since: 35,
    window: [-20, 40],
    message: /^error lines 10\/min above 5\/min for 5s \(P0\)$/,
  },
  {
    what: 'a few error lines a minute stay under the threshold',
    rule: logErrors5,
    candidate: repeat(60, { logErrors: 0 }).map((x, i) => (i % 20 === 0 ? { logErrors: 1 } : x)),
    phase: 'Pass',
    observed: 3,
    message: /^error lines 3\/min, not above 5\/min/,
  },
  {
    what: 'error lines of a minute ago have left the window',
    rule: logErrors5,
    candidate: [...repeat(10, { logErrors: 10 }), ...repeat(60, { logErrors: 0 })],
    phase: 'Pass',
    observed: 0,
  },
  {
    what: 'twice the error lines of the baseline beside it',
    rule: logErrorsX2,
    candidate: repeat(20, { logErrors: 3 }),
    baseline: repeat(20, { logErrors: 1 }),
    phase: 'Breach',
    observed: 60,
    threshold: 40,
  },
  {
    what: 'a relative CPU rule needs the baseline measured in the same seconds',
    rule: cpuX2,
    candidate: repeat(10, { cpu: 0.5 }),
    baseline: repeat(10, { requests: 10 }),
    phase: 'Error',
    message: /the baseline's CPU was not measured/,
  },
  {
    what: 'CPU twice the baseline beside it',
    rule: cpuX2,
    candidate: repeat(10, { cpu: 0.5 }),
    baseline: repeat(10, { cpu: 0.2 }),
    phase: 'Breach',
    threshold: 0.4,
  },
);

for (const c of cases) {
  test(`assessRule: ${c.what}`, () => {
    const candidate: Point[] = c.candidate ? points(S, c.candidate) : [];
    const baseline = c.baseline === undefined ? null : c.baseline === null ? null : points(S, c.baseline);
    const length = c.candidate?.length ?? 0;
    const now = (S + length + (c.lag ?? 0)) * 1000;
    const v = assessRule(c.rule, candidate, baseline, now, c.interval ? { interval: c.interval } : {});
    assert.equal(v.phase, c.phase, v.message);
    assert.equal(v.rule, c.rule);
    if (c.observed !== undefined)
      assert.ok(Math.abs((v.observed ?? Number.NaN) - (c.observed ?? 0)) < 1e-9, `observed ${v.observed}`);
    if (c.threshold !== undefined)
      assert.ok(
        Math.abs((v.threshold ?? Number.NaN) - (c.threshold ?? 0)) < 1e-9,
        `threshold ${v.threshold}`,
      );
    if (c.since !== undefined) assert.equal(v.breachingSince, c.since === null ? null : (S + c.since) * 1000);
    if (c.phase === 'Pass' || c.phase === 'Inconclusive' || c.phase === 'Error')
      assert.equal(v.breachingSince, null);
    if (c.sample !== undefined) assert.equal(v.sample, c.sample);
    if (c.window)
      assert.deepEqual(v.window, { from: (S + c.window[0]) * 1000, to: (S + c.window[1]) * 1000 });
    if (c.message) assert.match(v.message, c.message);
  });
}

test('assessRule is pure: the same inputs give the same verdict, inputs untouched', () => {
  const candidate = points(S, [...repeat(30, good), ...repeat(30, bad)]);
  const copy = structuredClone(candidate);
  const now = (S + 60) * 1000;
  assert.deepEqual(
    assessRule(errors5for5m, candidate, null, now),
    assessRule(errors5for5m, candidate, null, now),
  );
  assert.deepEqual(candidate, copy);
});

test('assessRule over a full 15-minute buffer stays fast', () => {
  const candidate = points(S, repeat(900, bad));
  const started = performance.now();
  for (let i = 0; i < 10; i++) assessRule(p99x3, candidate, points(S, repeat(900, good)), (S + 900) * 1000);
  const v = assessRule(errors5for5m, candidate, null, (S + 900) * 1000);
  assert.equal(v.phase, 'Breach');
  assert.ok(performance.now() - started < 2000);
});
