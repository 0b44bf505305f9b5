import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crashVerdicts, type InstanceLife, restartCounts } from './crashes.ts';

const NOW = 1_800_000_010_000;
const STARTED = NOW - 10_000;
const life = (over: Partial<InstanceLife> = {}): InstanceLife => ({
  id: 'shop/2/0',
  phase: 'Running',
  restarts: 0,
  lastExit: null,
  ...over,
});
const exitAt = (at: number, code: number | null = 1, signal: string | null = null) => ({ code, signal, at });

// name, instances now, restart counts at the first look, crashed?, message part
const CASES: [string, InstanceLife[], Map<string, number>, boolean, RegExp | null][] = [
  ['running, never exited', [life()], new Map([['shop/2/0', 0]]), false, null],
  [
    'restarted since the first look',
    [life({ restarts: 1, lastExit: exitAt(NOW - 400) })],
    new Map([['shop/2/0', 0]]),
    true,
    /instance shop\/2\/0 exited with code 1 0\.4s ago, restarted 1 time\(s\) since the analysis began/,
  ],
  [
    'waiting to restart',
    [life({ phase: 'Backoff', lastExit: exitAt(NOW - 100, null, 'SIGKILL') })],
    new Map([['shop/2/0', 0]]),
    true,
    /was killed by SIGKILL 0\.1s ago, waiting to restart/,
  ],
  [
    'given up on after a crash loop',
    [life({ phase: 'Failed', restarts: 4, lastExit: exitAt(NOW - 50) })],
    new Map([['shop/2/0', 4]]),
    true,
    /given up on after too many crashes/,
  ],
  [
    'crashed and restarted before the first look, during the rollout',
    [life({ restarts: 1, lastExit: exitAt(STARTED + 2000) })],
    new Map([['shop/2/0', 1]]),
    true,
    /restarted|exited/,
  ],
  [
    'restarts from before the rollout (a warm revision reused), none since',
    [life({ restarts: 3, lastExit: exitAt(STARTED - 60_000) })],
    new Map([['shop/2/0', 3]]),
    false,
    null,
  ],
  [
    'the agent restarted: instances afresh with 0 restarts',
    [life({ restarts: 0, phase: 'Starting' })],
    new Map([['shop/2/0', 2]]),
    false,
    null,
  ],
  [
    'a failed start without an exit (cannot spawn) is for the step, not a crash',
    [life({ phase: 'Failed', lastExit: null })],
    new Map(),
    false,
    null,
  ],
  [
    'an instance that appeared since, already restarted',
    [life(), life({ id: 'shop/2/1', restarts: 2, lastExit: exitAt(NOW - 1000) })],
    new Map([['shop/2/0', 0]]),
    true,
    /instance shop\/2\/1/,
  ],
  [
    'two crashed: the first is named, the other counted',
    [
      life({ phase: 'Backoff', lastExit: exitAt(NOW - 10) }),
      life({ id: 'shop/2/1', phase: 'Backoff', lastExit: exitAt(NOW - 20) }),
    ],
    new Map(),
    true,
    /shop\/2\/0 .*1 more instance\(s\) too/,
  ],
];

for (const [name, instances, seen, crashed, message] of CASES) {
  test(`crashes: ${name}`, () => {
    const out = crashVerdicts(instances, seen, NOW, STARTED);
    assert.equal(out.length, crashed ? 1 : 0, JSON.stringify(out));
    if (!crashed) return;
    const [v] = out;
    assert.equal(v!.phase, 'Breach');
    assert.equal(v!.rule.name, 'crashed');
    assert.equal(v!.rule.severity, 'P0');
    assert.equal(v!.rule.for, 0);
    assert.match(v!.message, message!);
    assert.match(v!.message, /application crashes after deployment/);
  });
}

test('restartCounts: the counts of the first look, by instance', () => {
  const seen = restartCounts([life({ restarts: 2 }), life({ id: 'shop/2/1' })]);
  assert.deepEqual(
    [...seen],
    [
      ['shop/2/0', 2],
      ['shop/2/1', 0],
    ],
  );
});
