// What the incident tests share: a P0 error-rate rule at 60% and the trigger of its breach.
import type { IncidentTrigger } from '../../src/features/incidents/incident.ts';
import type { Rule } from '../../src/spec/analysis-spec.ts';

export const ERRORS_CRITICAL: Rule = {
  name: 'errors-critical',
  metric: 'errorRate',
  direction: 'above',
  threshold: { kind: 'absolute', value: 0.6 },
  for: 1000,
  minSample: 20,
  severity: 'P0',
};

/** ERRORS_CRITICAL breached at 70% over the second before `at` (unix ms). */
export function errorsCriticalTrigger(at: number): IncidentTrigger {
  return {
    kind: 'rule',
    rule: ERRORS_CRITICAL.name,
    metric: 'errorRate',
    observed: 0.7,
    threshold: 0.6,
    window: { from: at - 1000, to: at },
    message: 'error rate 70% above 60%',
  };
}
