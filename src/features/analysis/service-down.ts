// Severity by size. Seed 004's windows ("error rate > 5% for 5 minutes") are for marginal
// breaches; a release that answers mostly errors, or has no healthy instance at all, is the
// runbook's "service down": P0, roll back at once. For every rollback rule (P0 or P1, not a kill
// switch) on the error rate with an absolute threshold, or on `unavailable`, this finds such a
// breach over the last few seconds and turns it into an immediate P0 verdict.
import type { Rule } from '../../spec/analysis-spec.ts';
import { formatValue, type RuleVerdict } from './assess-rule.ts';
import { wilsonLower } from './canary-judgment.ts';
import { failedRequests, type Point, sumWindow } from './series.ts';

export interface ServiceDownSpec {
  readonly enabled: boolean;
  /** An error rate this multiple of a rule's threshold is "down" ... */
  readonly factor: number;
  /** ... and so is one at or above this share, whatever the threshold. */
  readonly errorRate: number;
  /** Seconds of the window the error rate is measured over, and that `unavailable` must last. */
  readonly window: number;
  /** A crash of the release while it is analysed is P0 at once (crashes.ts). */
  readonly crashes?: boolean;
}

export const DEFAULT_SERVICE_DOWN: ServiceDownSpec = {
  enabled: true,
  factor: 5,
  errorRate: 0.5,
  window: 3000,
  crashes: true,
};

/**
 * The immediate P0 verdicts: for each qualifying rule whose metric is far past its threshold over
 * the last `window` (the error rate's 95% lower bound at or above the "down" level, with the rule's
 * minSample), a Breach verdict of the same rule as P0 with `for` 0.
 */
export function serviceDownVerdicts(
  rules: readonly Rule[],
  candidate: readonly Point[],
  now: number,
  spec: ServiceDownSpec = DEFAULT_SERVICE_DOWN,
): RuleVerdict[] {
  if (!spec.enabled || candidate.length === 0) return [];
  const seconds = Math.max(1, Math.round(spec.window / 1000));
  const newest = candidate.reduce((m, p) => Math.max(m, p.second), Number.NEGATIVE_INFINITY);
  const to = Math.min(Math.floor(now / 1000) - 1, newest);
  const from = to - seconds + 1;
  const sum = sumWindow(candidate, from, to);
  const window = { from: from * 1000, to: (to + 1) * 1000 };
  const out: RuleVerdict[] = [];
  for (const rule of rules) {
    if (rule.flag !== undefined || (rule.severity !== 'P0' && rule.severity !== 'P1')) continue;
    if (rule.direction !== 'above' || rule.threshold.kind !== 'absolute') continue;
    const severe = { ...rule, severity: 'P0' as const, for: 0 };
    if (rule.metric === 'errorRate') {
      const n = sum.requests;
      // The whole window, not a first busy second: a blip is for the rule's own window.
      if (sum.knownSeconds < seconds || n < Math.max(1, rule.minSample)) continue;
      const failed = failedRequests(sum);
      const level = Math.min(spec.errorRate, spec.factor * rule.threshold.value);
      if (level <= rule.threshold.value || wilsonLower(failed, n) < level) continue;
      const observed = failed / n;
      out.push({
        rule: severe,
        phase: 'Breach',
        observed,
        threshold: level,
        breachingSince: window.from,
        window,
        sample: n,
        message: `service down: error rate ${formatValue('errorRate', observed)} (${failed}/${n}) over the last ${seconds}s, ${level === spec.errorRate ? 'mostly errors' : `${spec.factor}x the ${formatValue('errorRate', rule.threshold.value)} threshold`}; no ${Math.round(rule.for / 1000)}s wait (P0)`,
      });
    } else if (rule.metric === 'unavailable') {
      if (sum.healthKnownSeconds < seconds || sum.unavailableSeconds < seconds) continue;
      out.push({
        rule: severe,
        phase: 'Breach',
        observed: 1,
        threshold: rule.threshold.value,
        breachingSince: window.from,
        window,
        sample: sum.healthKnownSeconds,
        message: `service down: no healthy instance for ${seconds}s; no ${Math.round(rule.for / 1000)}s wait (P0)`,
      });
    }
  }
  return out;
}
