// The runbook's P0-P3 matrix: P0 is the worst (roll back now), P3 the mildest (note it).

export const SEVERITIES = ['P0', 'P1', 'P2', 'P3'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** 0 for P0 up to 3 for P3: sorts the worst first. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}
