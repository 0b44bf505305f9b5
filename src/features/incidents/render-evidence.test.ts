import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERRORS_CRITICAL, errorsCriticalTrigger } from '../../../test/support/incident-fixtures.ts';
import { EMPTY_IMPACT, type EvidencePoint, type Incident, type IncidentEvidence } from './incident.ts';
import { describeRule } from './render-evidence.ts';
import { renderIncidentMarkdown } from './render-markdown.ts';

const T = Date.UTC(2024, 0, 15, 14, 30, 0);
const S = T / 1000;
const point = (second: number, requests: number, errors: number, p99: number): EvidencePoint => ({
  second,
  requests,
  errors,
  errorRate: errors / requests,
  p50: p99 / 2,
  p95: p99,
  p99,
});

const evidence: IncidentEvidence = {
  collectedAt: T + 60_000,
  decision: {
    at: T + 40_000,
    event: 'analysis.decision',
    message: 'rolling back: error rate 70% above 60%',
    summary: 'errors-critical Breach',
    rule: ERRORS_CRITICAL,
    sample: 120,
    rules: [
      { name: 'errors-critical', phase: 'Breach', message: 'error rate 70% above 60% for 1s' },
      { name: 'latency', phase: 'Ok', message: 'p99 12ms' },
    ],
    reference: { revision: 3, from: S - 60, to: S - 1, requests: 6000, errors: 6, errorRate: 0.001, p99: 14 },
  },
  series: {
    from: T - 30_000,
    to: T + 60_000,
    revisions: [
      { revision: 4, role: 'bad', points: [point(S + 30, 100, 70, 40), point(S + 31, 100, 72, 44)] },
      { revision: 3, role: 'restored', points: [point(S + 30, 100, 0, 12), point(S + 41, 200, 1, 13)] },
    ],
  },
  diff: {
    from: 3,
    to: 4,
    changes: [
      { kind: 'version', key: 'version', change: 'changed', from: 'v1', to: 'v2' },
      { kind: 'env', key: 'SHOP_ERROR_RATE', change: 'added', from: null, to: '0.7' },
      { kind: 'secret', key: 'SHOP_API_TOKEN', change: 'changed' },
    ],
  },
  logs: {
    revision: 4,
    lines: [
      { at: T + 30_000, instance: 'shop/4/0', stream: 'stdout', line: 'shop v2 listening on 127.0.0.1:4000' },
      { at: T + 31_250, instance: 'shop/4/1', stream: 'stderr', line: 'injected failure (token=[redacted])' },
      {
        at: T + 31_500,
        instance: 'shop/4/1',
        stream: 'stderr',
        line: 'a ``` fence and \x1b[31mcolour\x1b[0m',
      },
    ],
    omitted: 1,
    cut: 0,
    redacted: 1,
    limits: { linesPerInstance: 200, logBytes: 65_536, lineBytes: 2048 },
  },
};

const incident: Incident = {
  id: 'inc-20240115T143040-ab12',
  app: 'shop',
  rolloutId: 'r-1',
  severity: 'P0',
  status: 'Resolved',
  title: 'shop: rolled back v2: error rate 70% above 60%',
  openedAt: T + 40_000,
  resolvedAt: T + 50_000,
  revisions: { from: { number: 3, version: 'v1' }, to: { number: 4, version: 'v2' } },
  trigger: errorsCriticalTrigger(T + 40_000),
  timeline: [],
  impact: EMPTY_IMPACT,
  actions: [],
  verification: null,
  rollback: {
    startedAt: T + 40_000,
    trafficRestoredAt: T + 40_200,
    completedAt: T + 42_000,
    durationMs: 2000,
  },
  evidence,
};

const section = (md: string) => md.slice(md.indexOf('## Evidence'), md.indexOf('## Root Cause'));

test('the Evidence section comes after the timeline, with the chart, the decision, the diff and the log lines', () => {
  const md = renderIncidentMarkdown(incident);
  const h = md.split('\n').filter((l) => /^#{2,3} /.test(l));
  const at = h.indexOf('## Evidence');
  assert.deepEqual(h.slice(at - 1, at + 6), [
    '## Timeline',
    '## Evidence',
    '### Error rate and p99 latency',
    '### Decision',
    '### Changes from v1 (revision 3) to v2 (revision 4)',
    '### Last log lines of v2 (revision 4)',
    '## Root Cause',
  ]);
  const ev = section(md);
  // A raw HTML block: a blank line before the <svg> line and after the </svg> line.
  assert.match(ev, /\n\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^\n]*>\n/);
  assert.match(ev, /\n<\/svg>\n\n/);
  assert.match(ev, /stroke-dasharray="6 4"/, 'the threshold');
  assert.match(
    ev,
    /^\| v2 \(revision 4\), rolled back \| 14:30:30 to 14:30:31 \(2\) \| 200 \| 142 \| 71% \| 72% \| 44 ms \|$/m,
  );
  assert.match(
    ev,
    /^- \*\*Decided\*\*: 14:30:40 UTC: rolling back: error rate 70% above 60% \(analysis\.decision\)$/m,
  );
  assert.match(
    ev,
    /^- \*\*Rule\*\*: `errors-critical`: errorRate above 60% for 1s, at least 20 requests, P0$/m,
  );
  assert.match(ev, /^- \*\*Sample\*\*: 120 requests in the rule's window$/m);
  assert.match(ev, /^- \*\*Rules at the decision\*\*: errors-critical Breach, latency Ok$/m);
  assert.match(
    ev,
    /^- \*\*Reference\*\*: v1 \(revision 3\) before the switch, 14:29:00 to 14:29:59 UTC: 6 of 6,000 requests failed \(0\.1%\), p99 14 ms$/m,
  );
  assert.match(ev, /^\| env \| SHOP_ERROR_RATE \| added \| {2}\| `0\.7` \|$/m);
  assert.match(ev, /^\| secret \| SHOP_API_TOKEN \| changed \| \(secret\) \| \(secret\) \|$/m);
});

test('log lines: fenced with a fence longer than any backtick run in them, control characters out', () => {
  const ev = section(renderIncidentMarkdown(incident));
  assert.match(
    ev,
    /^_3 lines of 2 instances, oldest first, UTC \(at most 200 per instance and 64 KiB in all; 1 older line left out; secrets replaced by \[redacted\] in 1 line\)\._$/m,
  );
  const fence = ev.match(/^(`{3,})text$/m)?.[1];
  assert.equal(fence, '````');
  const body = ev.slice(ev.indexOf('````text\n') + 9, ev.lastIndexOf('\n````'));
  assert.deepEqual(body.split('\n'), [
    '14:30:30.000 shop/4/0 stdout: shop v2 listening on 127.0.0.1:4000',
    '14:30:31.250 shop/4/1 stderr: injected failure (token=[redacted])',
    '14:30:31.500 shop/4/1 stderr: a ``` fence and colour',
  ]);
});

test('what could not be kept is said, and an incident without evidence has no section', () => {
  assert.ok(!renderIncidentMarkdown({ ...incident, evidence: undefined }).includes('## Evidence'));
  const missing = section(
    renderIncidentMarkdown({
      ...incident,
      evidence: {
        series: { from: T, to: T, revisions: [], error: 'agent unreachable' },
        diff: null,
        logs: { ...evidence.logs!, lines: [], error: 'could not read the logs of revision 4: timeout' },
      },
    }),
  );
  assert.match(missing, /^- No second with traffic was kept \(agent unreachable\)\.$/m);
  assert.match(missing, /^- No earlier revision to compare with\.$/m);
  assert.match(missing, /^- Not kept: could not read the logs of revision 4: timeout$/m);
  assert.ok(!missing.includes('<svg'));
});

test('a rule as configured: absolute or relative, a window or at once', () => {
  const rule = evidence.decision!.rule!;
  const cases: [typeof rule, string][] = [
    [rule, 'errorRate above 60% for 1s, at least 20 requests, P0'],
    [
      { ...rule, metric: 'latencyP99', threshold: { kind: 'relative', factor: 3 }, for: 0, minSample: 50 },
      'latencyP99 above 3x baseline at once, at least 50 requests, P0',
    ],
    [
      {
        ...rule,
        metric: 'unavailable',
        threshold: { kind: 'absolute', value: 0.5 },
        for: 300_000,
        minSample: 0,
      },
      'unavailable above 50% for 5m, P0',
    ],
  ];
  for (const [r, expected] of cases) assert.equal(describeRule(r), expected);
});
