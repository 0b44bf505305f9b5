import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Rule, ruleSpecSchema, type Severity } from '../../spec/analysis-spec.ts';
import type { RulePhase, RuleVerdict } from './assess-rule.ts';
import type { CanaryJudgment } from './canary-judgment.ts';
import { type Action, breachKey, decideAction, decideAll } from './decide.ts';

const NOW = 1_700_000_000_000;
const MIN = 60_000;
const WINDOW = 10 * MIN;

const rule = (name: string, severity: Severity): Rule =>
  ruleSpecSchema.parse({ name, metric: 'errorRate', above: 0.05, severity });

/** A verdict of rule `name`/`severity`, breaching for `lasted` ms (Breach/Pending). */
const v = (name: string, severity: Severity, phase: RulePhase, lasted = 0): RuleVerdict => ({
  rule: rule(name, severity),
  phase,
  observed: phase === 'Pass' ? 0.01 : 0.2,
  threshold: 0.05,
  breachingSince: phase === 'Breach' || phase === 'Pending' ? NOW - lasted : null,
  window: { from: NOW - 1000, to: NOW },
  sample: 100,
  message: `error rate 20% above 5% (${severity})`,
});

/** A breaching verdict of a kill-switch rule naming `flag`. */
const k = (name: string, severity: Severity, flag: string): RuleVerdict => ({
  ...v(name, severity, 'Breach', MIN),
  rule: ruleSpecSchema.parse({ name, metric: 'errorRate', above: 0.05, severity, flag }),
});

const worse: CanaryJudgment = {
  verdict: 'Worse',
  metric: 'errorRate',
  message: 'canary error rate 20%',
  stats: {},
};
const continuing: CanaryJudgment = { verdict: 'Continue', metric: 'errorRate', message: '...', stats: {} };

interface Case {
  what: string;
  verdicts: RuleVerdict[];
  judgment?: CanaryJudgment;
  notified?: string[];
  action: Action;
  severity: Severity | null;
  reason: RegExp;
  by?: string;
  notify?: boolean;
}

const cases: Case[] = [
  {
    what: 'nothing breaching',
    verdicts: [v('a', 'P0', 'Pass'), v('b', 'P1', 'Inconclusive')],
    action: 'none',
    severity: null,
    reason: /no rule breached/,
  },
  { what: 'no rules, no judgment', verdicts: [], action: 'none', severity: null, reason: /no rule breached/ },
  {
    what: 'P0 Pending waits',
    verdicts: [v('a', 'P0', 'Pending', MIN)],
    action: 'none',
    severity: null,
    reason: /no rule/,
  },
  {
    what: 'P0 Breach rolls back at once',
    verdicts: [v('a', 'P0', 'Breach', 5 * MIN)],
    action: 'rollback',
    severity: 'P0',
    reason: /^P0 rule a: error rate/,
    by: 'a',
    notify: true,
  },
  {
    what: 'P1 Breach within the monitoring window notifies',
    verdicts: [v('b', 'P1', 'Breach', 3 * MIN)],
    action: 'notify',
    severity: 'P1',
    reason: /^P1 rule b: .*; rolls back in 7m if it persists$/,
    by: 'b',
    notify: true,
  },
  {
    what: 'P1 Breach already notified: nothing new',
    verdicts: [v('b', 'P1', 'Breach', 3 * MIN)],
    notified: [`b@${NOW - 3 * MIN}`],
    action: 'none',
    severity: null,
    reason: /no rule/,
  },
  {
    what: 'P1 Breach past the monitoring window rolls back',
    verdicts: [v('b', 'P1', 'Breach', WINDOW)],
    notified: [`b@${NOW - WINDOW}`],
    action: 'rollback',
    severity: 'P1',
    reason: /^P1 rule b still breaching after the 10m monitoring window/,
    notify: true,
  },
  {
    what: 'P1 Pending does nothing yet',
    verdicts: [v('b', 'P1', 'Pending', 20 * MIN)],
    action: 'none',
    severity: null,
    reason: /no rule/,
  },
  {
    what: 'P2 Breach pauses and notifies',
    verdicts: [v('c', 'P2', 'Breach')],
    action: 'pause',
    severity: 'P2',
    reason: /^P2 rule c: .*; paused for a human to decide$/,
    notify: true,
  },
  {
    what: 'P2 Breach stays paused without notifying again',
    verdicts: [v('c', 'P2', 'Breach')],
    notified: [`c@${NOW}`],
    action: 'pause',
    severity: 'P2',
    reason: /paused/,
    notify: false,
  },
  {
    what: 'P3 Breach notifies only',
    verdicts: [v('d', 'P3', 'Breach')],
    action: 'notify',
    severity: 'P3',
    reason: /^P3 rule d:/,
    notify: true,
  },
  {
    what: 'P3 Breach notified once',
    verdicts: [v('d', 'P3', 'Breach')],
    notified: [`d@${NOW}`],
    action: 'none',
    severity: null,
    reason: /no rule/,
  },
  {
    what: 'a rule that cannot judge is reported once',
    verdicts: [v('e', 'P1', 'Error')],
    action: 'notify',
    severity: 'P1',
    reason: /^rule e cannot judge/,
    notify: true,
  },
  {
    what: 'an Error already reported is quiet',
    verdicts: [v('e', 'P1', 'Error')],
    notified: ['e:error'],
    action: 'none',
    severity: null,
    reason: /no rule/,
  },
  {
    what: 'canary Worse rolls back as P0',
    verdicts: [v('a', 'P0', 'Pass')],
    judgment: worse,
    action: 'rollback',
    severity: 'P0',
    reason: /^canary judged worse than the stable revision on errorRate: canary error rate 20%$/,
    notify: true,
  },
  {
    what: 'canary Continue changes nothing',
    verdicts: [v('a', 'P0', 'Pass')],
    judgment: continuing,
    action: 'none',
    severity: null,
    reason: /no rule/,
  },
  {
    what: 'rollback beats pause beats notify',
    verdicts: [v('d', 'P3', 'Breach'), v('c', 'P2', 'Breach'), v('a', 'P0', 'Breach')],
    action: 'rollback',
    severity: 'P0',
    reason: /P0 rule a/,
    by: 'a',
  },
  {
    what: 'pause beats a P1 notify',
    verdicts: [v('b', 'P1', 'Breach', MIN), v('c', 'P2', 'Breach')],
    action: 'pause',
    severity: 'P2',
    reason: /P2 rule c/,
  },
  {
    what: 'among rollbacks the higher severity leads',
    verdicts: [v('b', 'P1', 'Breach', 11 * MIN), v('a', 'P0', 'Breach')],
    action: 'rollback',
    severity: 'P0',
    reason: /P0 rule a/,
  },
  {
    what: 'among equals the older breach leads',
    verdicts: [v('x', 'P0', 'Breach', MIN), v('y', 'P0', 'Breach', 2 * MIN)],
    action: 'rollback',
    severity: 'P0',
    reason: /rule y/,
  },
  {
    what: 'a rule naming a flag disables it instead of rolling back',
    verdicts: [k('recs', 'P0', 'recommendations')],
    action: 'disableFlag',
    severity: 'P0',
    reason: /disabling flag recommendations/,
    notify: true,
  },
  {
    what: 'a kill switch pulled once is not pulled again',
    verdicts: [k('recs', 'P0', 'recommendations')],
    notified: ['flag:recommendations'],
    action: 'none',
    severity: null,
    reason: /no rule breached/,
  },
  {
    what: 'a kill switch beats a pause',
    verdicts: [v('p', 'P2', 'Breach', MIN), k('recs', 'P3', 'recommendations')],
    action: 'disableFlag',
    severity: 'P3',
    reason: /flag recommendations/,
  },
  {
    what: 'a kill switch goes before a rollback asked by another rule (judged afresh after it)',
    verdicts: [v('x', 'P0', 'Breach', MIN), k('recs', 'P1', 'recommendations')],
    action: 'disableFlag',
    severity: 'P1',
    reason: /flag recommendations/,
  },
];

for (const c of cases) {
  test(`decideAction: ${c.what}`, () => {
    const input = {
      now: NOW,
      verdicts: c.verdicts,
      judgment: c.judgment ?? null,
      monitoringWindow: WINDOW,
      notified: c.notified ?? [],
    };
    const d = decideAction(input);
    assert.equal(d.action, c.action, d.reason);
    assert.equal(d.severity, c.severity);
    assert.match(d.reason, c.reason);
    if (c.by) assert.equal((d.verdict as RuleVerdict).rule.name, c.by);
    if (c.notify !== undefined) assert.equal(d.notify, c.notify);
    if (d.action === 'none') assert.equal(d.verdict, null);
    else assert.ok(d.key);
    assert.deepEqual(decideAction(input), d, 'pure');
  });
}

test('decideAll lists every action, most urgent first; breachKey is stable during a breach', () => {
  const all = decideAll({
    now: NOW,
    verdicts: [v('d', 'P3', 'Breach'), v('b', 'P1', 'Breach', MIN), v('a', 'P0', 'Breach')],
    judgment: worse,
    monitoringWindow: WINDOW,
  });
  assert.deepEqual(
    all.map((d) => [d.action, d.severity, d.key]),
    [
      ['rollback', 'P0', 'canary:errorRate'],
      ['rollback', 'P0', `a@${NOW}`],
      ['notify', 'P1', `b@${NOW - MIN}`],
      ['notify', 'P3', `d@${NOW}`],
    ],
  );
  assert.equal(
    breachKey(v('b', 'P1', 'Breach', MIN)),
    breachKey({ ...v('b', 'P1', 'Breach', MIN), observed: 0.3 }),
  );
});
