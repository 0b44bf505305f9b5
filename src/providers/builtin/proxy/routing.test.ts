import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHUNKED_ERROR, CHUNKED_NEED_MORE, ChunkScanner } from './chunked.ts';
import { compileRoute, cookieValue, fnv1a, pickBackend, pickOther } from './routing.ts';
import { latencyBucket } from './shared.ts';
import type { RouteTable } from './types.ts';

const t = (weights: [number, number, number][]): RouteTable => ({
  app: 'a',
  version: 1,
  listen: { host: '127.0.0.1', port: 0 },
  forceHeader: 'X-Rewind-Revision',
  stickyHeader: 'X-User',
  backends: weights.map(([revision, weight, n]) => ({
    revision,
    weight,
    upstreams: Array.from({ length: n }, (_, i) => ({ host: 'h', port: revision * 10 + i })),
  })),
});
const slots = new Map([
  [1, 0],
  [2, 1],
  [3, 2],
]);
const pool = (host: string, port: number): string => `${host}:${port}`;

test('compileRoute: eligibility, order, lower-cased names', () => {
  const r = compileRoute(
    t([
      [2, 10, 1],
      [1, 90, 2],
      [3, 50, 0],
    ]),
    slots,
    pool,
  );
  assert.deepEqual(
    r.eligible.map((b) => b.revision),
    [1, 2],
  );
  assert.deepEqual(r.cumulative, [90, 100]);
  assert.equal(r.byRevision.has(3), false);
  assert.equal(r.forceHeader, 'x-rewind-revision');
  assert.equal(r.stickyHeader, 'x-user');
  assert.deepEqual(r.byRevision.get(1)?.pools, ['h:10', 'h:11']);
});

test('pickBackend: sticky keys are stable and move monotonically with the weights', () => {
  const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
  let prev = new Map<string, number>();
  for (const w of [0, 10, 25, 50, 75, 100]) {
    const r = compileRoute(
      t([
        [1, 100 - w, 1],
        [2, w, 1],
      ]),
      slots,
      pool,
    );
    const now = new Map(keys.map((k) => [k, pickBackend(r, k)?.revision as number]));
    for (const k of keys) assert.equal(pickBackend(r, k)?.revision, now.get(k));
    const on2 = [...now.values()].filter((v) => v === 2).length;
    assert.ok(Math.abs(on2 - w * 10) < 60, `w=${w}: ${on2}`);
    for (const [k, v] of prev) if (v === 2) assert.equal(now.get(k), 2, 'a key never moves back');
    prev = now;
  }
  assert.equal(fnv1a('abc'), fnv1a('abc'));
  assert.notEqual(fnv1a('abc'), fnv1a('abd'));
});

test('pickOther prefers another revision; none when alone', () => {
  const r = compileRoute(
    t([
      [1, 90, 1],
      [2, 10, 1],
    ]),
    slots,
    pool,
  );
  const one = r.byRevision.get(1);
  assert.ok(one);
  for (let i = 0; i < 20; i++) assert.equal(pickOther(r, one)?.revision, 2);
  const solo = compileRoute(
    t([
      [1, 100, 2],
      [2, 0, 1],
    ]),
    slots,
    pool,
  );
  assert.equal(
    pickOther(solo, solo.byRevision.get(1) as NonNullable<ReturnType<typeof solo.byRevision.get>>),
    undefined,
  );
});

test('cookieValue', () => {
  assert.equal(cookieValue('a=1; uid=xyz; b=2', 'uid'), 'xyz');
  assert.equal(cookieValue('uid=first', 'uid'), 'first');
  assert.equal(cookieValue('xuid=no; uid=yes', 'uid'), 'yes');
  assert.equal(cookieValue('a=1', 'uid'), undefined);
});

test('ChunkScanner finds the end across arbitrary splits, rejects garbage', () => {
  const msg = Buffer.from(
    '4\r\nWiki\r\n5;x=y\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: v\r\n\r\nNEXT',
  );
  const end = msg.length - 4;
  const s = new ChunkScanner();
  assert.equal(s.scan(msg, 0), end);
  for (let split = 1; split < end; split++) {
    s.reset();
    assert.equal(s.scan(msg.subarray(0, split), 0), CHUNKED_NEED_MORE);
    assert.equal(s.scan(msg.subarray(split), 0), end - split);
  }
  s.reset();
  assert.equal(s.scan(Buffer.from('zz\r\n'), 0), CHUNKED_ERROR);
  s.reset();
  assert.equal(s.scan(Buffer.from('2\r\nabX'), 0), CHUNKED_ERROR);
});

test('latencyBucket', () => {
  assert.equal(latencyBucket(0.1), 0);
  assert.equal(latencyBucket(0.5), 0);
  assert.equal(latencyBucket(0.6), 1);
  assert.equal(latencyBucket(10_000), 21);
  assert.equal(latencyBucket(10_001), 22);
});
