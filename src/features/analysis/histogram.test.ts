import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LatencyHistogram } from '../../providers/metrics-source.ts';
import { addHistogram, bucketIndex, emptyHistogram, histogramCount, rebin, sameBounds } from './histogram.ts';

const h = (boundsMs: number[], counts: number[]): LatencyHistogram => ({ boundsMs, counts });

test('bucketIndex: a latency on a bound is in that bound’s bucket; above the last, the open one', () => {
  const bounds = [5, 50, 500];
  const cases: [number, number][] = [
    [0, 0],
    [5, 0],
    [5.01, 1],
    [500, 2],
    [501, 3],
  ];
  for (const [ms, want] of cases) assert.equal(bucketIndex(bounds, ms), want, `${ms} ms`);
});

test('sameBounds: the same array, or equal values', () => {
  const a = [1, 2, 3];
  assert.equal(sameBounds(a, a), true);
  assert.equal(sameBounds(a, [1, 2, 3]), true);
  assert.equal(sameBounds(a, [1, 2]), false);
  assert.equal(sameBounds(a, [1, 2, 4]), false);
});

// Counts in other bounds go to the bucket holding their own bucket's upper bound: never faster.
const rebins: [string, LatencyHistogram, number[], number[]][] = [
  ['same bounds: added as they are', h([5, 50], [1, 2, 3]), [5, 50], [1, 2, 3]],
  ['finer onto coarser', h([1, 5, 20, 50], [1, 2, 3, 4, 5]), [5, 50], [3, 7, 5]],
  ['coarser onto finer: at the upper bound', h([5, 50], [1, 2, 3]), [1, 5, 20, 50], [0, 1, 0, 2, 3]],
  ['an upper bound past the last: the open bucket', h([100], [4, 1]), [5, 50], [0, 0, 5]],
  ['short counts read as 0', h([5, 50], [7]), [5, 50], [7, 0, 0]],
];
for (const [what, from, bounds, want] of rebins)
  test(`addHistogram re-bins: ${what}`, () => {
    const into = emptyHistogram(bounds);
    addHistogram(into, from);
    assert.deepEqual(into.counts, want);
    assert.equal(histogramCount(into), histogramCount(from));
    if (!sameBounds(from.boundsMs, bounds)) assert.deepEqual(rebin(from, bounds).counts, want);
  });

test('rebin onto its own bounds is the histogram itself (no copy on the hot path)', () => {
  const x = h([5, 50], [1, 2, 3]);
  assert.equal(rebin(x, [5, 50]), x);
});
