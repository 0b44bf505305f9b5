import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  analysisSpecSchema,
  DEFAULT_RULES,
  type Rule,
  requiredHistorySeconds,
  resolveRules,
  ruleSpecSchema,
  steadyStateRules,
} from './analysis-spec.ts';

test('an empty analysis block gets its defaults and the seed-004 rules', () => {
  const spec = analysisSpecSchema.parse({});
  assert.equal(spec.interval, 1000);
  assert.equal(spec.monitoringWindow, 600_000);
  assert.deepEqual(spec.canaryJudgment, { enabled: true, confidence: 0.99, minSample: 50 });
  assert.deepEqual(spec.rules, []);
  assert.equal(resolveRules(spec), DEFAULT_RULES);
  assert.deepEqual(
    DEFAULT_RULES.map((r) => [r.name, r.metric, r.direction, r.threshold, r.for, r.severity]),
    [
      ['error-rate', 'errorRate', 'above', { kind: 'absolute', value: 0.05 }, 300_000, 'P0'],
      ['latency-p99', 'latencyP99', 'above', { kind: 'relative', factor: 3 }, 600_000, 'P1'],
      ['health-failing', 'healthFailing', 'above', { kind: 'absolute', value: 0 }, 180_000, 'P0'],
      ['unavailable', 'unavailable', 'above', { kind: 'absolute', value: 0 }, 120_000, 'P0'],
    ],
  );
  assert.equal(requiredHistorySeconds(spec), 660);
});

test('declared rules replace the defaults', () => {
  const spec = analysisSpecSchema.parse({
    interval: '2s',
    monitoringWindow: '15m',
    canaryJudgment: { confidence: 0.999 },
    rules: [{ metric: 'errorRate', above: '2%', severity: 'P2' }],
  });
  assert.equal(spec.interval, 2000);
  assert.deepEqual(spec.canaryJudgment, { enabled: true, confidence: 0.999, minSample: 50 });
  assert.deepEqual(resolveRules(spec), [
    {
      name: 'error-rate',
      metric: 'errorRate',
      direction: 'above',
      threshold: { kind: 'absolute', value: 0.02 },
      for: 0,
      minSample: 20,
      severity: 'P2',
    },
  ]);
  assert.equal(requiredHistorySeconds(spec), 960);
});

const valid: [string, Record<string, unknown>, Partial<Rule>][] = [
  [
    'fraction',
    { metric: 'errorRate', above: 0.05, for: '5m', severity: 'P0' },
    { threshold: { kind: 'absolute', value: 0.05 }, for: 300_000, name: 'error-rate' },
  ],
  [
    'percentage',
    { metric: 'errorRate', above: '5%', severity: 'P0' },
    { threshold: { kind: 'absolute', value: 0.05 } },
  ],
  [
    'numeric string',
    { metric: 'errorRate', above: '0.1', severity: 'P0' },
    { threshold: { kind: 'absolute', value: 0.1 } },
  ],
  [
    'relative',
    { metric: 'latencyP99', above: '3x baseline', for: '10m', severity: 'P1' },
    { threshold: { kind: 'relative', factor: 3 }, name: 'latency-p99' },
  ],
  [
    'relative with spaces',
    { metric: 'latencyP95', above: '1.5 x Baseline', severity: 'P1' },
    { threshold: { kind: 'relative', factor: 1.5 } },
  ],
  [
    'latency in ms',
    { metric: 'latencyP50', above: 250, severity: 'P2' },
    { threshold: { kind: 'absolute', value: 250 } },
  ],
  [
    'latency as a duration',
    { metric: 'latencyP50', above: '1.5s', severity: 'P2' },
    { threshold: { kind: 'absolute', value: 1500 } },
  ],
  [
    'request rate below',
    { metric: 'requestRate', below: 1, severity: 'P3' },
    { direction: 'below', minSample: 0, name: 'request-rate' },
  ],
  [
    'request rate drop',
    { metric: 'requestRate', below: '0.5x baseline', severity: 'P2' },
    { threshold: { kind: 'relative', factor: 0.5 } },
  ],
  [
    'health without threshold',
    { metric: 'healthFailing', for: '3m', severity: 'P0' },
    { direction: 'above', threshold: { kind: 'absolute', value: 0 }, minSample: 0, name: 'health-failing' },
  ],
  [
    'unavailable share',
    { metric: 'unavailable', above: '50%', severity: 'P0' },
    { threshold: { kind: 'absolute', value: 0.5 } },
  ],
  ['for as seconds', { metric: 'errorRate', above: 0.05, for: 30, severity: 'P0' }, { for: 30_000 }],
  [
    'explicit name and minSample',
    { name: 'checkout-errors', metric: 'errorRate', above: 0.01, minSample: 100, severity: 'P1' },
    { name: 'checkout-errors', minSample: 100 },
  ],
  [
    'above 0 errors',
    { metric: 'errorRate', above: 0, severity: 'P3' },
    { threshold: { kind: 'absolute', value: 0 } },
  ],
  [
    'CPU as a percentage',
    { metric: 'cpu', above: '70%', for: '1m', severity: 'P1' },
    { name: 'cpu', threshold: { kind: 'absolute', value: 0.7 }, minSample: 0 },
  ],
  [
    'memory as a fraction',
    { metric: 'memory', above: 0.8, severity: 'P2' },
    { threshold: { kind: 'absolute', value: 0.8 } },
  ],
  [
    'error lines per minute',
    { metric: 'logErrors', above: 5, severity: 'P0', watch: 'always' },
    { name: 'log-errors', threshold: { kind: 'absolute', value: 5 }, minSample: 0, watch: 'always' },
  ],
  [
    'error lines against the baseline',
    { metric: 'logErrors', above: '2x baseline', severity: 'P1' },
    { threshold: { kind: 'relative', factor: 2 } },
  ],
];

for (const [what, input, expected] of valid) {
  test(`rule accepted: ${what}`, () => {
    const rule = ruleSpecSchema.parse(input);
    for (const [key, value] of Object.entries(expected))
      assert.deepEqual(rule[key as keyof Rule], value, key);
  });
}

const invalid: [string, Record<string, unknown>, RegExp][] = [
  [
    'unknown metric',
    { metric: 'errors', above: 1, severity: 'P0' },
    /"errors" is not a metric; use one of errorRate, latencyP50, .*unavailable/,
  ],
  [
    'both above and below',
    { metric: 'errorRate', above: 0.1, below: 0.01, severity: 'P0' },
    /either above or below, not both/,
  ],
  [
    'neither above nor below',
    { metric: 'errorRate', severity: 'P0' },
    /give a threshold: above: or below:, for example above: 0.05/,
  ],
  [
    'error rate above 1',
    { metric: 'errorRate', above: 5, severity: 'P0' },
    /above: 5 can never fire: errorRate is a share between 0 and 1.*did you mean "5%"/,
  ],
  ['error rate above exactly 1', { metric: 'errorRate', above: 1, severity: 'P0' }, /can never fire/],
  [
    'below 0',
    { metric: 'errorRate', below: 0, severity: 'P0' },
    /below: 0 can never fire: errorRate is never below 0/,
  ],
  ['negative', { metric: 'latencyP99', above: -3, severity: 'P0' }, /-3 is negative/],
  [
    'zero multiplier',
    { metric: 'latencyP99', above: '0x baseline', severity: 'P1' },
    /"0x baseline" can never be judged; a multiple of the baseline is greater than 0/,
  ],
  [
    'baseline on health',
    { metric: 'healthFailing', above: '2x baseline', severity: 'P0' },
    /healthFailing is a yes\/no state of this revision/,
  ],
  [
    'baseline on unavailable',
    { metric: 'unavailable', above: '1x baseline', severity: 'P0' },
    /yes\/no state/,
  ],
  ['health above 1', { metric: 'healthFailing', above: 1, severity: 'P0' }, /can never fire/],
  ['NaN', { metric: 'errorRate', above: Number.NaN, severity: 'P0' }, /NaN is not a number/],
  ['Infinity', { metric: 'latencyP50', above: Number.POSITIVE_INFINITY, severity: 'P0' }, /is not a number/],
  [
    'garbage threshold',
    { metric: 'errorRate', above: 'lots', severity: 'P0' },
    /"lots" is not a threshold for errorRate; write a fraction \(0.05\), a percentage \("5%"\), or a multiple/,
  ],
  [
    'duration on error rate',
    { metric: 'errorRate', above: '5ms', severity: 'P0' },
    /is not a threshold for errorRate/,
  ],
  [
    'bad duration',
    { metric: 'errorRate', above: 0.05, for: '5 minutes', severity: 'P0' },
    /"5 minutes" is not a duration; write a number with a unit such as 5m/,
  ],
  ['negative duration', { metric: 'errorRate', above: 0.05, for: -1, severity: 'P0' }, /is not a duration/],
  [
    'too long',
    { metric: 'errorRate', above: 0.05, for: '2h', severity: 'P0' },
    /longer than the 1h of history/,
  ],
  [
    'minSample on health',
    { metric: 'healthFailing', minSample: 5, severity: 'P0' },
    /minSample does not apply to healthFailing .*; remove it/,
  ],
  [
    'CPU above 1',
    { metric: 'cpu', above: 70, severity: 'P1' },
    /above: 70 can never fire: cpu is a share between 0 and 1; write a fraction such as 0.7; did you mean "70%"\?/,
  ],
  [
    'garbage CPU threshold',
    { metric: 'memory', above: 'high', severity: 'P1' },
    /"high" is not a threshold for memory; write a fraction \(0.8\), a percentage \("80%"\)/,
  ],
  [
    'error lines as a percentage',
    { metric: 'logErrors', above: '5%', severity: 'P1' },
    /"5%" is not a threshold for logErrors; write error lines per minute \(5\)/,
  ],
  [
    'minSample on CPU',
    { metric: 'cpu', above: '70%', minSample: 5, severity: 'P0' },
    /minSample does not apply to cpu/,
  ],
  ['bad severity', { metric: 'errorRate', above: 0.05, severity: 'P4' }, /severity is one of P0, P1, P2, P3/],
  ['unknown key', { metric: 'errorRate', above: 0.05, severity: 'P0', window: '1m' }, /window/],
];

for (const [what, input, message] of invalid) {
  test(`rule rejected: ${what}`, () => {
    const result = ruleSpecSchema.safeParse(input);
    assert.equal(result.success, false);
    const text = result.error!.issues.map((i) => i.message).join('\n');
    assert.match(text, message);
  });
}

const invalidBlocks: [string, Record<string, unknown>, RegExp][] = [
  ['interval under 1s', { interval: '500ms' }, /interval is at least 1s/],
  ['confidence 1', { canaryJudgment: { confidence: 1 } }, /confidence is below 1/],
  ['confidence 0.3', { canaryJudgment: { confidence: 0.3 } }, /above 0.5/],
  ['minSample 0', { canaryJudgment: { minSample: 0 } }, /at least 1 request/],
  [
    'duplicate names',
    {
      rules: [
        { metric: 'errorRate', above: 0.05, severity: 'P0' },
        { metric: 'errorRate', above: 0.01, severity: 'P3' },
      ],
    },
    /two rules are named "error-rate"/,
  ],
  ['unknown key', { window: '1m' }, /window/],
];

for (const [what, input, message] of invalidBlocks) {
  test(`analysis block rejected: ${what}`, () => {
    const result = analysisSpecSchema.safeParse(input);
    assert.equal(result.success, false);
    assert.match(result.error!.issues.map((i) => i.message).join('\n'), message);
  });
}

test('watch: always marks the rules of the steady-state watch; a relative threshold cannot be one', () => {
  const spec = analysisSpecSchema.parse({
    rules: [
      { name: 'recs', metric: 'errorRate', above: '10%', severity: 'P1', flag: 'recs', watch: 'always' },
      { metric: 'latencyP99', above: '3x baseline', severity: 'P1' },
      { metric: 'healthFailing', for: '5s', severity: 'P0', watch: 'always' },
    ],
  });
  assert.deepEqual(
    steadyStateRules(spec).map((r) => [r.name, r.watch]),
    [
      ['recs', 'always'],
      ['health-failing', 'always'],
    ],
  );
  assert.deepEqual(steadyStateRules(analysisSpecSchema.parse({})), [], 'the defaults stop with the watch');
  const relative = ruleSpecSchema.safeParse({
    metric: 'latencyP99',
    above: '3x baseline',
    severity: 'P1',
    watch: 'always',
  });
  assert.equal(relative.success, false);
  assert.deepEqual(relative.error?.issues[0]?.path, ['watch']);
  assert.match(relative.error?.issues[0]?.message ?? '', /no baseline beside it.*"3x baseline".*absolute/);
  const typo = ruleSpecSchema.safeParse({
    metric: 'errorRate',
    above: 0.1,
    severity: 'P0',
    watch: 'forever',
  });
  assert.equal(typo.success, false);
  assert.deepEqual(typo.error?.issues[0]?.path, ['watch']);
  assert.match(typo.error?.issues[0]?.message ?? '', /watch: "forever" is not a watch; write watch: always/);
});
