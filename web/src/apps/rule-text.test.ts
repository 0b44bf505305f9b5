import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppRule } from '../api/types.ts';
import { thresholdLabel, thresholdText } from './rule-text.ts';

const rule = (over: Partial<AppRule>): AppRule => ({
  name: 'r',
  metric: 'errorRate',
  direction: 'above',
  threshold: { kind: 'absolute', value: 0.1 },
  forMs: 2000,
  minSample: 20,
  severity: 'P0',
  ...over,
});

test('thresholds in words', () => {
  const cases: [AppRule, string, string][] = [
    [rule({ name: 'errors-critical' }), '> 10%', 'errors-critical > 10% for 2s'],
    [
      rule({ name: 'slow', metric: 'latencyP99', threshold: { kind: 'relative', factor: 3 }, forMs: 10_000 }),
      '> 3× baseline',
      'slow > 36 ms (3× baseline) for 10s',
    ],
    [
      rule({
        name: 'quiet',
        metric: 'requestRate',
        direction: 'below',
        threshold: { kind: 'absolute', value: 5 },
        forMs: 0,
      }),
      '< 5/s',
      'quiet < 5/s',
    ],
    [
      rule({ name: 'p50', metric: 'latencyP50', threshold: { kind: 'absolute', value: 250 } }),
      '> 250 ms',
      'p50 > 250 ms for 2s',
    ],
  ];
  for (const [r, text, label] of cases) {
    assert.equal(thresholdText(r), text);
    assert.equal(thresholdLabel(r, r.threshold.kind === 'absolute' ? r.threshold.value : 36), label);
  }
});
