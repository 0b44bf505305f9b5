import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drillDue } from '../../spec/drill-spec.ts';
import { parseConfig } from '../apps/load-config.ts';
import {
  compareRollbackTime,
  type DrillReport,
  databaseProblems,
  drillChecklist,
  drillPassed,
} from './drill-report.ts';
import { renderDrillMarkdown } from './render-drill-markdown.ts';

const check = (name: string, passed: boolean, notChecked = false) => ({
  name,
  passed,
  detail: `${name} detail`,
  ...(notChecked && { notChecked }),
});

/** A drill that went well: every measurement present. */
const passed: DrillReport = {
  id: 'drill-1',
  app: 'shop',
  version: 'v2',
  status: 'Passed',
  trigger: 'api',
  by: 'admin',
  startedAt: 1_700_000_000_000,
  finishedAt: 1_700_000_030_000,
  strategy: 'blueGreen',
  stable: { revision: 1, version: 'v1' },
  rollbackPoint: 'after the blueGreen deploy completed',
  progress: [{ at: 1_700_000_000_000, message: 'deploying v2' }],
  deploy: { rolloutId: 'r1', revision: 2, phase: 'Completed', ms: 9000 },
  fullRollback: {
    rolloutId: 'r2',
    revision: 3,
    phase: 'Completed',
    msToTrafficRestored: 40,
    msToVerified: 3200,
    backOnStable: true,
    detail: 'rollback Completed',
  },
  partialRollbacks: [
    { flag: 'recs', rule: 'recs-errors', passed: true, offMs: 4, onMs: 5, checks: [check('off', true)] },
  ],
  database: {
    applies: true,
    applied: ['0003_a', '0004_b'],
    undone: ['0004_b', '0003_a'],
    failures: [],
    checks: [check('database schema fingerprint', true), check('database data unchanged', true)],
  },
  verification: { passed: true, checks: [check('health', true)] },
  previous: [],
  phases: [
    { name: 'deploy', ms: 9000 },
    { name: 'rollback', ms: 40 },
  ],
  failures: [],
};

test('a drill that went well passes every line of the checklist', () => {
  assert.deepEqual(
    drillChecklist(passed).map((l) => `${l.test}: ${l.result}`),
    [
      'Full Rollback: pass',
      'Partial Rollback: pass',
      'Database Rollback: pass',
      'Rollback Time: pass',
      'Rollback Verification: pass',
    ],
  );
  assert.equal(drillPassed(passed), true);
  assert.match(drillChecklist(passed)[2]!.detail, /2 of 2 migration\(s\) undone/);
});

test('each kind of failure fails its own line and the drill', () => {
  const cases: [string, Partial<DrillReport>, string][] = [
    [
      'not back on stable',
      { fullRollback: { ...passed.fullRollback!, backOnStable: false } },
      'Full Rollback',
    ],
    [
      'a flag that did not switch',
      { partialRollbacks: [{ ...passed.partialRollbacks[0]!, passed: false }] },
      'Partial Rollback',
    ],
    [
      'a migration left applied',
      { database: { ...passed.database!, undone: ['0004_b'] } },
      'Database Rollback',
    ],
    [
      'a fingerprint that differs',
      {
        database: {
          ...passed.database!,
          checks: [check('database schema fingerprint', false)],
        },
      },
      'Database Rollback',
    ],
    [
      'a failed verification',
      { verification: { passed: false, checks: [check('health', false)] } },
      'Rollback Verification',
    ],
  ];
  for (const [what, patch, line] of cases) {
    const r = { ...passed, ...patch };
    const lines = drillChecklist(r);
    assert.deepEqual(
      lines.filter((l) => l.result === 'fail').map((l) => l.test),
      [line],
      what,
    );
    assert.equal(drillPassed(r), false, what);
  }
});

test('what did not apply or was not reached is said so, never passed', () => {
  const noDb = { ...passed, database: null, partialRollbacks: [] };
  const lines = drillChecklist(noDb);
  assert.equal(lines[1]!.result, 'not applicable');
  assert.equal(lines[2]!.result, 'not applicable');
  assert.equal(drillPassed(noDb), true);
  const stopped: DrillReport = {
    ...passed,
    status: 'Failed',
    fullRollback: null,
    verification: null,
    failures: ['the deploy of v2 ended Failed'],
  };
  const s = drillChecklist(stopped);
  assert.deepEqual(
    s.filter((l) => l.result === 'not reached').map((l) => l.test),
    ['Full Rollback', 'Database Rollback', 'Rollback Time', 'Rollback Verification'],
  );
  assert.match(s[0]!.detail, /the deploy of v2 ended Failed/);
  assert.equal(drillPassed(stopped), false);
  // A database check that could not be made is no failure beside one that ran and passed, but
  // alone it proves nothing: the line does not pass on it.
  assert.deepEqual(
    databaseProblems({
      ...passed.database!,
      checks: [check('schema fingerprint', true), check('database data unchanged', false, true)],
    }),
    [],
  );
  assert.deepEqual(
    databaseProblems({ ...passed.database!, checks: [check('database data unchanged', false, true)] }),
    ['the schema was not compared (no database check ran)'],
  );
  assert.deepEqual(databaseProblems({ ...passed.database!, checks: [] }), [
    'the schema was not compared (no database check ran)',
  ]);
});

test('the rollback time is compared with the median of the previous drills', () => {
  assert.equal(compareRollbackTime(50, []).text, 'the first drill of this app');
  const prev = [30, 50, 40].map((ms, i) => ({ id: `d${i}`, at: i, msToTrafficRestored: ms }));
  const c = compareRollbackTime(60, prev);
  assert.equal(c.medianMs, 40);
  assert.equal(c.ratio, 1.5);
  assert.match(c.text, /median of the 3 previous drill\(s\) 40 ms \(\+50%\)/);
  assert.equal(compareRollbackTime(20, prev.slice(0, 2)).medianMs, 40);
  assert.match(compareRollbackTime(20, prev.slice(0, 2)).text, /-50%/);
});

test('the Markdown report opens with the runbook checklist', () => {
  const md = renderDrillMarkdown(passed);
  assert.match(md, /^# Rollback drill drill-1: shop PASSED/);
  assert.match(md, /## Rollback Test Checklist\n\n\| Test \| Result \| Measured \|/);
  assert.match(
    md,
    /\| \*\*Full Rollback\*\* \| PASS \| rollback Completed; traffic restored 40 ms and verified 3200 ms/,
  );
  assert.match(md, /\| deploy \| 9000 ms \| 100% \|/);
  assert.match(md, /\| recs \| recs-errors \| 4 ms \| 5 ms \| PASS \|/);
  assert.match(md, /Incidents\*\*: none/);
});

test('drills.every in rewind.yaml: days and weeks, a floor of a minute, and when the next is due', () => {
  const base = `
apps:
  - name: shop
    listen: 127.0.0.1:8080
    run: { command: x }
`;
  const { apps } = parseConfig(`${base}    drills: { every: 7d, version: v2 }\n`);
  assert.deepEqual(apps[0]!.drills, { every: 7 * 86_400_000, version: 'v2' });
  assert.equal(parseConfig(`${base}    drills: { every: 1w }\n`).apps[0]!.drills?.version, 'stable');
  assert.equal(parseConfig(base).apps[0]!.drills, undefined);
  assert.throws(() => parseConfig(`${base}    drills: { every: 10s }\n`), /drills\.every.*at least 1m/s);
  assert.throws(() => parseConfig(`${base}    drills: { every: 7d, version: ../x }\n`), /drills\.version/);
  assert.throws(() => parseConfig(`${base}    drills: { every: 7d, often: true }\n`), /often/);
  const spec = { every: 1000 * 60, version: 'stable' };
  assert.equal(drillDue(spec, 0, 59_999), false);
  assert.equal(drillDue(spec, 0, 60_000), true);
  assert.equal(drillDue(undefined, 0, 1e12), false);
});
