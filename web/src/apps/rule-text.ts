// An analysis rule in words, as the rules table and the charts' threshold lines say it.
import type { AppRule } from '../api/types.ts';
import { duration, latency, percent, rate } from '../format.ts';

/** How a value of the rule's metric reads: a share, a rate or a latency. */
export function metricFormat(metric: string): (v: number) => string {
  if (metric === 'errorRate' || metric === 'healthFailing' || metric === 'unavailable') return percent;
  if (metric === 'requestRate') return rate;
  return latency;
}

/** "> 10%", "> 3× baseline", "< 5/s". */
export function thresholdText(rule: AppRule): string {
  const sign = rule.direction === 'above' ? '>' : '<';
  const t = rule.threshold;
  return t.kind === 'relative'
    ? `${sign} ${t.factor}× baseline`
    : `${sign} ${metricFormat(rule.metric)(t.value)}`;
}

/** A threshold line's label: "errors-critical > 10% for 2s", "slow > 36 ms (3× baseline) for 10s". */
export function thresholdLabel(rule: AppRule, value: number): string {
  const sign = rule.direction === 'above' ? '>' : '<';
  const relative = rule.threshold.kind === 'relative' ? ` (${rule.threshold.factor}× baseline)` : '';
  const window = rule.forMs > 0 ? ` for ${duration(rule.forMs)}` : '';
  return `${rule.name} ${sign} ${metricFormat(rule.metric)(value)}${relative}${window}`;
}
