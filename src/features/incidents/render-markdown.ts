// The incident report, in the sections and order of the post-mortem template people write by hand
// (seed 002 "Incident Report": Summary, Timeline, Root Cause, Actions Taken, Lessons Learned),
// followed by its post-rollback checklist. Rewind fills in the facts; the human parts stay as
// headed placeholders for the team.

import { formatDuration } from '../../shared/duration.ts';
import { formatNumber } from '../../shared/format-number.ts';
import { METRICS, type Metric } from '../../spec/analysis-spec.ts';
import { formatValue } from '../analysis/index.ts';
import type { Incident, PartialRollback, RevisionRef, TimelineEntry } from './incident.ts';
import { evidenceSection } from './render-evidence.ts';

export const PLACEHOLDER = '_To be written by the team._';

/**
 * 0.125 -> 12.5%, 0.04536 -> 4.54%, 1 -> 100%. Small non-zero rates keep a third decimal (0.004%);
 * below that they read <0.001%, never 0% nor a float's tail.
 */
export function formatPercent(ratio: number): string {
  const pct = ratio * 100;
  if (pct === 0) return '0%';
  if (Math.abs(pct) < 0.0005) return '<0.001%';
  return `${Number(pct.toFixed(Math.abs(pct) < 0.01 ? 3 : 2))}%`;
}

/** A trigger's number in its metric's unit (12.5%, 250ms, 40 req/s); plain when the metric is not one. */
function metricValue(metric: string | undefined, value: number | undefined): string {
  if (value === undefined) return 'n/a';
  return (METRICS as readonly string[]).includes(metric ?? '')
    ? formatValue(metric as Metric, value)
    : formatNumber(value);
}

const count = (n: number) => n.toLocaleString('en-US');
const iso = (at: number) => new Date(at).toISOString();
const utcDate = (at: number) => iso(at).slice(0, 10);
const utcTime = (at: number) => iso(at).slice(11, 19);
/** HH:MM:SS, with the date too when it is not the report's date. */
const when = (at: number, day: string) =>
  utcDate(at) === day ? utcTime(at) : `${utcDate(at)} ${utcTime(at)}`;
const revision = (r: RevisionRef) => `${r.version} (revision ${r.number})`;
const checkbox = (done: boolean, text: string) => `- [${done ? 'x' : ' '}] ${text}`;
/** Keeps user text from breaking a table row or a list item. */
const inline = (text: string) => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');

/** When it started, for how long, and what it did to users: the Summary's facts and the Impact section. */
interface Facts {
  readonly start: number;
  readonly duration: string;
  readonly impact: string;
  readonly impactSection: readonly string[];
}

/** A rollback: the bad revision's exposure, from its first traffic until traffic was restored. */
function rollbackFacts(incident: Incident, day: string): Facts {
  const { impact, rollback, revisions } = incident;
  const start = impact.from ?? rollback.startedAt;
  const end = rollback.trafficRestoredAt ?? rollback.completedAt ?? impact.to;
  return {
    start,
    duration:
      end === null
        ? 'ongoing (traffic not yet restored)'
        : `${formatDuration(end - start)} (first traffic to ${revisions.to.version} until traffic was restored)`,
    impact:
      impact.requestsServed === 0 && impact.trafficShare === 0
        ? `no traffic reached ${revisions.to.version}`
        : `${formatPercent(impact.trafficShare)} of traffic on ${revisions.to.version} for ${formatDuration(impact.exposureMs)}; ` +
          `${count(impact.requestsFailed)} of ${count(impact.requestsServed)} requests failed (${formatPercent(impact.errorRate)})` +
          (impact.stickyUsersExposed === null
            ? ''
            : `; ${count(impact.stickyUsersExposed)} sticky users exposed`),
    impactSection: [
      `- **Requests served by ${revisions.to.version}**: ${count(impact.requestsServed)}`,
      ...requestLines(incident),
      `- **Largest traffic share**: ${formatPercent(impact.trafficShare)}`,
      `- **Sticky users exposed**: ${impact.stickyUsersExposed === null ? 'unknown' : count(impact.stickyUsersExposed)}`,
      `- **Exposure**: ${formatDuration(impact.exposureMs)}` +
        (impact.from !== null && impact.to !== null
          ? ` (${when(impact.from, day)} to ${when(impact.to, day)} UTC)`
          : ''),
    ],
  };
}

function requestLines({ impact, revisions }: Incident): string[] {
  return [
    `- **Requests failed**: ${count(impact.requestsFailed)} (${count(impact.connectFailures)} connection failures, most retried on another revision)`,
    `- **Error rate**: ${formatPercent(impact.errorRate)}` +
      (impact.stableErrorRate === null
        ? ''
        : ` (${revisions.from?.version ?? 'stable'}: ${formatPercent(impact.stableErrorRate)})`),
  ];
}

/**
 * A kill switch: the revision kept serving; what went back was the flag. The duration runs from the
 * rule's breach to the flag being off, and the impact counts the revision's requests over it. By
 * hand, nothing marks when the feature began to fail: the report says so instead of a number.
 */
function killSwitchFacts(incident: Incident, partial: PartialRollback, day: string): Facts {
  const { impact, rollback, revisions } = incident;
  const flag = `flag \`${partial.flag}\``;
  const kept = `${revision(revisions.to)} kept serving`;
  const offAt = rollback.trafficRestoredAt;
  const start = partial.measuredFrom ?? rollback.startedAt;
  const duration =
    offAt === null
      ? `ongoing (${flag} not yet off)`
      : `${formatDuration(offAt - start)} (${partial.measuredFrom === undefined ? 'from the command' : 'from the breach'} until ${flag} was off)`;
  if (partial.measuredFrom === undefined) {
    const why = `not measured: ${flag} was switched off by hand, and nothing marks when the feature began to fail`;
    return { start, duration, impact: `${kept}; ${why}`, impactSection: [`- **Requests**: ${why}`] };
  }
  const over = `from the breach (${when(start, day)} UTC) until ${flag} was off (${offAt === null ? 'not yet' : `${when(offAt, day)} UTC`})`;
  return {
    start,
    duration,
    impact:
      `${kept}, ${formatPercent(impact.trafficShare)} of traffic; ${count(impact.requestsFailed)} of ` +
      `${count(impact.requestsServed)} requests on it failed (${formatPercent(impact.errorRate)}) ${over}`,
    impactSection: [
      `- **Counted over**: ${revision(revisions.to)}, ${over}`,
      `- **Requests served by ${revisions.to.version}**: ${count(impact.requestsServed)}`,
      ...requestLines(incident),
      `- **Traffic share**: ${formatPercent(impact.trafficShare)}`,
    ],
  };
}

function summary(incident: Incident, day: string): string[] {
  const { trigger, revisions, partialRollback: partial } = incident;
  const facts = partial ? killSwitchFacts(incident, partial, day) : rollbackFacts(incident, day);
  const lines = [
    '## Summary',
    `- **Date**: ${day}`,
    `- **Time**: ${utcTime(facts.start)} UTC`,
    `- **Duration**: ${facts.duration}`,
    `- **Impact**: ${facts.impact}`,
    `- **Incident**: ${incident.id}`,
    `- **App**: ${incident.app}`,
    `- **Severity**: ${incident.severity}`,
    `- **Status**: ${incident.status}${incident.resolvedAt === null ? '' : ` at ${iso(incident.resolvedAt)}`}`,
    partial
      ? `- **Partial rollback**: flag \`${partial.flag}\` disabled (flag set version ${partial.flagSetVersionBefore} -> ${partial.flagSetVersionAfter}); ${revision(revisions.to)} stays`
      : `- **Revisions**: ${revision(revisions.to)} rolled back to ${revisions.from ? revision(revisions.from) : 'nothing (no earlier revision)'}`,
    `- **Rollout**: ${incident.rolloutId ?? 'none'}`,
    '',
    '### Trigger',
    `- **Kind**: ${trigger.kind}`,
    `- **Reason**: ${inline(trigger.message)}`,
  ];
  if (trigger.phase !== undefined) lines.push(`- **Caught**: ${inline(trigger.phase)}`);
  if (trigger.judgment !== undefined)
    lines.push(
      `- **Judgment**: ${trigger.judgment === 'canary' ? 'canary beside the stable revision' : 'before/after the switch'}`,
    );
  if (trigger.rule !== undefined) lines.push(`- **Rule**: ${inline(trigger.rule)}`);
  if (trigger.metric !== undefined) lines.push(`- **Metric**: ${inline(trigger.metric)}`);
  if (trigger.observed !== undefined || trigger.threshold !== undefined) {
    lines.push(
      `- **Observed**: ${metricValue(trigger.metric, trigger.observed)} (threshold ${metricValue(trigger.metric, trigger.threshold)})`,
    );
  }
  if (trigger.window) {
    lines.push(
      `- **Window**: ${when(trigger.window.from, day)} to ${when(trigger.window.to, day)} UTC ` +
        `(${formatDuration(trigger.window.to - trigger.window.from)})`,
    );
  }
  if (trigger.breachingSince !== undefined)
    lines.push(`- **Breaching since**: ${when(trigger.breachingSince, day)} UTC`);
  lines.push('', '### Impact', ...facts.impactSection);
  return lines;
}

function timeline(entries: readonly TimelineEntry[], day: string): string[] {
  const lines = ['## Timeline'];
  if (entries.length === 0) lines.push('- (no events recorded)');
  for (const e of entries) {
    lines.push(`- ${when(e.at, day)}: ${inline(e.event)}${e.detail ? ` (${inline(e.detail)})` : ''}`);
  }
  return lines;
}

function actionsTaken(incident: Incident, day: string): string[] {
  const { rollback, verification } = incident;
  const lines = ['## Actions Taken'];
  if (incident.actions.length === 0) lines.push('- (no actions recorded)');
  for (const a of incident.actions) {
    lines.push(`- ${when(a.at, day)} ${a.by}: ${inline(a.action)} (${inline(a.result)})`);
  }
  const since = (at: number | null) =>
    at === null ? 'not yet' : `${when(at, day)} UTC (+${formatDuration(at - rollback.startedAt)})`;
  lines.push(
    '',
    '### Rollback',
    `- **Started**: ${when(rollback.startedAt, day)} UTC`,
    // A kill switch moves no traffic: its moment is the flag being off.
    `- **${incident.partialRollback ? 'Flag off' : 'Traffic restored'}**: ${since(rollback.trafficRestoredAt)}`,
    `- **Completed**: ${since(rollback.completedAt)}`,
    `- **Duration**: ${rollback.durationMs === null ? 'not finished' : formatDuration(rollback.durationMs)}`,
    '',
    '### Verification',
  );
  if (!verification) {
    lines.push('- Not verified yet.');
    return lines;
  }
  const watch = incident.watch;
  lines.push(
    `- **Result**: ${verification.passed ? (watch?.result === null ? 'passed at the switch' : 'passed') : 'FAILED, escalated'} at ${when(verification.at, day)} UTC`,
  );
  if (watch)
    lines.push(
      `- **Watch**: revision ${watch.revision} from ${when(watch.startedAt, day)} to ${when(watch.until, day)} UTC (${formatDuration(watch.until - watch.startedAt)}): ${
        watch.result === null
          ? 'watching'
          : `${watch.result === 'Failed' ? 'FAILED' : watch.result.toLowerCase()}${watch.reason ? `: ${inline(watch.reason)}` : ''}`
      }`,
    );
  lines.push(
    '',
    '| Check | Result | Detail |',
    '|---|---|---|',
    ...verification.checks.map(
      (c) =>
        `| ${inline(c.name)} | ${c.passed ? 'passed' : c.notChecked ? 'NOT CHECKED' : 'FAILED'} | ${inline(c.detail)} |`,
    ),
  );
  return lines;
}

function checklist(incident: Incident): string[] {
  const v = incident.verification;
  return [
    '## Checklist',
    '',
    '### During Rollback',
    checkbox(true, 'Detect issue'),
    checkbox(true, 'Trigger rollback'),
    checkbox(incident.rollback.completedAt !== null, 'Monitor rollback'),
    checkbox(v?.passed === true && incident.status !== 'Verifying', 'Verify system health'),
    checkbox(
      incident.actions.some((a) => /^notif/i.test(a.action)),
      'Communicate to team',
    ),
    '',
    '### Post-Rollback',
    checkbox(false, 'Root cause analysis'),
    checkbox(true, 'Incident report created'),
    checkbox(false, 'Lessons learned documented'),
    checkbox(false, 'Action items created'),
    checkbox(false, 'Process improved'),
  ];
}

export function renderIncidentMarkdown(incident: Incident): string {
  const day = utcDate(incident.impact.from ?? incident.rollback.startedAt);
  const sections = [
    [`# Incident Report: ${inline(incident.title)}`],
    summary(incident, day),
    timeline(incident.timeline, day),
    ...(incident.evidence ? [evidenceSection(incident, day)] : []),
    ['## Root Cause', PLACEHOLDER],
    actionsTaken(incident, day),
    ['## Lessons Learned', PLACEHOLDER],
    checklist(incident),
  ];
  return `${sections.map((lines) => lines.join('\n')).join('\n\n')}\n`;
}

/** The document itself, pretty-printed: what the API and `rewind incident --json` return. */
export function renderIncidentJson(incident: Incident): string {
  return `${JSON.stringify(incident, null, 2)}\n`;
}
