import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration } from '../../shared/duration.ts';
import type { Incident } from './incident.ts';
import { formatPercent, PLACEHOLDER, renderIncidentJson, renderIncidentMarkdown } from './render-markdown.ts';

const T = Date.UTC(2024, 0, 15, 14, 30, 0);

const incident: Incident = {
  id: 'inc-20240115T143000-ab12',
  app: 'shop',
  rolloutId: 'r-42',
  severity: 'P1',
  status: 'Resolved',
  title: 'shop: rolled back v2.0: error rate 12.5% > 5% for 30s',
  openedAt: T + 45_000,
  resolvedAt: T + 160_000,
  revisions: { from: { number: 3, version: 'v1.0' }, to: { number: 4, version: 'v2.0' } },
  trigger: {
    kind: 'rule',
    rule: 'payment errors',
    metric: 'errorRate',
    observed: 0.125,
    threshold: 0.05,
    window: { from: T + 15_000, to: T + 45_000 },
    breachingSince: T + 15_000,
    message: 'error rate 12.5% > 5% for 30s',
  },
  timeline: [
    { at: T, event: 'Rollout started', detail: 'canary v2.0' },
    { at: T + 10_000, event: 'Weight set', detail: 'v2.0 25%' },
    { at: T + 45_000, event: 'Incident opened', detail: 'P1: error rate 12.5% > 5% for 30s' },
    { at: T + 45_400, event: 'Traffic restored' },
  ],
  impact: {
    requestsServed: 12_345,
    requestsFailed: 1_543,
    connectFailures: 3,
    errorRate: 1_543 / 12_345,
    stableErrorRate: 0.0004,
    trafficShare: 0.25,
    stickyUsersExposed: 321,
    exposureMs: 90_000,
    from: T,
    to: T + 90_000,
  },
  actions: [
    { at: T + 45_100, action: 'set weights v1.0=100 v2.0=0', by: 'rewind', result: 'ok' },
    { at: T + 46_000, action: 'notified webhook ops', by: 'rewind', result: 'delivered in 1 attempt' },
    { at: T + 130_000, action: 'stopped revision 4', by: 'rewind', result: 'ok' },
  ],
  verification: {
    at: T + 160_000,
    passed: true,
    checks: [
      { name: 'http /health', passed: true, detail: '200 in 3ms' },
      { name: 'error rate', passed: true, detail: '0.04% | below 1%' },
    ],
  },
  rollback: {
    startedAt: T + 45_000,
    trafficRestoredAt: T + 45_400,
    completedAt: T + 135_000,
    durationMs: 90_000,
  },
};

const headings = (md: string) => md.split('\n').filter((l) => /^#{1,3} /.test(l));

test('sections follow the seed 002 template, in its order, then the checklist', () => {
  const md = renderIncidentMarkdown(incident);
  const h2 = headings(md).filter((h) => h.startsWith('## '));
  assert.deepEqual(h2, [
    '## Summary',
    '## Timeline',
    '## Root Cause',
    '## Actions Taken',
    '## Lessons Learned',
    '## Checklist',
  ]);
  assert.ok(md.startsWith('# Incident Report: shop: rolled back v2.0'));
  assert.deepEqual(headings(md), [
    '# Incident Report: shop: rolled back v2.0: error rate 12.5% > 5% for 30s',
    '## Summary',
    '### Trigger',
    '### Impact',
    '## Timeline',
    '## Root Cause',
    '## Actions Taken',
    '### Rollback',
    '### Verification',
    '## Lessons Learned',
    '## Checklist',
    '### During Rollback',
    '### Post-Rollback',
  ]);
  assert.ok(md.endsWith('\n') && !md.endsWith('\n\n'));
});

test('summary facts: UTC date and time, duration, impact numbers and percentages', () => {
  const md = renderIncidentMarkdown(incident);
  assert.match(md, /^- \*\*Date\*\*: 2024-01-15$/m);
  assert.match(md, /^- \*\*Time\*\*: 14:30:00 UTC$/m);
  assert.match(md, /^- \*\*Duration\*\*: 45\.4s \(first traffic to v2\.0 until traffic was restored\)$/m);
  assert.match(
    md,
    /^- \*\*Impact\*\*: 25% of traffic on v2\.0 for 1m30s; 1,543 of 12,345 requests failed \(12\.5%\); 321 sticky users exposed$/m,
  );
  assert.match(md, /^- \*\*Severity\*\*: P1$/m);
  assert.match(md, /^- \*\*Status\*\*: Resolved at 2024-01-15T14:32:40\.000Z$/m);
  assert.match(md, /^- \*\*Revisions\*\*: v2\.0 \(revision 4\) rolled back to v1\.0 \(revision 3\)$/m);
  assert.match(md, /^- \*\*Observed\*\*: 12\.5% \(threshold 5%\)$/m);
  assert.match(md, /^- \*\*Window\*\*: 14:30:15 to 14:30:45 UTC \(30s\)$/m);
  assert.match(md, /^- \*\*Breaching since\*\*: 14:30:15 UTC$/m);
  assert.match(md, /^- \*\*Error rate\*\*: 12\.5% \(v1\.0: 0\.04%\)$/m);
  assert.match(md, /^- \*\*Exposure\*\*: 1m30s \(14:30:00 to 14:31:30 UTC\)$/m);
});

test('timeline, actions, rollback and verification carry their times', () => {
  const md = renderIncidentMarkdown(incident);
  assert.match(
    md,
    /## Timeline\n- 14:30:00: Rollout started \(canary v2\.0\)\n- 14:30:10: Weight set \(v2\.0 25%\)\n/,
  );
  assert.match(md, /^- 14:30:45: Traffic restored$/m);
  assert.match(md, /^- 14:30:45 rewind: set weights v1\.0=100 v2\.0=0 \(ok\)$/m);
  assert.match(md, /^- \*\*Traffic restored\*\*: 14:30:45 UTC \(\+400ms\)$/m);
  assert.match(md, /^- \*\*Completed\*\*: 14:32:15 UTC \(\+1m30s\)$/m);
  assert.match(md, /^- \*\*Duration\*\*: 1m30s$/m);
  assert.match(md, /^- \*\*Result\*\*: passed at 14:32:40 UTC$/m);
  assert.match(md, /^\| http \/health \| passed \| 200 in 3ms \|$/m);
  assert.match(md, /^\| error rate \| passed \| 0\.04% \\\| below 1% \|$/m, 'pipes in details are escaped');
});

test('root cause and lessons learned are headed placeholders; the checklist is ticked from the facts', () => {
  const md = renderIncidentMarkdown(incident);
  assert.match(md, new RegExp(`## Root Cause\\n${PLACEHOLDER}\\n\\n## Actions Taken`));
  assert.match(md, new RegExp(`## Lessons Learned\\n${PLACEHOLDER}\\n\\n## Checklist`));
  assert.match(md, /^- \[x\] Verify system health$/m);
  assert.match(md, /^- \[x\] Communicate to team$/m);
  assert.match(md, /^- \[x\] Incident report created$/m);
  assert.match(md, /^- \[ \] Root cause analysis$/m);
  assert.match(md, /^- \[ \] Lessons learned documented$/m);
});

test('an open, unverified incident with no traffic and no earlier revision still renders', () => {
  const md = renderIncidentMarkdown({
    ...incident,
    status: 'Escalated',
    severity: 'P0',
    resolvedAt: null,
    revisions: { from: null, to: { number: 1, version: 'v1.0' } },
    trigger: { kind: 'manual', message: 'rolled back by alice\nvia the CLI' },
    timeline: [],
    actions: [],
    impact: {
      ...incident.impact,
      requestsServed: 0,
      requestsFailed: 0,
      trafficShare: 0,
      from: null,
      to: null,
      stableErrorRate: null,
      stickyUsersExposed: null,
    },
    verification: null,
    rollback: {
      startedAt: T + 86_400_000 + 5_000,
      trafficRestoredAt: null,
      completedAt: null,
      durationMs: null,
    },
  });
  assert.match(md, /^- \*\*Date\*\*: 2024-01-16$/m);
  assert.match(md, /^- \*\*Duration\*\*: ongoing \(traffic not yet restored\)$/m);
  assert.match(md, /^- \*\*Impact\*\*: no traffic reached v1\.0$/m);
  assert.match(md, /^- \*\*Status\*\*: Escalated$/m);
  assert.match(md, /rolled back to nothing \(no earlier revision\)/);
  assert.match(md, /^- \*\*Reason\*\*: rolled back by alice via the CLI$/m);
  assert.match(md, /^- \*\*Sticky users exposed\*\*: unknown$/m);
  assert.match(md, /^- \*\*Traffic restored\*\*: not yet$/m);
  assert.match(md, /^- Not verified yet\.$/m);
  assert.match(md, /^- \[ \] Verify system health$/m);
  assert.match(md, /## Timeline\n- \(no events recorded\)/);
});

test('times on another day than the report carry their date', () => {
  const md = renderIncidentMarkdown({
    ...incident,
    timeline: [...incident.timeline, { at: T + 86_400_000, event: 'Postmortem scheduled' }],
  });
  assert.match(md, /^- 2024-01-16 14:30:00: Postmortem scheduled$/m);
});

test('JSON is the document, round-trippable', () => {
  const json = renderIncidentJson(incident);
  assert.deepEqual(JSON.parse(json), incident);
  assert.ok(json.endsWith('}\n'));
});

test('duration and percentage formats', () => {
  const cases: [number, string][] = [
    [0, '0ms'],
    [850, '850ms'],
    [1000, '1s'],
    [12_345, '12.3s'],
    [59_960, '1m'],
    [90_000, '1m30s'],
    [119_700, '2m'],
    [3_600_000, '1h'],
    [3_725_000, '1h2m5s'],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, `${ms}ms`);
  assert.equal(formatPercent(0), '0%');
  assert.equal(formatPercent(1), '100%');
  assert.equal(formatPercent(0.125), '12.5%');
  assert.equal(formatPercent(1 / 3), '33.33%');
  assert.equal(formatPercent(0.00001234), '0.001%');
  assert.equal(formatPercent(0.0000001), '<0.001%');
});

test('the trigger says when it was caught and by which judgment', () => {
  const md = renderIncidentMarkdown({
    ...incident,
    trigger: {
      kind: 'judgment',
      judgment: 'before/after',
      phase: 'during the post-deploy watch, 2m 10s after the switch',
      metric: 'errorRate',
      message: 'judged worse than the previous revision before the switch on errorRate',
    },
  });
  assert.match(md, /- \*\*Caught\*\*: during the post-deploy watch, 2m 10s after the switch/);
  assert.match(md, /- \*\*Judgment\*\*: before\/after the switch/);
});

test('no number in a report carries a float tail or more than 3 decimals', () => {
  const messy: Incident = {
    ...incident,
    trigger: { ...incident.trigger, observed: 0.1 + 0.2, threshold: 1 - 0.99 },
    impact: {
      ...incident.impact,
      requestsServed: 3,
      requestsFailed: 1,
      errorRate: 1 / 3,
      stableErrorRate: 0.00001234,
      trafficShare: 0.1 + 0.2,
      exposureMs: 1234.5678,
    },
    rollback: { ...incident.rollback, trafficRestoredAt: T + 45_000.123, durationMs: 0.1 + 0.2 },
  };
  const latency: Incident = {
    ...messy,
    trigger: { ...messy.trigger, metric: 'latencyP99', observed: 250.123456, threshold: 100 / 3 },
  };
  const unknown: Incident = {
    ...messy,
    trigger: { ...messy.trigger, metric: 'custom', observed: 2 / 3, threshold: 0.00002 },
  };
  for (const md of [messy, latency, unknown].map(renderIncidentMarkdown)) {
    // Times (14:30:45.123Z) are not numbers a person compares; everything else is.
    const numbers = md.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '').match(/\d+\.\d{4,}/g);
    assert.equal(numbers, null, md);
  }
  const [md, slow, other] = [messy, latency, unknown].map(renderIncidentMarkdown);
  assert.match(md!, /^- \*\*Observed\*\*: 30% \(threshold 1%\)$/m);
  assert.match(md!, /^- \*\*Error rate\*\*: 33\.33% \(v1\.0: 0\.001%\)$/m);
  assert.match(md!, /^- \*\*Largest traffic share\*\*: 30%$/m);
  assert.match(md!, /^- \*\*Exposure\*\*: 1\.2s /m);
  assert.match(md!, /^- \*\*Duration\*\*: 0ms$/m);
  assert.match(slow!, /^- \*\*Observed\*\*: 250ms \(threshold 33\.3ms\)$/m);
  assert.match(other!, /^- \*\*Observed\*\*: 0\.667 \(threshold 2\.0e-5\)$/m);
});

test('a kill switch: the revision kept serving; the duration runs from the breach to the flag being off', () => {
  const killSwitch: Incident = {
    ...incident,
    title: 'shop: flag recommendations disabled: rule recs-errors',
    timeline: [],
    revisions: { from: { number: 4, version: 'v2.0' }, to: { number: 4, version: 'v2.0' } },
    trigger: {
      kind: 'rule',
      rule: 'recs-errors',
      metric: 'errorRate',
      observed: 0.44,
      threshold: 0.1,
      window: { from: T + 2_000, to: T + 3_000 },
      breachingSince: T + 1_000,
      message: 'error rate 44% above 10% for 1s (P1)',
    },
    impact: {
      ...incident.impact,
      requestsServed: 200,
      requestsFailed: 88,
      connectFailures: 0,
      errorRate: 0.44,
      stableErrorRate: null,
      trafficShare: 1,
      stickyUsersExposed: null,
      exposureMs: 2_000,
      from: T + 1_000,
      to: T + 3_000,
    },
    actions: [
      {
        at: T + 3_094,
        action: 'disabled flag recommendations (flag set version 3 -> 4)',
        by: 'rewind',
        result: 'done',
      },
    ],
    rollback: { startedAt: T + 3_000, trafficRestoredAt: T + 3_094, completedAt: T + 3_094, durationMs: 94 },
    partialRollback: {
      flag: 'recommendations',
      flagSetVersionBefore: 3,
      flagSetVersionAfter: 4,
      measuredFrom: T + 1_000,
    },
  };
  const md = renderIncidentMarkdown(killSwitch);
  assert.doesNotMatch(md, /no traffic reached|Traffic restored/);
  assert.match(md, /^- \*\*Time\*\*: 14:30:01 UTC$/m);
  assert.match(md, /^- \*\*Duration\*\*: 2\.1s \(from the breach until flag `recommendations` was off\)$/m);
  assert.match(
    md,
    /^- \*\*Impact\*\*: v2\.0 \(revision 4\) kept serving, 100% of traffic; 88 of 200 requests on it failed \(44%\) from the breach \(14:30:01 UTC\) until flag `recommendations` was off \(14:30:03 UTC\)$/m,
  );
  assert.match(
    md,
    /^- \*\*Partial rollback\*\*: flag `recommendations` disabled \(flag set version 3 -> 4\); v2\.0 \(revision 4\) stays$/m,
  );
  assert.match(md, /^- \*\*Counted over\*\*: v2\.0 \(revision 4\), from the breach/m);
  assert.match(md, /^- \*\*Flag off\*\*: 14:30:03 UTC \(\+94ms\)$/m);

  const byHand = renderIncidentMarkdown({
    ...killSwitch,
    trigger: { kind: 'manual', message: 'recs slow' },
    impact: {
      ...incident.impact,
      requestsServed: 0,
      requestsFailed: 0,
      trafficShare: 0,
      from: null,
      to: null,
    },
    rollback: { startedAt: T + 3_000, trafficRestoredAt: T + 3_007, completedAt: T + 3_007, durationMs: 7 },
    partialRollback: { flag: 'recommendations', flagSetVersionBefore: 3, flagSetVersionAfter: 4 },
  });
  assert.doesNotMatch(byHand, /no traffic reached/);
  assert.match(
    byHand,
    /^- \*\*Duration\*\*: 7ms \(from the command until flag `recommendations` was off\)$/m,
  );
  assert.match(
    byHand,
    /^- \*\*Impact\*\*: v2\.0 \(revision 4\) kept serving; not measured: flag `recommendations` was switched off by hand, and nothing marks when the feature began to fail$/m,
  );
  assert.match(byHand, /### Impact\n- \*\*Requests\*\*: not measured: /);
});

test('the watch after the rollback: watching while Verifying, then how it ended', () => {
  const watching: Incident = {
    ...incident,
    status: 'Verifying',
    resolvedAt: null,
    watch: { revision: 3, startedAt: T + 50_000, until: T + 950_000, endedAt: null, result: null },
  };
  const md = renderIncidentMarkdown(watching);
  assert.match(md, /- \*\*Result\*\*: passed at the switch at /);
  assert.match(md, /- \*\*Watch\*\*: revision 3 from 14:30:50 to 14:45:50 UTC \(15m\): watching/);
  assert.match(md, /- \[ \] Verify system health/, 'not ticked while the watch runs');
  const failed = renderIncidentMarkdown({
    ...watching,
    status: 'Escalated',
    verification: {
      at: T + 80_000,
      passed: false,
      checks: [{ name: 'error rate below 1%', passed: false, detail: 'error rate 9% > 1% for 10s' }],
    },
    watch: {
      ...watching.watch!,
      endedAt: T + 80_000,
      result: 'Failed',
      reason: 'error rate 9% > 1% for 10s',
    },
  });
  assert.match(failed, /\(15m\): FAILED: error rate 9% > 1% for 10s/);
  assert.match(failed, /\| error rate below 1% \| FAILED \| error rate 9% > 1% for 10s \|/);
});
