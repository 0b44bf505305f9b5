import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppDetail } from '../api/types.ts';
import { healthOf, revisionTone, steadyText, trafficSplit, trafficText } from './traffic.ts';

const t = (revision: number, weight: number) => ({ revision, weight, upstreams: 1 });

test('the split puts the stable revision first and leaves out revisions without traffic', () => {
  const cases: [AppDetail['traffic'], number | null, string][] = [
    [[t(1, 100)], 1, '100%'],
    [[t(3, 30), t(1, 70)], 1, '70% / 30%'],
    [[t(1, 100), t(3, 0)], 1, '100%'],
    [[t(4, 0), t(5, 100)], 4, '100%'],
    [[t(2, 33.33), t(1, 66.67)], 1, '66.7% / 33.3%'],
    [[], null, 'no traffic'],
  ];
  for (const [traffic, stable, text] of cases) assert.equal(trafficText(trafficSplit(traffic, stable)), text);
});

test('health counts the running instances', () => {
  const i = (revision: number, phase: string, health: string) =>
    ({ revision, phase, health }) as AppDetail['instances'][number];
  const cases: [AppDetail['instances'], { healthy: number; total: number }][] = [
    [
      [i(1, 'Running', 'Healthy'), i(1, 'Running', 'Unhealthy'), i(2, 'Stopped', 'Unknown')],
      { healthy: 1, total: 2 },
    ],
    [[i(1, 'Running', 'Healthy'), i(3, 'Starting', 'Unknown')], { healthy: 1, total: 2 }],
    [[], { healthy: 0, total: 0 }],
  ];
  for (const [instances, health] of cases) assert.deepEqual(healthOf(instances), health);
});

test('steadyText', () => {
  assert.equal(steadyText({ stableRevision: null, watch: null, steadyWatch: null }), 'no revision');
  assert.equal(steadyText({ stableRevision: 1, watch: null, steadyWatch: null }), 'stable');
  assert.equal(
    steadyText({ stableRevision: 1, watch: {} as AppDetail['watch'], steadyWatch: null }),
    'stable, watched',
  );
});

test('revisionTone', () => {
  assert.equal(revisionTone(1, 1, 3), 'stable');
  assert.equal(revisionTone(3, 1, 3), 'canary');
  assert.equal(revisionTone(2, 1, 3), 'other');
  assert.equal(revisionTone(1, 1, null), 'stable');
});
