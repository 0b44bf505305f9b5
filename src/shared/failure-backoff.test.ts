import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureBackoff } from './failure-backoff.ts';

test('a lasting failure is retried less and less often, reported once, then now and then', () => {
  const b = new FailureBackoff({ baseMs: 100, maxMs: 2000, reportEveryMs: 30_000 });
  assert.equal(b.due(0), true);
  assert.deepEqual(b.failed(0), { report: 'first', failures: 1, forMs: 0 });
  assert.equal(b.due(99), false);
  assert.equal(b.due(100), true);
  assert.equal(b.failed(100).report, null);
  assert.equal(b.due(299), false, 'the second delay doubles');
  assert.equal(b.waitMs(250), 50);
  let now = 300;
  let reports = 0;
  for (let i = 0; i < 40; i++) {
    if (b.failed(now).report) reports++;
    now += 2000;
  }
  assert.equal(b.due(now - 1), false);
  assert.equal(b.due(now), true, 'the delay stops at maxMs');
  assert.equal(reports, 2, 'over 80 s of failures: a summary every 30 s');
  assert.deepEqual(b.succeeded(now), { failures: 42, forMs: now });
  assert.equal(b.succeeded(now), null, 'a success after a success ends no run');
  assert.equal(b.failed(now).report, 'first', 'a new run is reported in full again');
});

test('reset lets the next periodic try run at once', () => {
  const b = new FailureBackoff();
  b.failed(0);
  b.failed(100);
  assert.equal(b.due(150), false);
  b.reset();
  assert.equal(b.due(150), true);
  assert.equal(b.failed(150).report, 'first');
});
