import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandsFor } from './rollout-commands.ts';

test('the commands a rollout allows', () => {
  const failure = { step: 'pause', reason: 'x' };
  const cases: [string, string, object, string[]][] = [
    ['deploy', 'Progressing', {}, ['promote', 'pause', 'abort']],
    ['deploy', 'Paused', {}, ['promote', 'abort']],
    ['deploy', 'Paused', { paused: { at: 1, reason: 'by hand' } }, ['promote', 'resume', 'abort']],
    ['deploy', 'Baking', {}, ['promote', 'pause', 'abort']],
    ['deploy', 'RollingBack', { compensation: { index: 1, failure, outcome: 'RolledBack' } }, []],
    ['deploy', 'Completed', {}, []],
    ['deploy', 'RolledBack', {}, []],
    ['rollback', 'Progressing', {}, []],
  ];
  for (const [kind, phase, state, commands] of cases)
    assert.deepEqual(
      commandsFor({
        kind: kind as 'deploy',
        phase: phase as 'Paused',
        state: { steps: [], index: 0, compensation: null, paused: null, ...state },
      }),
      commands,
      `${kind} ${phase} ${JSON.stringify(state)}`,
    );
});
