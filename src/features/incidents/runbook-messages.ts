// What people are told at each turn of an incident, in the words of the incident-response runbook
// (seed 004): "Rollback in progress" (issue, impact, action, ETA) when it opens, "Rollback
// complete" (status, current version, system status, root cause) once traffic is back and the
// watch begins, then the watch's end: resolved, or escalated naming the failed check.
import { formatDuration } from '../../shared/duration.ts';
import { formatPercent } from '../../shared/format-number.ts';
import { failedChecks } from '../../spec/verification.ts';
import type { Incident } from './incident.ts';

export type IncidentChange =
  | 'incident.opened'
  | 'incident.verifying'
  | 'incident.escalated'
  | 'incident.resolved';

/** The median of earlier rollbacks' durations of the same app, ms; null without any. */
export function expectedRollbackMs(earlier: readonly Incident[]): number | null {
  const durations = earlier
    .map((i) => i.rollback.durationMs)
    .filter((d): d is number => d !== null && d >= 0)
    .sort((a, b) => a - b);
  if (durations.length === 0) return null;
  const mid = Math.floor(durations.length / 2);
  return durations.length % 2 === 1
    ? durations[mid]!
    : Math.round((durations[mid - 1]! + durations[mid]!) / 2);
}

const version = (r: { readonly number: number; readonly version: string } | null) =>
  r ? `${r.version} (revision ${r.number})` : 'none';

function impactLine(incident: Incident): string {
  const i = incident.impact;
  if (i.requestsServed > 0)
    return `${i.requestsFailed} of ${i.requestsServed} requests to ${incident.revisions.to.version} failed (${formatPercent(i.errorRate)}) while it had up to ${formatPercent(i.trafficShare)} of the traffic`;
  return `being measured; what triggered it: ${incident.trigger.message}`;
}

/** The notification's text for a change of `incident`; `etaMs` from expectedRollbackMs. */
export function incidentMessage(
  change: IncidentChange,
  incident: Incident,
  etaMs: number | null = null,
): string {
  const app = incident.app;
  const report = `rewind incidents show ${incident.id}`;
  if (change === 'incident.opened') {
    const action = incident.partialRollback
      ? `switching flag ${incident.partialRollback.flag} off; ${version(incident.revisions.to)} keeps serving`
      : `rolling back to ${version(incident.revisions.from)}`;
    return [
      `URGENT - Rollback in progress - ${app} (${incident.severity})`,
      `- Issue: ${incident.trigger.message}`,
      `- Impact: ${impactLine(incident)}`,
      `- Action: ${action}`,
      `- ETA: ${etaMs === null ? 'no earlier rollback of this app to go by; traffic usually moves within a second' : `about ${formatDuration(etaMs)} (the median of this app's earlier rollbacks)`}`,
    ].join('\n');
  }
  if (change === 'incident.verifying') {
    const w = incident.watch;
    const checks = incident.verification?.checks ?? [];
    const restoredIn = incident.rollback.durationMs;
    return [
      `Rollback complete - ${app}`,
      `- Rollback status: success${restoredIn === null ? '' : `, in ${formatDuration(restoredIn)}`}`,
      `- Current version: ${version(incident.revisions.from)}`,
      `- System status: operational: ${checks.filter((c) => c.passed).length} checks passed${checks.some((c) => c.notChecked) ? `, ${checks.filter((c) => c.notChecked).length} not checked yet` : ''}; watched${w ? ` until ${new Date(w.until).toISOString()} (${formatDuration(w.until - w.startedAt)})` : ''} against the verification checklist`,
      `- Root cause analysis: in progress; the report: ${report}`,
    ].join('\n');
  }
  if (change === 'incident.resolved')
    return `Resolved - ${app}: ${version(incident.revisions.from)} passed its verification${incident.watch ? ` and ${formatDuration(incident.watch.until - incident.watch.startedAt)} of watching` : ''}; the report: ${report}`;
  const failed = failedChecks(incident.verification?.checks ?? []);
  return [
    `ESCALATED to P0 - ${app}: the rollback did not bring it back`,
    `- Failed: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ') || incident.watch?.reason || 'the verification'}`,
    `- Serving: ${version(incident.revisions.from)}, which a person must now look at`,
    `- The report: ${report}`,
  ].join('\n');
}
