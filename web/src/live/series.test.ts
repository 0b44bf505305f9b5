import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SeriesPoint } from '../api/types.ts';
import {
  breachSpans,
  mergeSeries,
  revisionsIn,
  ruleSeries,
  type Sample,
  samplesOf,
  summaryOf,
  thresholdOf,
} from './series.ts';

const second = (s: number, ...revisions: [number, number, number, number | null][]): SeriesPoint => ({
  second: s,
  revisions: revisions.map(([revision, requests, errors, p99]) => ({
    revision,
    requests,
    errors,
    p50: p99 === null ? null : p99 / 2,
    p99,
  })),
});

test('mergeSeries orders by second, lets the newer copy of a second win and keeps a window', () => {
  const kept = [second(10, [1, 5, 0, 4]), second(11, [1, 6, 0, 4])];
  const incoming = [second(12, [1, 7, 0, 4]), second(11, [1, 60, 0, 4])];
  const merged = mergeSeries(kept, incoming, 60);
  assert.deepEqual(
    merged.map((p) => [p.second, p.revisions[0]!.requests]),
    [
      [10, 5],
      [11, 60],
      [12, 7],
    ],
  );
  assert.deepEqual(
    mergeSeries(merged, [second(20, [1, 1, 0, 1])], 5).map((p) => p.second),
    [20],
  );
  assert.deepEqual(mergeSeries([], [], 5), []);
});

test('revisionsIn lists every revision once', () => {
  assert.deepEqual(revisionsIn([second(1, [3, 1, 0, 1]), second(2, [1, 1, 0, 1], [3, 1, 0, 1])]), [1, 3]);
});

test('samplesOf fills missing seconds with null and reads each metric', () => {
  const points = [second(10, [1, 10, 1, 8]), second(12, [1, 0, 0, null], [2, 4, 2, 30])];
  const cases: [number, Parameters<typeof samplesOf>[2], (number | null)[]][] = [
    [1, 'requestRate', [10, null, 0]],
    [1, 'errorRate', [0.1, null, null]],
    [1, 'p99', [8, null, null]],
    [1, 'p50', [4, null, null]],
    [2, 'errorRate', [null, null, 0.5]],
  ];
  for (const [revision, metric, values] of cases)
    assert.deepEqual(
      samplesOf(points, revision, metric, 10, 12).map((s) => s.v),
      values,
      `${revision} ${metric}`,
    );
});

test('summaryOf weighs the error rate by requests and averages the rest', () => {
  const points = [second(1, [1, 100, 0, 10]), second(2, [1, 300, 30, 20]), second(3, [2, 5, 5, 99])];
  assert.equal(summaryOf(points, 1, 'errorRate', 0, 9), 30 / 400);
  assert.equal(summaryOf(points, 1, 'p99', 0, 9), 15);
  assert.equal(summaryOf(points, 1, 'p99', 2, 2), 20);
  assert.equal(summaryOf(points, 3, 'p99', 0, 9), null);
});

test('breachSpans finds runs beyond the threshold and whether they held for the window', () => {
  const s = (...vs: (number | null)[]): Sample[] => vs.map((v, i) => ({ t: 100 + i, v }));
  const cases: [Sample[], 'above' | 'below', number, { from: number; to: number; held: boolean }[]][] = [
    [
      s(0, 0.2, 0.3, 0, 0.2),
      'above',
      2,
      [
        { from: 101, to: 102, held: true },
        { from: 104, to: 104, held: false },
      ],
    ],
    [
      s(0.2, null, 0.2),
      'above',
      2,
      [
        { from: 100, to: 100, held: false },
        { from: 102, to: 102, held: false },
      ],
    ],
    [s(0.1, 0.1), 'above', 1, []],
    [s(5, 1, 1, 1), 'below', 3, [{ from: 101, to: 103, held: true }]],
    [s(0.5), 'above', 0, [{ from: 100, to: 100, held: true }]],
  ];
  for (const [samples, direction, forSeconds, spans] of cases)
    assert.deepEqual(
      breachSpans(samples, 0.15 * (direction === 'below' ? 10 : 1), direction, forSeconds),
      spans,
    );
});

test('rules map to the series their chart draws, and to a threshold value', () => {
  const cases: [string, string | null][] = [
    ['errorRate', 'errorRate'],
    ['latencyP50', 'p50'],
    ['latencyP95', 'p99'],
    ['latencyP99', 'p99'],
    ['requestRate', 'requestRate'],
    ['healthFailing', null],
    ['unavailable', null],
  ];
  for (const [metric, series] of cases) assert.equal(ruleSeries({ metric }), series, metric);
  assert.equal(thresholdOf({ threshold: { kind: 'absolute', value: 0.1 } }, null), 0.1);
  assert.equal(thresholdOf({ threshold: { kind: 'relative', factor: 3 } }, 12), 36);
  assert.equal(thresholdOf({ threshold: { kind: 'relative', factor: 3 } }, null), null);
});
