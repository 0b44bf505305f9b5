// The decision matrix of seed 004 as a pure function of this evaluation's verdicts.
//
//   P0 critical  -> roll back at once
//   P1 high      -> roll back once the breach has lasted the monitoring window, notify before
//   P2 medium    -> pause the rollout and ask a human
//   P3 low       -> notify, fix forward
//   canary judged Worse -> roll back (P0)
//   a rule naming a flag -> disable that flag (a kill switch, a partial rollback) once, whatever
//                           its severity. It goes first, even before a rollback asked by another
//                           rule: the watch then judges afresh on what follows the switch, and
//                           rolls back if the revision still misbehaves without the feature.
import { formatDuration } from '../../shared/duration.ts';
import type { Severity } from '../../spec/analysis-spec.ts';
import { severityRank } from '../../spec/severity.ts';
import type { RuleVerdict } from './assess-rule.ts';
import type { CanaryJudgment } from './canary-judgment.ts';

export type Action = 'rollback' | 'disableFlag' | 'pause' | 'notify' | 'none';

export interface DecisionInput {
  /** Unix ms. */
  readonly now: number;
  readonly verdicts: readonly RuleVerdict[];
  readonly judgment?: CanaryJudgment | null;
  /** P1 breaches roll back once they have lasted this long (ms), measured from breachingSince. */
  readonly monitoringWindow: number;
  /** Keys of breaches already notified (Decision.key of earlier decisions): each is notified once. */
  readonly notified?: Iterable<string>;
}

export interface Decision {
  readonly action: Action;
  readonly severity: Severity | null;
  readonly reason: string;
  /** What caused the action: a rule's verdict or the canary judgment; null for 'none'. */
  readonly verdict: RuleVerdict | CanaryJudgment | null;
  /** Identifies the breach; record it and pass it back in `notified` once notified. */
  readonly key: string | null;
  /** Send a notification now (false for a pause already announced). */
  readonly notify: boolean;
}

const RANK: Readonly<Record<Action, number>> = { disableFlag: 4, rollback: 3, pause: 2, notify: 1, none: 0 };

/** The key of a rule's current breach (or error): stable while the breach lasts. */
export function breachKey(verdict: RuleVerdict): string {
  if (verdict.phase === 'Error') return `${verdict.rule.name}:error`;
  return `${verdict.rule.name}@${verdict.breachingSince ?? 'now'}`;
}

const NONE: Decision = {
  action: 'none',
  severity: null,
  reason: 'no rule breached',
  verdict: null,
  key: null,
  notify: false,
};

/** Every verdict's own decision, most urgent first (ties: higher severity, then older breach). */
export function decideAll(input: DecisionInput): Decision[] {
  const notified = new Set(input.notified ?? []);
  const out: Decision[] = [];
  const since = new Map<Decision, number>();

  if (input.judgment?.verdict === 'Worse') {
    const j = input.judgment;
    const beforeAfter = j.basis === 'beforeAfter';
    out.push({
      action: 'rollback',
      severity: 'P0',
      reason: beforeAfter
        ? `judged worse than the previous revision before the switch on ${j.metric}: ${j.message}`
        : `canary judged worse than the stable revision on ${j.metric}: ${j.message}`,
      verdict: j,
      key: `${beforeAfter ? 'before-after' : 'canary'}:${j.metric}`,
      notify: true,
    });
  }

  for (const v of input.verdicts) {
    const { name, severity } = v.rule;
    const key = breachKey(v);
    let decision: Decision | null = null;
    if (v.phase === 'Error') {
      if (!notified.has(key))
        decision = {
          action: 'notify',
          severity,
          reason: `rule ${name} cannot judge: ${v.message}`,
          verdict: v,
          key,
          notify: true,
        };
    } else if (v.phase === 'Breach' && v.rule.flag !== undefined) {
      const flagKey = `flag:${v.rule.flag}`;
      if (!notified.has(flagKey))
        decision = {
          action: 'disableFlag',
          severity,
          reason: `rule ${name}: ${v.message}; disabling flag ${v.rule.flag}`,
          verdict: v,
          key: flagKey,
          notify: true,
        };
    } else if (v.phase === 'Breach') {
      const lasted = input.now - (v.breachingSince ?? input.now);
      const base = { severity, verdict: v, key };
      if (severity === 'P0')
        decision = { ...base, action: 'rollback', reason: `P0 rule ${name}: ${v.message}`, notify: true };
      else if (severity === 'P1' && lasted >= input.monitoringWindow)
        decision = {
          ...base,
          action: 'rollback',
          reason: `P1 rule ${name} still breaching after the ${formatDuration(input.monitoringWindow)} monitoring window: ${v.message}`,
          notify: true,
        };
      else if (severity === 'P1') {
        if (!notified.has(key))
          decision = {
            ...base,
            action: 'notify',
            reason: `P1 rule ${name}: ${v.message}; rolls back in ${formatDuration(input.monitoringWindow - lasted)} if it persists`,
            notify: true,
          };
      } else if (severity === 'P2')
        decision = {
          ...base,
          action: 'pause',
          reason: `P2 rule ${name}: ${v.message}; paused for a human to decide`,
          notify: !notified.has(key),
        };
      else if (!notified.has(key))
        decision = { ...base, action: 'notify', reason: `P3 rule ${name}: ${v.message}`, notify: true };
    }
    if (decision) {
      out.push(decision);
      since.set(decision, v.breachingSince ?? input.now);
    }
  }

  return out.sort(
    (a, b) =>
      RANK[b.action] - RANK[a.action] ||
      severityRank(a.severity ?? 'P3') - severityRank(b.severity ?? 'P3') ||
      (since.get(a) ?? Number.NEGATIVE_INFINITY) - (since.get(b) ?? Number.NEGATIVE_INFINITY),
  );
}

/** The one action to take now: the most urgent of decideAll, or 'none'. */
export function decideAction(input: DecisionInput): Decision {
  return decideAll(input)[0] ?? NONE;
}
