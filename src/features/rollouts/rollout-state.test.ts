import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canaryStepsProblem } from '../../spec/strategy-spec.ts';
import {
  compensationDone,
  decideNextStep,
  failAt,
  initialState,
  planSteps,
  promote,
  type RolloutState,
  stepDone,
} from './rollout-state.ts';

const deploy = planSteps('deploy', { targetWarm: false, fromNothing: false });
const canary = planSteps('deploy', {
  targetWarm: false,
  fromNothing: false,
  canary: [{ setWeight: 10 }, { pause: 30_000 }, { setWeight: 50 }, { pause: null }, { setWeight: 100 }],
});
const names = (steps: { name: string }[]) => steps.map((s) => s.name);

function advance(state: RolloutState, n: number): RolloutState {
  for (let i = 0; i < n; i++) state = stepDone(state, i);
  return state;
}

function next(state: RolloutState) {
  const n = decideNextStep(state);
  if (n.type === 'run' || n.type === 'compensate')
    return `${n.type} ${n.step.name}${n.type === 'compensate' ? ` (${n.action})` : ''}`;
  return `${n.type} ${n.phase}`;
}

test('plans: blue-green deploy, first deploy, warm and cold rollback, canary', () => {
  assert.deepEqual(names(deploy), [
    'startRevision',
    'waitHealthy',
    'prePromotionChecks',
    'switchTraffic',
    'bake',
  ]);
  assert.deepEqual(names(planSteps('deploy', { targetWarm: false, fromNothing: true })), [
    'startRevision',
    'waitHealthy',
    'switchTraffic',
  ]);
  assert.deepEqual(names(planSteps('rollback', { targetWarm: true, fromNothing: false })), [
    'switchTraffic',
    'verify',
  ]);
  assert.deepEqual(names(planSteps('rollback', { targetWarm: false, fromNothing: false })), [
    'startRevision',
    'waitHealthy',
    'switchTraffic',
    'verify',
  ]);
  // With a database: undo around the switch, unless the target is at the same migration level.
  const db = (undo: boolean) =>
    names(
      planSteps('rollback', { targetWarm: true, fromNothing: false, database: { contract: 'auto', undo } }),
    );
  assert.deepEqual(db(true), ['undoContract', 'switchTraffic', 'undoExpand', 'verify']);
  assert.deepEqual(db(false), ['switchTraffic', 'verify']);
  assert.deepEqual(names(canary), [
    'startRevision',
    'waitHealthy',
    'prePromotionChecks',
    'setWeight',
    'pause',
    'setWeight',
    'pause',
    'setWeight',
    'bake',
  ]);
  assert.equal(canary[4]!.durationMs, 30_000);
  assert.equal(canary[6]!.durationMs, null);
});

test('decideNextStep walks the steps, then completes', () => {
  const table: [number, string][] = [
    [0, 'run startRevision'],
    [2, 'run prePromotionChecks'],
    [3, 'run switchTraffic'],
    [4, 'run bake'],
    [5, 'finish Completed'],
  ];
  for (const [done, want] of table)
    assert.equal(next(advance(initialState(deploy), done)), want, `after ${done}`);
});

test('the weight follows switchTraffic and each setWeight', () => {
  const table: [RolloutState['steps'], number, number][] = [
    [deploy, 3, 0],
    [deploy, 4, 100],
    [canary, 3, 0],
    [canary, 4, 10],
    [canary, 6, 50],
    [canary, 8, 100],
  ];
  for (const [steps, done, weight] of table)
    assert.equal(advance(initialState(steps), done).weight, weight, `after ${done}`);
});

test('a failure before the switch stops the new revision and ends Failed', () => {
  let s = failAt(advance(initialState(deploy), 1), { step: 'waitHealthy', reason: 'timed out' }, 10);
  assert.equal(next(s), 'compensate startRevision (stopRevision)');
  s = compensationDone(s, 11);
  assert.equal(next(s), 'finish Failed');
});

test('a failure while baking switches back, stops the new revision, ends RolledBack', () => {
  let s = failAt(advance(initialState(deploy), 4), { step: 'bake', reason: 'unhealthy' }, 10);
  assert.equal(next(s), 'compensate switchTraffic (switchBack)');
  s = compensationDone(s, 11);
  assert.equal(s.weight, 0);
  assert.equal(next(s), 'compensate startRevision (stopRevision)');
  s = compensationDone(s, 12);
  assert.equal(next(s), 'finish RolledBack');
});

test('a canary failing at 50% switches back once, however many setWeight steps it passed', () => {
  let s = failAt(advance(initialState(canary), 6), { step: 'pause', reason: 'error rate' }, 1);
  assert.equal(s.compensation?.outcome, 'RolledBack');
  assert.equal(next(s), 'compensate setWeight (switchBack)');
  s = compensationDone(s, 2);
  assert.equal(next(s), 'compensate startRevision (stopRevision)');
  s = compensationDone(s, 3);
  assert.equal(next(s), 'finish RolledBack');
});

test('a failure in startRevision itself compensates it (instances may be half started)', () => {
  const s = failAt(initialState(deploy), { step: 'startRevision', reason: 'command not found' }, 1);
  assert.equal(next(s), 'compensate startRevision (stopRevision)');
});

test('a second failure while compensating does not restart the compensation', () => {
  const s = failAt(advance(initialState(deploy), 4), { step: 'bake', reason: 'a' }, 1);
  assert.equal(failAt(s, { step: 'bake', reason: 'b' }, 2), s);
});

test('a paused rollout waits; promote ends a pause; promote --full goes to 100% and the bake', () => {
  const atPause = advance(initialState(canary), 4);
  assert.equal(next(atPause), 'run pause');
  const paused = { ...advance(initialState(canary), 3), paused: { at: 1, reason: 'P2' } };
  assert.equal(next(paused), 'wait Paused');
  const resumed = promote(paused, false, 2);
  assert.ok(resumed.ok);
  assert.equal(next(resumed.state), 'run setWeight');
  const p = promote(atPause, false, 2);
  assert.ok(p.ok);
  assert.equal(p.state.index, 5);
  const full = promote(atPause, true, 3);
  assert.ok(full.ok);
  assert.equal(full.state.weight, 100);
  assert.equal(next(full.state), 'run bake');
  const notPaused = promote(advance(initialState(canary), 1), false, 1);
  assert.equal(notPaused.ok, false);
  assert.equal(promote(failAt(atPause, { step: 'pause', reason: 'x' }, 1), false, 2).ok, false);
});

test('canary steps must only grow and reach 100%', () => {
  const table: [Parameters<typeof canaryStepsProblem>[0], RegExp | null][] = [
    [[{ setWeight: 10 }, { pause: 1000 }, { setWeight: 100 }], null],
    [[{ setWeight: 10 }, { pause: null }], /never reach 100%/],
    [
      [{ setWeight: 50 }, { setWeight: 20 }, { setWeight: 100 }],
      /steps.1: setWeight 20 is below the previous 50/,
    ],
    [[], /never reach 100%/],
  ];
  for (const [steps, want] of table) {
    const got = canaryStepsProblem(steps);
    if (want === null) assert.equal(got, null);
    else assert.match(got ?? '', want);
  }
});

test('with a database: expand first, contract after the bake, undo as compensation', () => {
  const db = planSteps('deploy', { targetWarm: false, fromNothing: false, database: { contract: 'auto' } });
  assert.deepEqual(names(db), [
    'migrateExpand',
    'startRevision',
    'waitHealthy',
    'prePromotionChecks',
    'switchTraffic',
    'bake',
    'migrateContract',
  ]);
  assert.deepEqual(
    names(
      planSteps('deploy', { targetWarm: false, fromNothing: false, database: { contract: 'manual' } }),
    ).at(-1),
    'bake',
  );
  assert.deepEqual(
    names(planSteps('deploy', { targetWarm: false, fromNothing: true, database: { contract: 'auto' } })),
    ['migrateExpand', 'startRevision', 'waitHealthy', 'switchTraffic', 'migrateContract'],
  );
  assert.deepEqual(
    names(planSteps('rollback', { targetWarm: true, fromNothing: false, database: { contract: 'auto' } })),
    ['undoContract', 'switchTraffic', 'undoExpand', 'verify'],
  );
  assert.deepEqual(
    names(planSteps('rollback', { targetWarm: false, fromNothing: false, database: { contract: 'auto' } })),
    ['undoContract', 'startRevision', 'waitHealthy', 'switchTraffic', 'undoExpand', 'verify'],
  );

  const table: { at: number; expect: string[] }[] = [
    // Failed while expanding: the expand itself is undone (it may have half-happened on MySQL).
    { at: 0, expect: ['compensate migrateExpand (undoMigrations)', 'finish Failed'] },
    // Failed at the health wait: stop the new revision, then undo the expand.
    {
      at: 2,
      expect: [
        'compensate startRevision (stopRevision)',
        'compensate migrateExpand (undoMigrations)',
        'finish Failed',
      ],
    },
    // Failed in the bake: traffic back first, then processes, then the schema.
    {
      at: 5,
      expect: [
        'compensate switchTraffic (switchBack)',
        'compensate startRevision (stopRevision)',
        'compensate migrateExpand (undoMigrations)',
        'finish RolledBack',
      ],
    },
    // A failed contract migration (its own transaction undid it) turns the whole rollout around.
    {
      at: 6,
      expect: [
        'compensate switchTraffic (switchBack)',
        'compensate startRevision (stopRevision)',
        'compensate migrateExpand (undoMigrations)',
        'finish RolledBack',
      ],
    },
  ];
  for (const row of table) {
    let s = advance(initialState(db), row.at);
    if (row.at >= 4) s = { ...s, weight: 100 };
    s = failAt(s, { step: db[row.at]!.name, reason: 'x' }, 1);
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      seen.push(next(s));
      if (decideNextStep(s).type === 'finish') break;
      s = compensationDone(s, i);
    }
    assert.deepEqual(seen, row.expect, `failure at ${db[row.at]!.name}`);
  }
});
