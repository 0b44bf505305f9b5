import assert from 'node:assert/strict';
import { test } from 'node:test';
import { points, repeat, type SecondSpec } from '../../../test/support/analysis-fixtures.ts';
import { DEFAULT_RULES, type Rule } from '../../spec/analysis-spec.ts';
import { decideAction } from './decide.ts';
import { serviceDownVerdicts } from './service-down.ts';

const T = 2_000_000;
const now = (T + 10) * 1000;
const errorRule = DEFAULT_RULES.find((r) => r.metric === 'errorRate')!;
const unavailableRule = DEFAULT_RULES.find((r) => r.metric === 'unavailable')!;

const run = (specs: SecondSpec[], rules: readonly Rule[] = DEFAULT_RULES) =>
  serviceDownVerdicts(rules, points(T, specs), now);

test('severity by size: which breaches of the default rules are "service down"', () => {
  const table: { name: string; seconds: SecondSpec[]; down: string[] }[] = [
    { name: 'healthy', seconds: repeat(10, { requests: 200, errors: 1 }), down: [] },
    {
      name: '8% errors: marginal, the windows apply',
      seconds: repeat(10, { requests: 200, errors: 16 }),
      down: [],
    },
    { name: '20% errors: under 5x 5%', seconds: repeat(10, { requests: 200, errors: 40 }), down: [] },
    { name: '50% errors', seconds: repeat(10, { requests: 200, errors: 100 }), down: ['error-rate'] },
    {
      name: '30% errors (over 5x 5%)',
      seconds: repeat(10, { requests: 200, errors: 60 }),
      down: ['error-rate'],
    },
    {
      name: 'one bad second of three is not enough',
      seconds: [...repeat(9, { requests: 100 }), { requests: 100, errors: 60 }],
      down: [],
    },
    { name: 'too few requests', seconds: repeat(10, { requests: 2, errors: 2 }), down: [] },
    { name: 'no healthy instance for 3s', seconds: repeat(10, { unavailable: true }), down: ['unavailable'] },
    {
      name: 'no healthy instance for 2s',
      seconds: [...repeat(8, {}), ...repeat(2, { unavailable: true })],
      down: [],
    },
  ];
  for (const row of table) {
    const names = run(row.seconds).map((v) => v.rule.name);
    assert.deepEqual(names, row.down, row.name);
  }
});

test('a service-down verdict is a P0 rollback at once, with the numbers', () => {
  const verdicts = run(repeat(10, { requests: 200, errors: 120 }));
  const d = decideAction({ now, verdicts, monitoringWindow: 600_000 });
  assert.equal(d.action, 'rollback');
  assert.equal(d.severity, 'P0');
  assert.match(
    d.reason,
    /service down: error rate 60% \(360\/600\) over the last 3s, 5x the 5% threshold; no 300s wait/,
  );
});

test('only rollback rules count: P2/P3 rules and kill switches are left to their windows', () => {
  const p2: Rule = { ...errorRule, name: 'p2', severity: 'P2' };
  const flag: Rule = { ...errorRule, name: 'k', flag: 'recs' };
  const relative: Rule = { ...errorRule, name: 'rel', threshold: { kind: 'relative', factor: 2 } };
  assert.deepEqual(run(repeat(10, { requests: 200, errors: 150 }), [p2, flag, relative]), []);
  assert.deepEqual(run(repeat(10, { unavailable: true }), [{ ...unavailableRule, severity: 'P3' }]), []);
});

test('a threshold of 20%: "mostly errors" (50%) is down though 5x would be 100%', () => {
  const rule: Rule = { ...errorRule, threshold: { kind: 'absolute', value: 0.2 } };
  assert.deepEqual(run(repeat(10, { requests: 200, errors: 80 }), [rule]), []);
  assert.equal(run(repeat(10, { requests: 200, errors: 130 }), [rule]).length, 1);
});
