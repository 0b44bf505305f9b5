// The verify: block: the runbook's checklist by default, thresholds written as rules write them,
// and each mistake named with its field and the fix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifySpecSchema } from './verify-spec.ts';

test('defaults are the runbook checklist: 15 minutes, error rate < 1%, p95 < 2s, CPU < 70%, memory < 80%', () => {
  assert.deepEqual(verifySpecSchema.parse(undefined), {
    watch: 900_000,
    errorRate: 0.01,
    latencyP95: 2000,
    cpu: 0.7,
    memory: 0.8,
    for: 10_000,
    checks: [],
    checkEvery: 60_000,
  });
});

test('thresholds as a rule writes them', () => {
  const v = verifySpecSchema.parse({
    errorRate: '2.5%',
    latencyP95: '750ms',
    cpu: 0.5,
    memory: '90%',
    watch: '1h',
  });
  assert.equal(v.errorRate, 0.025);
  assert.equal(v.latencyP95, 750);
  assert.equal(v.cpu, 0.5);
  assert.equal(v.memory, 0.9);
  assert.equal(v.watch, 3_600_000);
});

test('a mistake names the field, the value and the fix', () => {
  for (const [input, path, message] of [
    [
      { errorRate: 5 },
      'errorRate',
      /5 can never fire: errorRate is a share between 0 and 1.*did you mean "5%"/,
    ],
    [
      { errorRate: '3x baseline' },
      'errorRate',
      /"3x baseline" compares with a baseline.*fixed threshold such as 0\.05/,
    ],
    [
      { latencyP95: 'fast' },
      'latencyP95',
      /"fast" is not a threshold for latencyP95; write milliseconds \(250\) or a duration/,
    ],
    [{ memory: -1 }, 'memory', /-1 is negative/],
    [{ watch: '25h' }, 'watch', /longer than a day/],
    [{ checkEvery: '100ms' }, 'checkEvery', /at least 1s/],
    [{ within: '1m' }, '', /within/],
  ] as const) {
    const r = verifySpecSchema.safeParse(input);
    assert.equal(r.success, false, JSON.stringify(input));
    const issue = r.error!.issues[0]!;
    assert.equal(issue.path.join('.'), path, JSON.stringify(input));
    assert.match(issue.message + JSON.stringify(issue), message, JSON.stringify(input));
  }
});
