// How an incident's severity and status read at a glance.
import type { Incident } from '../api/types.ts';

export function severityTone(severity: Incident['severity']): 'bad' | 'wait' | 'quiet' {
  if (severity === 'P0' || severity === 'P1') return 'bad';
  if (severity === 'P2') return 'wait';
  return 'quiet';
}

export function statusTone(status: Incident['status']): 'ok' | 'bad' | 'wait' {
  if (status === 'Resolved') return 'ok';
  if (status === 'Escalated') return 'bad';
  return 'wait';
}
