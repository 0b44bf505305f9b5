import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CounterShapeError, increases, type PromSeries, samplesFromCounters } from './counter-series.ts';

const pts = (start: number, ...vals: (number | null)[]): PromSeries['values'] =>
  vals.flatMap((v, i) => (v === null ? [] : [[start + i, String(v)] as const]));

test('a counter becomes its increase per second', () => {
  const cases: { name: string; values: PromSeries['values']; want: [number, number][] }[] = [
    {
      name: 'steady',
      values: pts(100, 10, 13, 13, 20),
      want: [
        [100, 3],
        [102, 7],
      ],
    },
    {
      name: 'reset: the new value counts from 0',
      values: pts(100, 50, 60, 4, 9),
      want: [
        [100, 10],
        [101, 4],
        [102, 5],
      ],
    },
    {
      name: 'appears inside the range: counts from 0',
      values: pts(100, null, null, 5, 8),
      want: [
        [101, 5],
        [102, 3],
      ],
    },
    { name: 'present at the start: a baseline, not traffic', values: pts(100, 5000, 5002), want: [[100, 2]] },
    { name: 'a gap keeps the last value', values: pts(100, 10, null, null, 16), want: [[102, 6]] },
    {
      name: 'points outside the range are ignored',
      values: pts(98, 1, 2, 10, 11, 12, 99, 500),
      want: [
        [100, 1],
        [101, 1],
        [102, 87],
      ],
    },
    {
      name: 'NaN is skipped',
      values: [
        [100, '1'],
        [101, 'NaN'],
        [102, '4'],
      ],
      want: [[101, 3]],
    },
  ];
  for (const c of cases) assert.deepEqual([...increases(c.values, 100, 103)], c.want, c.name);
});

test('series are differenced one by one, then summed per revision: a removed instance is no drop', () => {
  const requests: PromSeries[] = [
    { metric: { revision: '1', instance: 'a' }, values: pts(100, 100, 110, 120, 130) },
    // Instance b of revision 1 goes away after 101: its series ends, the sum does not "reset".
    { metric: { revision: '1', instance: 'b' }, values: pts(100, 900, 905) },
    { metric: { revision: '2', instance: 'c' }, values: pts(100, 0, 4, 8, 12) },
    // Not a Rewind revision: left out.
    { metric: { revision: 'legacy', instance: 'd' }, values: pts(100, 0, 50, 100, 150) },
  ];
  const errors: PromSeries[] = [
    { metric: { revision: '2', instance: 'c', code: '500' }, values: pts(100, 0, 1, 1, 3) },
  ];
  const latency: PromSeries[] = [
    { metric: { revision: '2', instance: 'c', le: '0.1' }, values: pts(100, 0, 2, 4, 5) },
    { metric: { revision: '2', instance: 'c', le: '0.5' }, values: pts(100, 0, 3, 7, 10) },
    { metric: { revision: '2', instance: 'c', le: '+Inf' }, values: pts(100, 0, 4, 8, 12) },
  ];
  const samples = samplesFromCounters(
    { requests, errors, latency },
    { revisionLabel: 'revision', from: 100, to: 103 },
  );
  assert.deepEqual(
    samples.map((s) => [s.second, s.revisions.map((r) => [r.revision, r.requests, r.errors5xx])]),
    [
      [
        100,
        [
          [1, 15, 0],
          [2, 4, 1],
        ],
      ],
      [
        101,
        [
          [1, 10, 0],
          [2, 4, 0],
        ],
      ],
      [
        102,
        [
          [1, 10, 0],
          [2, 4, 2],
        ],
      ],
    ],
  );
  const second102 = samples[2]!.revisions.find((r) => r.revision === 2)!;
  assert.deepEqual(second102.latency, { boundsMs: [100, 500], counts: [1, 2, 1] });
  assert.equal(
    samples[0]!.revisions[0]!.latency.counts.reduce((a, b) => a + b, 0),
    0,
    'no histogram: no latency known',
  );
});

test('a second without requests is left out', () => {
  const requests: PromSeries[] = [{ metric: { revision: '3' }, values: pts(100, 7, 7, 9) }];
  const samples = samplesFromCounters(
    { requests, errors: [], latency: [] },
    { revisionLabel: 'revision', from: 100, to: 102 },
  );
  assert.deepEqual(
    samples.map((s) => s.second),
    [101],
  );
});

test('a series without the revision label or a bucket without le is refused, naming the query and the fix', () => {
  const noLabel: PromSeries[] = [{ metric: { instance: 'a' }, values: pts(100, 1, 2) }];
  assert.throws(
    () =>
      samplesFromCounters(
        { requests: noLabel, errors: [], latency: [] },
        { revisionLabel: 'revision', from: 100, to: 101 },
      ),
    (err: unknown) =>
      err instanceof CounterShapeError &&
      /the requests query returned a series without the label "revision" \(\{instance="a"\}\)/.test(
        err.message,
      ) &&
      /metrics\.revisionLabel/.test(err.message),
  );
  const noLe: PromSeries[] = [{ metric: { revision: '1' }, values: pts(100, 1, 2) }];
  assert.throws(
    () =>
      samplesFromCounters(
        { requests: [], errors: [], latency: noLe },
        { revisionLabel: 'revision', from: 100, to: 101 },
      ),
    /the latency query returned a series without a bucket bound "le"/,
  );
  const otherLabel: PromSeries[] = [{ metric: { rewind_revision: '4' }, values: pts(100, 1, 3) }];
  assert.deepEqual(
    samplesFromCounters(
      { requests: otherLabel, errors: [], latency: [] },
      { revisionLabel: 'rewind_revision', from: 100, to: 101 },
    ).map((s) => s.revisions[0]!.requests),
    [2],
  );
});
