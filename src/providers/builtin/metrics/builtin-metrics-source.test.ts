import assert from 'node:assert/strict';
import { test } from 'node:test';
import { samplesOf } from '../../metrics-source.ts';
import { LATENCY_BOUNDS_MS, type MetricsBucket } from '../proxy/types.ts';
import { BUILTIN_LATENCY_BOUNDS_MS, BuiltinMetricsSource } from './builtin-metrics-source.ts';

const latency = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
latency[4] = 7;
const bucket: MetricsBucket = {
  second: 1_800_000_000,
  revisions: [{ revision: 2, requests: 7, errors5xx: 1, connectFailures: 2, latency }],
};

test('the built-in source gives the proxy buckets as samples, each histogram with the proxy bounds', async () => {
  const asked: [string, number][] = [];
  const source = new BuiltinMetricsSource(async (app, since) => {
    asked.push([app, since]);
    return [bucket];
  });
  const read = await source.read('shop', 1_799_999_990);
  assert.deepEqual(asked, [['shop', 1_799_999_990]]);
  assert.equal(read.phase, 'Successful');
  const [sample] = samplesOf(read);
  assert.equal(sample!.second, bucket.second);
  const [rev] = sample!.revisions;
  assert.deepEqual(
    {
      revision: rev!.revision,
      requests: rev!.requests,
      errors5xx: rev!.errors5xx,
      connectFailures: rev!.connectFailures,
    },
    { revision: 2, requests: 7, errors5xx: 1, connectFailures: 2 },
  );
  assert.equal(rev!.latency.boundsMs, BUILTIN_LATENCY_BOUNDS_MS);
  assert.deepEqual(BUILTIN_LATENCY_BOUNDS_MS, LATENCY_BOUNDS_MS, "the proxy's bounds, not a copy of them");
  assert.equal(rev!.latency.counts, latency, 'shared, not copied');
});

test('a read that fails resolves to phase Error with the reason and no samples: it never throws', async () => {
  const source = new BuiltinMetricsSource(async () => {
    throw new Error('connect ECONNREFUSED 127.0.0.1:4000');
  });
  const read = await source.read('shop', 0);
  assert.deepEqual(read, { phase: 'Error', error: 'connect ECONNREFUSED 127.0.0.1:4000', samples: [] });
  assert.deepEqual(samplesOf(read), []);
});
