import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newer, rolloutWindow } from './rollout-window.ts';

test('the window of a rollout running, ended, and just started', () => {
  const cases: [number, number | null, number | null, number, { from: number; to: number }][] = [
    [1_000_000, null, 1060, 1_061_500, { from: 985, to: 1060 }],
    [1_000_000, null, null, 1_061_500, { from: 985, to: 1060 }],
    [1_000_000, 1_020_200, 1100, 1_101_000, { from: 985, to: 1051 }],
    [1_000_000, 1_020_200, 1030, 1_031_000, { from: 985, to: 1030 }],
    [1_000_000, null, 1001, 1_001_500, { from: 985, to: 1005 }],
  ];
  for (const [createdAt, finishedAt, latest, now, window] of cases)
    assert.deepEqual(rolloutWindow({ createdAt, finishedAt }, latest, now), window);
});

test('newer picks the later copy of a rollout', () => {
  const a = { generation: 3, updatedAt: 10 };
  const b = { generation: 4, updatedAt: 9 };
  const c = { generation: 4, updatedAt: 12 };
  assert.equal(newer(a, b), b);
  assert.equal(newer(b, a), b);
  assert.equal(newer(b, c), c);
  assert.equal(newer(undefined, a), a);
  assert.equal(newer(a, undefined), a);
});
