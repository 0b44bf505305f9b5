// The report's Evidence section: the chart of both revisions (inline SVG) with its numbers as a
// table for renderers that drop inline SVG (GitHub does), the decision's numbers, what the bad
// revision changed, and its last log lines in a fence.

import { formatDuration } from '../../shared/duration.ts';
import { formatNumber } from '../../shared/format-number.ts';
import { METRICS, type Metric, type Rule } from '../../spec/analysis-spec.ts';
import { formatValue } from '../analysis/index.ts';
import type { DecisionEvidence, EvidenceLogs, IncidentEvidence, RevisionSeries } from './evidence.ts';
import type { Incident, RevisionRef } from './incident.ts';
import { incidentChart } from './render-chart.ts';

const count = (n: number) => n.toLocaleString('en-US');
const iso = (at: number) => new Date(at).toISOString();
/** HH:MM:SS, with the date when it is not the report's day. */
const when = (at: number, day: string) =>
  iso(at).slice(0, 10) === day ? iso(at).slice(11, 19) : `${iso(at).slice(0, 10)} ${iso(at).slice(11, 19)}`;
const inline = (text: string) => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
const pct = (ratio: number | null) => (ratio === null ? 'n/a' : `${formatNumber(ratio * 100)}%`);
const revision = (r: RevisionRef | null, n: number) => `${r?.version ?? '?'} (revision ${n})`;
const kib = (bytes: number) => `${formatNumber(bytes / 1024)} KiB`;
const plural = (n: number, noun: string) => `${count(n)} ${noun}${n === 1 ? '' : 's'}`;

function refOf(incident: Incident, n: number): RevisionRef | null {
  const { from, to } = incident.revisions;
  return to.number === n ? to : from?.number === n ? from : null;
}

function seriesTable(incident: Incident, series: readonly RevisionSeries[], day: string): string[] {
  const rows = series.map((s) => {
    const pts = s.points;
    const requests = pts.reduce((a, p) => a + p.requests, 0);
    const errors = pts.reduce((a, p) => a + p.errors, 0);
    const peakRate = pts.reduce<number | null>(
      (m, p) => (p.errorRate === null ? m : Math.max(m ?? 0, p.errorRate)),
      null,
    );
    const peakP99 = pts.reduce<number | null>((m, p) => (p.p99 === null ? m : Math.max(m ?? 0, p.p99)), null);
    const span = pts.length
      ? `${when(pts[0]!.second * 1000, day)} to ${when(pts.at(-1)!.second * 1000, day)} (${pts.length})`
      : 'no traffic';
    return `| ${inline(revision(refOf(incident, s.revision), s.revision))}, ${s.role === 'bad' ? 'rolled back' : 'restored'} | ${span} | ${count(requests)} | ${count(errors)} | ${requests ? pct(errors / requests) : 'n/a'} | ${pct(peakRate)} | ${peakP99 === null ? 'n/a' : `${formatNumber(peakP99)} ms`} |`;
  });
  return [
    '| Revision | Seconds with traffic (UTC) | Requests | Failed | Error rate | Highest error rate in a second | Highest p99 in a second |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ];
}

/** A rule as configured: "errorRate above 5% for 30s, at least 20 requests, P1". */
export function describeRule(rule: Rule): string {
  const metric = (METRICS as readonly string[]).includes(rule.metric) ? (rule.metric as Metric) : null;
  const threshold =
    rule.threshold.kind === 'relative'
      ? `${rule.threshold.factor}x baseline`
      : metric
        ? formatValue(metric, rule.threshold.value)
        : formatNumber(rule.threshold.value);
  return [
    `${rule.metric} ${rule.direction} ${threshold} ${rule.for > 0 ? `for ${formatDuration(rule.for)}` : 'at once'}`,
    ...(rule.minSample > 0 ? [`at least ${count(rule.minSample)} requests`] : []),
    rule.severity,
  ].join(', ');
}

function decisionLines(incident: Incident, d: DecisionEvidence, day: string): string[] {
  const lines = ['### Decision'];
  lines.push(
    d.at === null
      ? '- **Decided**: no event marks the decision'
      : `- **Decided**: ${when(d.at, day)} UTC${d.message ? `: ${inline(d.message)}` : ''}${d.event ? ` (${d.event})` : ''}`,
  );
  if (d.rule) lines.push(`- **Rule**: \`${inline(d.rule.name)}\`: ${describeRule(d.rule)}`);
  if (d.sample !== undefined) lines.push(`- **Sample**: ${count(d.sample)} requests in the rule's window`);
  if (d.judgment) {
    const stats = Object.entries(d.judgment.stats)
      .map(([k, v]) => `${k}=${v === null ? 'n/a' : formatNumber(v)}`)
      .join(', ');
    lines.push(
      `- **Judgment**: ${d.judgment.verdict} on ${d.judgment.metric} (${d.judgment.basis === 'beforeAfter' ? 'before/after the switch' : 'canary beside the stable revision'}): ${inline(d.judgment.message)}` +
        (stats ? `; ${stats}` : ''),
    );
  }
  if (d.rules?.length)
    lines.push(
      `- **Rules at the decision**: ${d.rules.map((r) => `${inline(r.name)} ${r.phase}`).join(', ')}`,
    );
  else if (d.summary) lines.push(`- **At the decision**: ${inline(d.summary)}`);
  if (d.reference) {
    const r = d.reference;
    lines.push(
      `- **Reference**: ${revision(refOf(incident, r.revision), r.revision)} before the switch, ` +
        `${when(r.from * 1000, day)} to ${when(r.to * 1000, day)} UTC: ${count(r.errors)} of ${count(r.requests)} requests failed (${pct(r.errorRate)})` +
        (r.p99 === null ? '' : `, p99 ${formatNumber(r.p99)} ms`),
    );
  }
  return lines;
}

function diffLines(incident: Incident, evidence: IncidentEvidence): string[] {
  const diff = evidence.diff;
  if (diff === undefined) return [];
  if (diff === null) return ['### Changes', '- No earlier revision to compare with.'];
  const lines = [
    `### Changes from ${revision(refOf(incident, diff.from), diff.from)} to ${revision(refOf(incident, diff.to), diff.to)}`,
  ];
  if (diff.error) return [...lines, `- Not compared: ${inline(diff.error)}`];
  if (diff.changes.length === 0)
    return [...lines, '- None in version, command, env, config, secrets, flag set or migration level.'];
  const cell = (v: string | number | null | undefined, secret: boolean) =>
    secret ? '(secret)' : v === null || v === undefined ? '' : `\`${inline(String(v))}\``;
  return [
    ...lines,
    '| What | Name | Change | From | To |',
    '|---|---|---|---|---|',
    ...diff.changes.map((c) => {
      const secret = c.kind === 'secret';
      return `| ${c.kind} | ${inline(c.key)} | ${c.change} | ${c.change === 'added' ? '' : cell(c.from, secret)} | ${c.change === 'removed' ? '' : cell(c.to, secret)} |`;
    }),
  ];
}

/** Control characters and terminal colour codes out of a log line: a fence shows text. */
const printable = (line: string) =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters removed
  line.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?');

function logLines(incident: Incident, logs: EvidenceLogs, day: string): string[] {
  const head = `### Last log lines of ${revision(refOf(incident, logs.revision), logs.revision)}`;
  if (logs.error) return [head, `- Not kept: ${inline(logs.error)}`];
  if (logs.lines.length === 0) return [head, '- Its instances printed nothing.'];
  const instances = new Set(logs.lines.map((l) => l.instance)).size;
  const notes = [
    logs.omitted ? `${plural(logs.omitted, 'older line')} left out` : '',
    logs.redacted ? `secrets replaced by [redacted] in ${plural(logs.redacted, 'line')}` : '',
    logs.cut ? `${plural(logs.cut, 'line')} cut at ${kib(logs.limits.lineBytes)}` : '',
  ].filter(Boolean);
  const body = logs.lines.map(
    (l) => `${when(l.at, day)}.${iso(l.at).slice(20, 23)} ${l.instance} ${l.stream}: ${printable(l.line)}`,
  );
  const longestTicks = Math.max(
    0,
    ...body.map((b) => Math.max(0, ...(b.match(/`+/g) ?? []).map((m) => m.length))),
  );
  const fence = '`'.repeat(Math.max(3, longestTicks + 1));
  return [
    head,
    `_${plural(logs.lines.length, 'line')} of ${plural(instances, 'instance')}, oldest first, UTC ` +
      `(at most ${logs.limits.linesPerInstance} per instance and ${kib(logs.limits.logBytes)} in all` +
      `${notes.length ? `; ${notes.join('; ')}` : ''})._`,
    '',
    `${fence}text`,
    ...body,
    fence,
  ];
}

/** The Evidence section, or nothing when the incident kept none. */
export function evidenceSection(incident: Incident, day: string): string[] {
  const evidence = incident.evidence;
  if (!evidence) return [];
  const lines = ['## Evidence'];
  if (evidence.collectedAt !== undefined)
    lines.push(
      `_Kept at ${when(evidence.collectedAt, day)} UTC, when the rollback ended: the data plane keeps two minutes of seconds, and a stopped revision's lines go with its instances._`,
    );
  const chart = incidentChart(incident);
  lines.push('', '### Error rate and p99 latency');
  if (chart) lines.push('', chart, '');
  else
    lines.push(
      `- No second with traffic was kept${evidence.series.error ? ` (${inline(evidence.series.error)})` : ''}.`,
    );
  if (chart)
    lines.push(
      'Its numbers, for viewers that do not draw inline SVG:',
      '',
      ...seriesTable(incident, evidence.series.revisions, day),
    );
  if (evidence.decision) lines.push('', ...decisionLines(incident, evidence.decision, day));
  const diff = diffLines(incident, evidence);
  if (diff.length) lines.push('', ...diff);
  if (evidence.logs) lines.push('', ...logLines(incident, evidence.logs, day));
  return lines;
}
