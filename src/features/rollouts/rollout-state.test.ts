import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compensationDone,
  decideNextStep,
  failAt,
  initialState,
  planSteps,
  type RolloutState,
  stepDone,
} from './rollout-state.ts';

const deploy = planSteps('deploy', { targetWarm: false, fromNothing: false });

function advance(state: RolloutState, n: number): RolloutState {
  for (let i = 0; i < n; i++) state = stepDone(state, i);
  return state;
}

test('plans: blue-green deploy, first deploy, warm and cold rollback', () => {
  assert.deepEqual(deploy, ['startRevision', 'waitHealthy', 'prePromotionChecks', 'switchTraffic', 'bake']);
  assert.deepEqual(planSteps('deploy', { targetWarm: false, fromNothing: true }), [
    'startRevision',
    'waitHealthy',
    'switchTraffic',
  ]);
  assert.deepEqual(planSteps('rollback', { targetWarm: true, fromNothing: false }), [
    'switchTraffic',
    'verify',
  ]);
  assert.deepEqual(planSteps('rollback', { targetWarm: false, fromNothing: false }), [
    'startRevision',
    'waitHealthy',
    'switchTraffic',
    'verify',
  ]);
});

test('decideNextStep walks the steps, then completes', () => {
  const table: [number, ReturnType<typeof decideNextStep>][] = [
    [0, { type: 'run', step: 'startRevision', phase: 'Progressing' }],
    [2, { type: 'run', step: 'prePromotionChecks', phase: 'Progressing' }],
    [3, { type: 'run', step: 'switchTraffic', phase: 'Promoting' }],
    [4, { type: 'run', step: 'bake', phase: 'Baking' }],
    [5, { type: 'finish', phase: 'Completed' }],
  ];
  for (const [done, want] of table)
    assert.deepEqual(decideNextStep(advance(initialState(deploy), done)), want, `after ${done}`);
});

test('switchTraffic moves the weight to the new revision', () => {
  assert.equal(advance(initialState(deploy), 3).weight, 0);
  assert.equal(advance(initialState(deploy), 4).weight, 100);
});

test('a failure before the switch stops the new revision and ends Failed', () => {
  let s = failAt(advance(initialState(deploy), 1), { step: 'waitHealthy', reason: 'timed out' }, 10);
  assert.deepEqual(decideNextStep(s), { type: 'compensate', step: 'startRevision', action: 'stopRevision' });
  s = compensationDone(s, 11);
  assert.deepEqual(decideNextStep(s), { type: 'finish', phase: 'Failed' });
});

test('a failure while baking switches back, stops the new revision, ends RolledBack', () => {
  let s = failAt(advance(initialState(deploy), 4), { step: 'bake', reason: 'unhealthy' }, 10);
  assert.deepEqual(decideNextStep(s), { type: 'compensate', step: 'switchTraffic', action: 'switchBack' });
  s = compensationDone(s, 11);
  assert.equal(s.weight, 0);
  assert.deepEqual(decideNextStep(s), { type: 'compensate', step: 'startRevision', action: 'stopRevision' });
  s = compensationDone(s, 12);
  assert.deepEqual(decideNextStep(s), { type: 'finish', phase: 'RolledBack' });
});

test('a failure in startRevision itself compensates it (instances may be half started)', () => {
  const s = failAt(initialState(deploy), { step: 'startRevision', reason: 'command not found' }, 1);
  assert.deepEqual(decideNextStep(s), { type: 'compensate', step: 'startRevision', action: 'stopRevision' });
});

test('a second failure while compensating does not restart the compensation', () => {
  const s = failAt(advance(initialState(deploy), 4), { step: 'bake', reason: 'a' }, 1);
  assert.equal(failAt(s, { step: 'bake', reason: 'b' }, 2), s);
});
