import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RolloutState, rolloutStateSchema } from './rollout-state.ts';

const STATE: RolloutState = {
  steps: [{ name: 'startRevision' }, { name: 'setWeight', weight: 20 }, { name: 'pause', durationMs: null }],
  index: 1,
  stepStartedAt: 1_700_000_000_000,
  weight: 20,
  analysis: {
    since: 1_700_000_000_000,
    before: { from: 1, to: 2, requests: 10, errors: 0, latency: [1, 2] },
  },
  compensation: null,
};

test('a state the step machine wrote reads back whole, with keys the schema does not know', () => {
  const written = { ...STATE, fromANewerController: { x: 1 } };
  assert.deepEqual(rolloutStateSchema.parse(JSON.parse(JSON.stringify(written))), written);
});

for (const [name, state, path] of [
  ['no index', { ...STATE, index: undefined }, 'index'],
  ['an unknown step', { ...STATE, steps: [{ name: 'teleport' }] }, 'steps.0.name'],
  [
    'a compensation without its failure',
    { ...STATE, compensation: { index: 0, outcome: 'Failed' } },
    'compensation.failure',
  ],
  ['a watch with an unknown status', { ...STATE, watch: { until: 1, status: 'Maybe' } }, 'watch.status'],
  [
    'a verification without its revision',
    { ...STATE, verification: { status: 'Pending', dueAt: 1 } },
    'verification.revision',
  ],
] as const) {
  test(`a state with ${name} is refused at ${path}`, () => {
    const r = rolloutStateSchema.safeParse(JSON.parse(JSON.stringify(state)));
    assert.equal(r.success, false);
    assert.equal(r.error?.issues[0]?.path.join('.'), path);
  });
}
