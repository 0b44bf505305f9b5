import assert from 'node:assert/strict';
import { test } from 'node:test';
import { labelClusters, linearScale, linePath, niceCeiling, timeTicks, valueTicks } from './scale.ts';

test('linearScale maps a domain onto a range, y growing downwards', () => {
  const y = linearScale([0, 1], [200, 0]);
  assert.equal(y(0), 200);
  assert.equal(y(0.5), 100);
  assert.equal(y(1), 0);
  assert.equal(linearScale([5, 5], [10, 20])(7), 10);
});

test('niceCeiling', () => {
  const cases: [number, number][] = [
    [0, 1],
    [-3, 1],
    [0.033, 0.05],
    [0.1, 0.1],
    [0.12, 0.2],
    [0.33, 0.5],
    [2.2, 2.5],
    [7, 10],
    [1234, 2000],
  ];
  for (const [v, nice] of cases) assert.equal(niceCeiling(v), nice, String(v));
});

test('valueTicks fall on round steps', () => {
  const cases: [number, number[]][] = [
    [0.5, [0, 0.1, 0.2, 0.3, 0.4, 0.5]],
    [2, [0, 0.5, 1, 1.5, 2]],
    [2.5, [0, 0.5, 1, 1.5, 2, 2.5]],
    [100, [0, 20, 40, 60, 80, 100]],
    [0.02, [0, 0.005, 0.01, 0.015, 0.02]],
  ];
  for (const [max, ticks] of cases) assert.deepEqual(valueTicks(max), ticks, String(max));
});

test('timeTicks picks a round step with at most max ticks', () => {
  const cases: [number, number, number, number[]][] = [
    [100, 104, 6, [100, 101, 102, 103, 104]],
    [100, 160, 6, [105, 120, 135, 150]],
    [1000, 1600, 6, [1080, 1200, 1320, 1440, 1560]],
    [0, 3600, 4, [0, 1800, 3600]],
  ];
  for (const [from, to, max, ticks] of cases) {
    const got = timeTicks(from, to, max);
    assert.ok(got.length <= max, `${got}`);
    assert.deepEqual(got, ticks);
  }
});

test('linePath writes absolute commands and breaks at nulls', () => {
  const cases: [{ x: number; y: number | null }[], string][] = [
    [[], ''],
    [
      [
        { x: 0, y: 10 },
        { x: 5.55, y: 2.04 },
      ],
      'M0 10 L5.6 2',
    ],
    [
      [
        { x: 0, y: 10 },
        { x: 1, y: 11 },
        { x: 2, y: null },
        { x: 3, y: 5 },
        { x: 4, y: 6 },
      ],
      'M0 10 L1 11 M3 5 L4 6',
    ],
    [
      [
        { x: 0, y: null },
        { x: 1, y: 4 },
        { x: 2, y: null },
      ],
      'M1 4 L1.5 4',
    ],
    [[{ x: 3, y: 0.000001 }], 'M3 0 L3.5 0'],
  ];
  for (const [points, d] of cases) assert.equal(linePath(points), d);
});

test('labelClusters draws one label for labels too close to it', () => {
  const show = (xs: number[]) => labelClusters(xs, 30).map((c) => (c.shown ? `+${c.more}` : '-'));
  assert.deepEqual(show([0, 10, 20, 100, 105]), ['+2', '-', '-', '+1', '-']);
  assert.deepEqual(show([0, 30, 60]), ['+0', '+0', '+0']);
  assert.deepEqual(show([0, 29, 31]), ['+1', '-', '+0']);
  assert.deepEqual(show([]), []);
});
