// The runbook's notifications, as text: each turn of an incident with its facts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_IMPACT, type Incident } from './incident.ts';
import { expectedRollbackMs, incidentMessage } from './runbook-messages.ts';

const base: Incident = {
  id: 'inc-1',
  app: 'shop',
  rolloutId: 'r1',
  severity: 'P0',
  status: 'Open',
  title: 'shop: rolled back v2',
  openedAt: 0,
  resolvedAt: null,
  revisions: { from: { number: 1, version: 'v1' }, to: { number: 2, version: 'v2' } },
  trigger: { kind: 'rule', message: 'error rate 12% > 5% for 3s' },
  timeline: [],
  impact: EMPTY_IMPACT,
  actions: [],
  verification: null,
  rollback: { startedAt: 0, trafficRestoredAt: null, completedAt: null, durationMs: null },
};

const took = (durationMs: number | null): Incident => ({
  ...base,
  rollback: { ...base.rollback, durationMs },
});

test('the ETA is the median of earlier rollbacks of the app; none without any', () => {
  for (const [earlier, want] of [
    [[], null],
    [[took(null)], null],
    [[took(300)], 300],
    [[took(300), took(100), took(900)], 300],
    [[took(300), took(100)], 200],
  ] as const)
    assert.equal(
      expectedRollbackMs(earlier),
      want,
      JSON.stringify(earlier.map((i) => i.rollback.durationMs)),
    );
});

test('rollback in progress: issue, impact, action and ETA', () => {
  assert.equal(
    incidentMessage('incident.opened', base, 1200),
    [
      'URGENT - Rollback in progress - shop (P0)',
      '- Issue: error rate 12% > 5% for 3s',
      '- Impact: being measured; what triggered it: error rate 12% > 5% for 3s',
      '- Action: rolling back to v1 (revision 1)',
      "- ETA: about 1.2s (the median of this app's earlier rollbacks)",
    ].join('\n'),
  );
  const measured = {
    ...base,
    impact: { ...EMPTY_IMPACT, requestsServed: 400, requestsFailed: 48, errorRate: 0.12, trafficShare: 0.3 },
  };
  assert.match(
    incidentMessage('incident.opened', measured),
    /- Impact: 48 of 400 requests to v2 failed \(12%\) while it had up to 30% of the traffic\n.*\n- ETA: no earlier rollback/,
  );
});

test('rollback complete, then resolved or escalated naming the failed check', () => {
  const verifying: Incident = {
    ...took(850),
    status: 'Verifying',
    verification: {
      at: 5000,
      passed: true,
      checks: [
        { name: 'health', passed: true, detail: '2 instance(s) healthy' },
        { name: 'error rate', passed: false, notChecked: true, detail: 'no request' },
      ],
    },
    watch: { revision: 3, startedAt: 5000, until: 905_000, endedAt: null, result: null },
  };
  assert.equal(
    incidentMessage('incident.verifying', verifying),
    [
      'Rollback complete - shop',
      '- Rollback status: success, in 850ms',
      '- Current version: v1 (revision 1)',
      '- System status: operational: 1 checks passed, 1 not checked yet; watched until 1970-01-01T00:15:05.000Z (15m) against the verification checklist',
      '- Root cause analysis: in progress; the report: rewind incidents show inc-1',
    ].join('\n'),
  );
  assert.equal(
    incidentMessage('incident.resolved', verifying),
    'Resolved - shop: v1 (revision 1) passed its verification and 15m of watching; the report: rewind incidents show inc-1',
  );
  const failed: Incident = {
    ...verifying,
    verification: {
      at: 30_000,
      passed: false,
      checks: [{ name: 'error rate below 1%', passed: false, detail: 'error rate 9% > 1% for 5s' }],
    },
  };
  assert.match(
    incidentMessage('incident.escalated', failed),
    /^ESCALATED to P0 - shop: the rollback did not bring it back\n- Failed: error rate below 1%: error rate 9% > 1% for 5s\n/,
  );
});
