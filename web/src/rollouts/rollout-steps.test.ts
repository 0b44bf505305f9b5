import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RolloutState, Step } from '../api/types.ts';
import { stepLabel, stepStatuses } from './rollout-steps.ts';

const STEPS: Step[] = [
  { name: 'startRevision' },
  { name: 'waitHealthy' },
  { name: 'setWeight', weight: 30 },
  { name: 'pause', durationMs: null },
  { name: 'setWeight', weight: 100 },
  { name: 'bake' },
];

test('step labels', () => {
  const cases: [Step, string][] = [
    [{ name: 'setWeight', weight: 30 }, 'Send 30% of traffic'],
    [{ name: 'pause', durationMs: null }, 'Pause until promoted'],
    [{ name: 'pause', durationMs: 90_000 }, 'Pause 1m 30s'],
    [{ name: 'analysis', durationMs: 60_000 }, 'Analyse for 1m'],
    [{ name: 'migrateExpand' }, 'Expand migrations'],
  ];
  for (const [step, label] of cases) assert.equal(stepLabel(step), label);
});

test('step statuses from the phase, the index and the compensation', () => {
  const state = (index: number, compensation: RolloutState['compensation'] = null) =>
    ({ steps: STEPS, index, compensation }) as unknown as RolloutState;
  const failure = { step: 'pause' as const, reason: 'P0' };
  const cases: [string, RolloutState, string[]][] = [
    ['Progressing', state(1), ['done', 'current', 'pending', 'pending', 'pending', 'pending']],
    ['Paused', state(3), ['done', 'done', 'done', 'current', 'pending', 'pending']],
    ['Completed', state(6), ['done', 'done', 'done', 'done', 'done', 'done']],
    [
      'RollingBack',
      state(3, { index: 1, failure, outcome: 'RolledBack' }),
      ['done', 'done', 'undone', 'failed', 'skipped', 'skipped'],
    ],
    [
      'RolledBack',
      state(3, { index: -1, failure, outcome: 'RolledBack' }),
      ['undone', 'undone', 'undone', 'failed', 'skipped', 'skipped'],
    ],
    ['Failed', state(2), ['done', 'done', 'skipped', 'skipped', 'skipped', 'skipped']],
  ];
  for (const [phase, s, statuses] of cases)
    assert.deepEqual(stepStatuses({ phase: phase as 'Paused', state: s }), statuses, phase);
});
