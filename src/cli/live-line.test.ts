import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppDetail } from '../api/responses.ts';
import { LIVE_WINDOW_S, liveLine, type SecondCounts } from './live-line.ts';

const NOW = 1_800_000_010_500; // second 1_800_000_010, half through
const LAST = Math.floor(NOW / 1000) - 1;

const status = (over: Partial<AppDetail> = {}): AppDetail =>
  ({
    name: 'shop',
    listen: '127.0.0.1:8080',
    stableRevision: 1,
    stableVersion: 'v1',
    activeRollout: { toRevision: 2 } as AppDetail['activeRollout'],
    analysis: null,
    watch: null,
    steadyWatch: null,
    lastProvenDrill: null,
    traffic: [
      { revision: 1, weight: 80, upstreams: 1 },
      { revision: 2, weight: 20, upstreams: 1 },
    ],
    instances: [],
    ...over,
  }) as AppDetail;

/** `n` seconds ending at LAST, each with these counts per revision. */
const seconds = (n: number, per: Record<number, [number, number, number]>): SecondCounts[] =>
  Array.from({ length: n }, (_, i) => ({
    second: LAST - i,
    revisions: Object.entries(per).map(([revision, [requests, errors5xx, connectFailures]]) => ({
      revision: Number(revision),
      requests,
      errors5xx,
      connectFailures,
    })),
  }));

const analysis = (judgment: string | null, rules: [string, string][]): AppDetail['analysis'] => ({
  rolloutId: 'r',
  judgment: judgment ? { verdict: judgment, message: '...' } : null,
  rules: rules.map(([name, phase]) => ({ name, phase, message: '' })),
  evaluatedAt: NOW - 300,
});

const CASES: [string, AppDetail, SecondCounts[], string][] = [
  [
    'both revisions over the window, errors and refused connections counted as failed',
    status(),
    seconds(LIVE_WINDOW_S, { 1: [40, 0, 0], 2: [10, 1, 1] }),
    'rev 1 80%: 40 req/s, 0% failed · rev 2 20%: 10 req/s, 20% failed',
  ],
  [
    'the second under way and seconds before the window do not count',
    status(),
    [
      ...seconds(1, { 1: [50, 0, 0] }),
      { second: LAST + 1, revisions: [{ revision: 1, requests: 999, errors5xx: 999, connectFailures: 0 }] },
      {
        second: LAST - LIVE_WINDOW_S,
        revisions: [{ revision: 1, requests: 999, errors5xx: 0, connectFailures: 0 }],
      },
    ],
    'rev 1 80%: 10 req/s, 0% failed · rev 2 20%: 0.0 req/s',
  ],
  [
    'the candidate at 0% is shown; a retired revision at 0% is not',
    status({
      traffic: [
        { revision: 1, weight: 100, upstreams: 1 },
        { revision: 2, weight: 0, upstreams: 1 },
        { revision: 0, weight: 0, upstreams: 1 },
      ],
    }),
    seconds(LIVE_WINDOW_S, { 1: [3, 0, 0] }),
    'rev 1 100%: 3.0 req/s, 0% failed · rev 2 0%: 0.0 req/s',
  ],
  [
    'the judgment so far and the rules in breach',
    status({
      analysis: analysis('Continue', [
        ['error-rate', 'Breach'],
        ['latency', 'Ok'],
      ]),
    }),
    [],
    'rev 1 80%: 0.0 req/s · rev 2 20%: 0.0 req/s · breach: error-rate · judgment Continue',
  ],
  [
    'every rule passed, no judgment (before the canary takes traffic)',
    status({
      analysis: analysis(null, [
        ['error-rate', 'Pass'],
        ['latency', 'Pass'],
      ]),
    }),
    [],
    'rev 1 80%: 0.0 req/s · rev 2 20%: 0.0 req/s · rules pass',
  ],
  [
    'a rule that cannot judge or lacks data is said, never counted as passing',
    status({
      analysis: analysis(null, [
        ['error-rate', 'Pass'],
        ['latency', 'Error'],
        ['health', 'Inconclusive'],
        ['slow', 'Pending'],
      ]),
    }),
    [],
    'rev 1 80%: 0.0 req/s · rev 2 20%: 0.0 req/s · pending: slow · too few requests: health · cannot judge: latency',
  ],
  [
    'an analysis not evaluated yet says nothing',
    status({ analysis: { rolloutId: 'r', judgment: null, rules: [], evaluatedAt: null } }),
    [],
    'rev 1 80%: 0.0 req/s · rev 2 20%: 0.0 req/s',
  ],
];

for (const [name, s, secs, want] of CASES) {
  test(`liveLine: ${name}`, () => {
    assert.equal(liveLine(s, secs, NOW), want);
  });
}
