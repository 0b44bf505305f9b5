import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERRORS_CRITICAL } from '../../../test/support/incident-fixtures.ts';
import type { MetricsSample } from '../../providers/metrics-source.ts';
import type { LogLine } from '../../providers/runtime.ts';
import { REDACTED, secretRedactor } from '../../shared/redact.ts';
import {
  boundLogLines,
  cutToBytes,
  decisionRecord,
  EVIDENCE_LIMITS,
  type EvidencePoint,
  type EvidenceSeries,
  evidencePoint,
  mergeEvidence,
  mergePoints,
  pointsOf,
  seriesFromSamples,
} from './evidence.ts';

const T = Date.UTC(2024, 0, 15, 14, 30, 0);
const line = (i: number, instance = 'shop/2/0', text = `line ${i}`): LogLine => ({
  at: T + i,
  instance,
  stream: 'stdout',
  line: text,
});
const keep = (text: string) => text;
const limits = { linesPerInstance: 3, logBytes: 1000, lineBytes: 20 };

test('log lines: the newest of each instance, oldest first, counted when left out', () => {
  const lines = [
    ...[1, 2, 3, 4, 5].map((i) => line(i, 'shop/2/0')),
    ...[6, 7].map((i) => line(i, 'shop/2/1')),
    line(8, 'shop/2/0'),
  ];
  const kept = boundLogLines(lines, keep, limits);
  assert.deepEqual(
    kept.lines.map((l) => `${l.instance} ${l.line}`),
    ['shop/2/0 line 4', 'shop/2/0 line 5', 'shop/2/1 line 6', 'shop/2/1 line 7', 'shop/2/0 line 8'],
  );
  assert.equal(kept.omitted, 3);
  assert.equal(kept.cut, 0);
});

test('log lines: the total stays within logBytes, the newest kept', () => {
  const lines = Array.from({ length: 10 }, (_, i) => line(i, `shop/2/${i}`, 'x'.repeat(10)));
  const kept = boundLogLines(lines, keep, { ...limits, logBytes: 35 });
  assert.deepEqual(
    kept.lines.map((l) => l.instance),
    ['shop/2/7', 'shop/2/8', 'shop/2/9'],
  );
  assert.equal(kept.omitted, 7);
});

test('log lines: secrets are redacted before a line is cut, so no part of one survives the cut', () => {
  const secret = 'sk-0123456789abcdef';
  // Cut first, this line would keep 'aa sk-0123456789a…'.
  const kept = boundLogLines(
    [line(1, 'shop/2/0', `aa ${secret}`), line(2, 'shop/2/0', `bb ${'z'.repeat(30)}`)],
    secretRedactor([secret]),
    {
      ...limits,
      lineBytes: 20,
    },
  );
  assert.deepEqual(
    kept.lines.map((l) => l.line),
    [`aa ${REDACTED}`, `bb ${'z'.repeat(14)}…`],
  );
  assert.equal(kept.redacted, 1);
  assert.equal(kept.cut, 1);
  assert.ok(kept.lines.every((l) => Buffer.byteLength(l.line) <= 20));
});

test('cutToBytes never splits a character and stays within the bytes', () => {
  const cases: [string, number, string][] = [
    ['short', 10, 'short'],
    ['exactly10!', 10, 'exactly10!'],
    ['ééééé', 8, 'éé…'],
    ['😀😀😀', 9, '😀…'],
  ];
  for (const [text, max, expected] of cases) {
    const cut = cutToBytes(text, max);
    assert.equal(cut, expected, `${text} in ${max}`);
    assert.ok(!cut.includes('\uFFFD'), cut);
  }
});

test('the default limits: 200 lines per instance, 64 KiB, 2 KiB a line', () => {
  const lines = Array.from({ length: 500 }, (_, i) => line(i, `shop/2/${i % 2}`, 'y'.repeat(3000)));
  const kept = boundLogLines(lines, keep);
  const bytes = kept.lines.reduce((a, l) => a + Buffer.byteLength(l.line), 0);
  assert.ok(bytes <= EVIDENCE_LIMITS.logBytes, String(bytes));
  assert.ok(kept.lines.every((l) => Buffer.byteLength(l.line) <= EVIDENCE_LIMITS.lineBytes));
  assert.equal(kept.lines.length, Math.floor(EVIDENCE_LIMITS.logBytes / EVIDENCE_LIMITS.lineBytes));
  assert.equal(kept.cut, kept.lines.length);
  assert.equal(kept.lines.at(-1)!.at, T + 499, 'the newest line is kept');
});

const BOUNDS = [10, 50, 100];
const sample = (second: number, ...revisions: [number, number, number, number[]][]): MetricsSample => ({
  second,
  revisions: revisions.map(([revision, requests, errors5xx, counts]) => ({
    revision,
    requests,
    errors5xx,
    connectFailures: 0,
    latency: { boundsMs: BOUNDS, counts },
  })),
});

test('a point: failed requests, THE error rate and quantiles from the sample histogram', () => {
  const p = evidencePoint(100, {
    requests: 10,
    errors5xx: 2,
    connectFailures: 1,
    latency: { boundsMs: BOUNDS, counts: [5, 4, 1, 0] },
  });
  assert.deepEqual(p, { second: 100, requests: 10, errors: 3, errorRate: 0.3, p50: 10, p95: 75, p99: 95 });
  const idle = evidencePoint(101, {
    requests: 0,
    errors5xx: 0,
    connectFailures: 0,
    latency: { boundsMs: BOUNDS, counts: [0, 0, 0, 0] },
  });
  assert.deepEqual(idle, {
    second: 101,
    requests: 0,
    errors: 0,
    errorRate: null,
    p50: null,
    p95: null,
    p99: null,
  });
});

test('pointsOf: one revision, its seconds with traffic, within the range, oldest first', () => {
  const samples = [
    sample(12, [2, 4, 1, [4, 0, 0, 0]]),
    sample(10, [1, 10, 0, [10, 0, 0, 0]], [2, 5, 5, [0, 5, 0, 0]]),
    sample(11, [1, 10, 0, [10, 0, 0, 0]]),
    sample(13, [2, 0, 0, [0, 0, 0, 0]]),
  ];
  assert.deepEqual(
    pointsOf(samples, 2).map((p) => [p.second, p.errorRate]),
    [
      [10, 1],
      [12, 0.25],
    ],
  );
  assert.deepEqual(
    pointsOf(samples, 1, 11).map((p) => p.second),
    [11],
  );
});

const pts = (...seconds: number[]): EvidencePoint[] =>
  seconds.map((second) => ({ second, requests: 1, errors: 0, errorRate: 0, p50: 1, p95: 1, p99: 1 }));

test('mergePoints: a second added again replaces the held one; over the limit, those nearest the decision stay', () => {
  const held = pts(1, 2, 3);
  const again = [{ ...pts(2)[0]!, requests: 9 }];
  assert.deepEqual(
    mergePoints(held, again, null).map((p) => [p.second, p.requests]),
    [
      [1, 1],
      [2, 9],
      [3, 1],
    ],
  );
  const cases: [number | null, number[]][] = [
    [5, [3, 4, 5, 6, 7]],
    [1, [1, 2, 3, 4, 5]],
    [null, [6, 7, 8, 9, 10]],
  ];
  for (const [around, expected] of cases)
    assert.deepEqual(
      mergePoints(pts(1, 2, 3, 4, 5), pts(6, 7, 8, 9, 10), around, 5).map((p) => p.second),
      expected,
      `around ${around}`,
    );
  const many = pts(...Array.from({ length: 2000 }, (_, i) => 1000 + i));
  assert.equal(mergePoints([], many, 1500).length, EVIDENCE_LIMITS.pointsPerRevision);
});

test('evidence merged: its parts replace those held, the seconds of the series join', () => {
  const appended: EvidenceSeries = seriesFromSamples(
    [sample(20, [1, 10, 0, [10, 0, 0, 0]]), sample(21, [1, 10, 1, [10, 0, 0, 0]])],
    [
      { revision: 2, role: 'bad' },
      { revision: 1, role: 'restored' },
    ],
    null,
  );
  assert.equal(appended.from, 20_000);
  assert.equal(appended.to, 22_000);
  const collected = {
    collectedAt: 30_000,
    series: seriesFromSamples(
      [sample(18, [1, 10, 0, [10, 0, 0, 0]], [2, 10, 9, [0, 0, 10, 0]]), sample(20, [1, 8, 0, [8, 0, 0, 0]])],
      [
        { revision: 2, role: 'bad' },
        { revision: 1, role: 'restored' },
      ],
      null,
    ),
  };
  const merged = mergeEvidence({ series: appended }, collected, 19);
  assert.equal(merged.collectedAt, 30_000);
  assert.deepEqual(
    merged.series.revisions.map((r) => [r.role, r.points.map((p) => [p.second, p.requests])]),
    [
      ['bad', [[18, 10]]],
      [
        'restored',
        [
          [18, 10],
          [20, 8],
          [21, 10],
        ],
      ],
    ],
  );
  assert.deepEqual([merged.series.from, merged.series.to], [18_000, 22_000]);
  // Appending after the collection keeps what was collected.
  const later = mergeEvidence(merged, { series: appended }, 19);
  assert.equal(later.collectedAt, 30_000);
  assert.equal(later.series.revisions[1]!.points.length, 3);
});

test('the decision record: the rule with its sample, or the judgment with its statistics, and every rule phase', () => {
  const rule = ERRORS_CRITICAL;
  const rules = [{ name: 'errors-critical', phase: 'Breach', message: 'error rate 70% above 60% for 1s' }];
  assert.deepEqual(
    decisionRecord(
      {
        verdict: {
          rule,
          phase: 'Breach',
          observed: 0.09,
          threshold: 0.05,
          breachingSince: T,
          window: { from: T, to: T + 1000 },
          sample: 240,
          message: 'x',
        },
      },
      { judgment: null, rules },
    ),
    { rule, sample: 240, rules },
  );
  const judgment = {
    verdict: 'Worse' as const,
    metric: 'errorRate' as const,
    message: 'fails more than the stable revision',
    stats: { canaryRate: 0.2, baselineRate: 0.001, llr: 7.1 },
    basis: 'canary' as const,
  };
  assert.deepEqual(decisionRecord({ verdict: judgment }, { judgment, rules: [] }), { judgment, rules: [] });
});
