import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetricsBucket } from '../../providers/builtin/proxy/types.ts';
import { computeImpact, type WeightPoint } from './compute-impact.ts';

const T0 = 1_700_000_000; // seconds
const bucket = (offset: number, ...revs: [number, number, number, number][]): MetricsBucket => ({
  second: T0 + offset,
  revisions: revs.map(([revision, requests, errors5xx, connectFailures]) => ({
    revision,
    requests,
    errors5xx,
    connectFailures,
    latency: [],
  })),
});
const at = (offsetSeconds: number) => (T0 + offsetSeconds) * 1000;
const weights = (offsetSeconds: number, stable: number, bad: number): WeightPoint => ({
  at: at(offsetSeconds),
  weights: [
    { revision: 1, weight: stable },
    { revision: 2, weight: bad },
  ],
});

test('sums the bad revision: served, 5xx + connect failures, error rate, stable rate beside it', () => {
  const impact = computeImpact(
    [
      bucket(0, [1, 90, 0, 0], [2, 10, 1, 0]),
      bucket(1, [1, 80, 1, 0], [2, 18, 3, 2]),
      bucket(2, [1, 100, 0, 0]),
    ],
    2,
    1,
    [weights(0, 80, 20), weights(2, 100, 0)],
  );
  assert.equal(impact.requestsServed, 30); // 10 + 18 answered + 2 connection attempts
  assert.equal(impact.requestsFailed, 6); // 1 + 3 5xx + 2 connect failures
  assert.equal(impact.connectFailures, 2);
  assert.equal(impact.errorRate, 0.2);
  assert.equal(impact.stableErrorRate, 1 / 270);
  assert.equal(impact.trafficShare, 0.2);
  assert.equal(impact.exposureMs, 2000);
  assert.equal(impact.from, at(0));
  assert.equal(impact.to, at(2));
  assert.equal(impact.stickyUsersExposed, null);
});

test('traffic share is the largest weight share over a canary ladder; exposure sums periods', () => {
  const impact = computeImpact([], 2, 1, [
    weights(10, 90, 10),
    weights(20, 75, 25),
    weights(30, 50, 50),
    weights(35, 100, 0),
    weights(60, 90, 10), // a second attempt later
    weights(61.5, 100, 0),
  ]);
  assert.equal(impact.trafficShare, 0.5);
  assert.equal(impact.exposureMs, 25_000 + 1_500);
  assert.equal(impact.from, at(10));
  assert.equal(impact.to, at(61.5));
  assert.equal(impact.requestsServed, 0);
  assert.equal(impact.errorRate, 0);
  assert.equal(impact.stableErrorRate, null);
});

test('still exposed at the end: until closes the period, unsorted weights are fine', () => {
  const impact = computeImpact([], 2, 1, [weights(5, 0, 100), weights(0, 100, 0)], {
    until: at(12),
    stickyUsersExposed: 7,
  });
  assert.equal(impact.trafficShare, 1);
  assert.equal(impact.exposureMs, 7000);
  assert.equal(impact.to, at(12));
  assert.equal(impact.stickyUsersExposed, 7);
});

test('pinned users after the weight went to 0 extend the exposure; a straddling bucket does not', () => {
  const straddle = computeImpact([bucket(4, [2, 5, 0, 0])], 2, 1, [weights(0, 90, 10), weights(4.3, 100, 0)]);
  assert.equal(straddle.exposureMs, 4300);
  assert.equal(straddle.to, at(4.3));

  const pinned = computeImpact([bucket(4, [2, 5, 0, 0]), bucket(9, [2, 1, 1, 0])], 2, 1, [
    weights(0, 90, 10),
    weights(4.3, 100, 0),
  ]);
  assert.equal(pinned.to, at(10));
  assert.equal(pinned.exposureMs, 4300 + 5700);
  assert.equal(pinned.requestsServed, 6);
  assert.equal(pinned.requestsFailed, 1);
});

test('without weights, share and exposure come from the buckets', () => {
  const impact = computeImpact(
    [bucket(0, [1, 75, 0, 0], [2, 25, 0, 0]), bucket(3, [2, 10, 10, 0])],
    2,
    null,
    [],
  );
  assert.equal(impact.trafficShare, 35 / 110);
  assert.equal(impact.from, at(0));
  assert.equal(impact.to, at(4));
  assert.equal(impact.exposureMs, 4000);
  assert.equal(impact.stableErrorRate, null, 'no stable revision');
});

test('no traffic at all: zeros and null bounds', () => {
  const impact = computeImpact([bucket(0, [1, 10, 0, 0])], 2, 1, []);
  assert.deepEqual(
    { ...impact },
    {
      requestsServed: 0,
      requestsFailed: 0,
      connectFailures: 0,
      errorRate: 0,
      stableErrorRate: 0,
      trafficShare: 0,
      stickyUsersExposed: null,
      exposureMs: 0,
      from: null,
      to: null,
    },
  );
});
