import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffBase, type RolloutFacts, revisionOutcome } from './revision-outcome.ts';

let clock = 0;
const rollout = (
  toRevision: number,
  fromRevision: number | null,
  phase: RolloutFacts['phase'],
  extra: Partial<RolloutFacts> = {},
): RolloutFacts => ({
  kind: 'deploy',
  fromRevision,
  toRevision,
  phase,
  error: null,
  createdAt: ++clock,
  finishedAt: phase === 'Completed' || phase === 'RolledBack' || phase === 'Failed' ? clock : null,
  ...extra,
});

// 1 initial; 2 failed to start; 3 served; 4 aborted by hand; 5 rolled back by analysis;
// 6 = rollback of 3 to a copy of 1; 7 rolling out.
const history: RolloutFacts[] = [
  rollout(1, null, 'Completed'),
  rollout(2, 1, 'Failed', { error: 'not healthy within 5s' }),
  rollout(3, 1, 'Completed'),
  rollout(4, 3, 'RolledBack', { error: 'aborted: looks wrong' }),
  rollout(5, 3, 'RolledBack', { error: 'P0: error rate 30%' }),
  rollout(6, 3, 'Completed', { kind: 'rollback' }),
  rollout(7, 6, 'Progressing'),
];

test('each revision gets the outcome of the rollouts that carried it', () => {
  const outcomes = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => [n, revisionOutcome(n, 6, history)]);
  assert.deepEqual(outcomes, [
    [1, 'superseded'],
    [2, 'failed'],
    [3, 'rolled back'],
    [4, 'aborted'],
    [5, 'rolled back'],
    [6, 'stable'],
    [7, 'rolling out'],
    [8, null],
  ]);
});

test('a revision that served and was deployed over is superseded, not rolled back', () => {
  const plain = [rollout(1, null, 'Completed'), rollout(2, 1, 'Completed')];
  assert.equal(revisionOutcome(1, 2, plain), 'superseded');
  // A rollback that left it before it served again does not count against a later rollout of it.
  const again = [...plain, rollout(3, 2, 'Completed', { kind: 'rollback' })];
  assert.equal(revisionOutcome(2, 3, again), 'rolled back');
  assert.equal(revisionOutcome(2, 3, [...again].reverse()), 'rolled back', 'any order');
});

test('diff compares with the revision that served when the newer one rolled out', () => {
  assert.deepEqual(diffBase(3, history), { from: 1, basis: 'servedBefore' }, 'skips failed 2');
  assert.deepEqual(diffBase(6, history), { from: 3, basis: 'servedBefore' }, 'skips aborted 4 and 5');
  assert.deepEqual(diffBase(2, history), { from: 1, basis: 'servedBefore' });
  assert.deepEqual(diffBase(6, history, 2), { from: 2, basis: 'given' });
  // No rollout known (the first revision, or rollouts older than those read): the previous number.
  assert.deepEqual(diffBase(1, history), { from: 0, basis: 'previous' });
  assert.deepEqual(diffBase(9, history), { from: 8, basis: 'previous' });
});
