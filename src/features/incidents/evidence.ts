// What an incident keeps of the evidence (the runbook's "Preserve evidence: save logs, metrics, and
// error messages"): the bad revision's last log lines, both revisions' per-second series around the
// decision, what changed between them and the numbers the decision was taken on. The data plane
// forgets its seconds after two minutes and a stopped revision's lines go with its instances: the
// incident holds them from then on. Pure and bounded: the collection (collect-evidence.ts) reads,
// this shapes and caps.

import type { MetricsSample, RevisionSample } from '../../providers/metrics-source.ts';
import type { LogLine } from '../../providers/runtime.ts';
import type { Rule } from '../../spec/analysis-spec.ts';
import { type CanaryJudgment, type Decision, failedRequests, quantile } from '../analysis/index.ts';
import type { RevisionDiffEntry } from '../revisions/revision-spec.ts';

export const EVIDENCE_LIMITS = {
  /** The newest lines kept of each instance. */
  linesPerInstance: 200,
  /** All kept lines together, UTF-8 bytes: the oldest go first. */
  logBytes: 64 * 1024,
  /** One line, UTF-8 bytes: longer ones are cut and end with an ellipsis. */
  lineBytes: 2 * 1024,
  /** Seconds kept per revision: fifteen minutes, those nearest the decision first. */
  pointsPerRevision: 900,
} as const;

/** The bounds of the log lines kept (EVIDENCE_LIMITS'), recorded with them. */
export interface LogLimits {
  readonly linesPerInstance: number;
  readonly logBytes: number;
  readonly lineBytes: number;
}

/** One second of one revision. */
export interface EvidencePoint {
  /** Unix time in whole seconds at the start of the second. */
  readonly second: number;
  /** Requests answered (the data plane's 502/504 for it included). */
  readonly requests: number;
  /** 5xx answers plus failed connections, at most the requests (the analysis' failedRequests). */
  readonly errors: number;
  /** errors / requests, 0..1: THE error rate; null in a second without requests. */
  readonly errorRate: number | null;
  /** Latency quantiles, ms (two decimals); null without a latency counted. */
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** A revision's seconds: `bad` the one rolled back, `restored` the one that serves again. */
export interface RevisionSeries {
  readonly revision: number;
  readonly role: 'bad' | 'restored';
  /** Oldest first, one per second the revision had traffic in; at most pointsPerRevision. */
  readonly points: readonly EvidencePoint[];
}

export interface EvidenceSeries {
  /** The bad revision first, then the restored one (absent when there was none). */
  readonly revisions: readonly RevisionSeries[];
  /**
   * The seconds asked for, unix ms: from before the rollout (or the decision's window) to the
   * collection. The data plane keeps about two minutes: seconds older than that are not there.
   */
  readonly from: number;
  readonly to: number;
  /** Why no seconds could be read (the metrics source's message); absent when the read worked. */
  readonly error?: string;
}

export interface EvidenceLogs {
  /** The revision whose instances printed them. */
  readonly revision: number;
  /** Oldest first, secrets replaced by [redacted], each at most lineBytes. */
  readonly lines: readonly LogLine[];
  /** Lines read but left out to stay within the limits (the oldest of their instance, or overall). */
  readonly omitted: number;
  /** Lines cut to lineBytes. */
  readonly cut: number;
  /** Lines in which a secret or a credential was replaced. */
  readonly redacted: number;
  readonly limits: LogLimits;
  /** Why no line could be read; absent when the read worked. */
  readonly error?: string;
}

/** What the bad revision changed, from the restored revision to it: secrets by name only. */
export interface EvidenceDiff {
  readonly from: number;
  readonly to: number;
  readonly changes: readonly RevisionDiffEntry[];
  readonly error?: string;
}

/** The judgment at the decision, with the statistics it decided on. */
export type JudgmentEvidence = Pick<CanaryJudgment, 'verdict' | 'metric' | 'message' | 'stats' | 'basis'>;

/** Each rule's phase at the decision. */
export interface RulePhaseEvidence {
  readonly name: string;
  readonly phase: string;
  readonly message: string;
}

/**
 * What the analysis knew when it decided, beyond the incident's trigger. Written into the data of
 * the `analysis.decision` event (decisionRecord) and read back from it into the incident.
 */
export interface DecisionRecord {
  /** The rule that decided, as configured: threshold (absolute or relative), `for`, minSample, severity. */
  readonly rule?: Rule;
  /** Requests in the rule's window (seconds with a known state, for health metrics). */
  readonly sample?: number;
  readonly judgment?: JudgmentEvidence;
  readonly rules?: readonly RulePhaseEvidence[];
}

/** The restored revision before the bad one took traffic: the reference the analysis kept. */
export interface ReferenceEvidence {
  readonly revision: number;
  /** Unix seconds, both inclusive. */
  readonly from: number;
  readonly to: number;
  readonly requests: number;
  readonly errors: number;
  readonly errorRate: number | null;
  readonly p99: number | null;
}

export interface DecisionEvidence extends DecisionRecord {
  /** When the rollback was decided (or began, for a manual one or a failed step), unix ms. */
  readonly at: number | null;
  /** The event that marks it (analysis.decision, step.failed, rollout.aborted, rollback.started). */
  readonly event: string | null;
  readonly message: string | null;
  /** Each rule and the judgment at the decision, in one line. */
  readonly summary?: string;
  readonly reference?: ReferenceEvidence;
}

/**
 * Gathered when the rollback ended (collectedAt and every part); seconds may be added to the series
 * before and after that (IncidentService.appendSeries), so the series alone may come first.
 */
export interface IncidentEvidence {
  /** When it was gathered (after the rollback), unix ms; absent while only seconds were added. */
  readonly collectedAt?: number;
  readonly decision?: DecisionEvidence;
  readonly series: EvidenceSeries;
  /** Null when there is no revision to compare with. */
  readonly diff?: EvidenceDiff | null;
  readonly logs?: EvidenceLogs;
}

/** The extra data of an `analysis.decision` event: what the incident's evidence needs later. */
export function decisionRecord(
  decision: Pick<Decision, 'verdict'>,
  result: { readonly judgment: CanaryJudgment | null; readonly rules: readonly RulePhaseEvidence[] },
): DecisionRecord {
  const v = decision.verdict;
  const j = result.judgment;
  return {
    ...(v && 'rule' in v && { rule: v.rule, sample: v.sample }),
    ...(j && {
      judgment: {
        verdict: j.verdict,
        metric: j.metric,
        message: j.message,
        stats: j.stats,
        ...(j.basis && { basis: j.basis }),
      },
    }),
    rules: result.rules.map(({ name, phase, message }) => ({ name, phase, message })),
  };
}

const round2 = (ms: number | null) => (ms === null ? null : Math.round(ms * 100) / 100);

/** One second of one revision from its counters (a data plane sample, or a point the analysis kept). */
export function evidencePoint(
  second: number,
  c: Pick<RevisionSample, 'requests' | 'errors5xx' | 'connectFailures' | 'latency'>,
): EvidencePoint {
  const errors = failedRequests(c);
  return {
    second,
    requests: c.requests,
    errors,
    errorRate: c.requests > 0 ? errors / c.requests : null,
    p50: round2(quantile(c.latency, 0.5)),
    p95: round2(quantile(c.latency, 0.95)),
    p99: round2(quantile(c.latency, 0.99)),
  };
}

/** A revision's points from the data plane's samples, within from..to (unix seconds, inclusive). */
export function pointsOf(
  samples: readonly MetricsSample[],
  revision: number,
  from = Number.NEGATIVE_INFINITY,
  to = Number.POSITIVE_INFINITY,
): EvidencePoint[] {
  const out: EvidencePoint[] = [];
  for (const s of samples) {
    if (s.second < from || s.second > to) continue;
    const c = s.revisions.find((r) => r.revision === revision);
    if (c && c.requests + c.connectFailures > 0) out.push(evidencePoint(s.second, c));
  }
  return out.sort((a, b) => a.second - b.second);
}

/**
 * `held` and `added` as one series: a second in both is `added`'s (a second read again is the same
 * second, counted anew). Over `limit`, the seconds nearest `around` (unix second; the newest when
 * null) stay, so that the decision keeps what led to it and what followed.
 */
export function mergePoints(
  held: readonly EvidencePoint[],
  added: readonly EvidencePoint[],
  around: number | null,
  limit: number = EVIDENCE_LIMITS.pointsPerRevision,
): EvidencePoint[] {
  const bySecond = new Map<number, EvidencePoint>();
  for (const p of held) bySecond.set(p.second, p);
  for (const p of added) bySecond.set(p.second, p);
  let points = [...bySecond.values()];
  if (points.length > limit) {
    const centre = around ?? Math.max(...points.map((p) => p.second));
    points = points
      .sort((a, b) => Math.abs(a.second - centre) - Math.abs(b.second - centre) || a.second - b.second)
      .slice(0, limit);
  }
  return points.sort((a, b) => a.second - b.second);
}

/** Both series' seconds in one (see mergePoints); `added`'s revisions, range and error win. */
export function mergeSeries(
  held: EvidenceSeries | undefined,
  added: EvidenceSeries,
  around: number | null,
): EvidenceSeries {
  if (!held || held.to <= held.from) return added;
  if (added.to <= added.from) return held;
  const error = added.error ?? held.error;
  return {
    from: Math.min(held.from, added.from),
    to: Math.max(held.to, added.to),
    ...(error !== undefined && { error }),
    revisions: added.revisions.map((r) => ({
      ...r,
      points: mergePoints(
        held.revisions.find((h) => h.revision === r.revision)?.points ?? [],
        r.points,
        around,
      ),
    })),
  };
}

/** The series of `revisions` over the data plane's `samples` (an empty one without samples). */
export function seriesFromSamples(
  samples: readonly MetricsSample[],
  revisions: readonly Pick<RevisionSeries, 'revision' | 'role'>[],
  around: number | null,
): EvidenceSeries {
  const seconds = samples.map((s) => s.second);
  const from = seconds.length ? Math.min(...seconds) * 1000 : 0;
  const to = seconds.length ? (Math.max(...seconds) + 1) * 1000 : 0;
  return {
    revisions: revisions.map(({ revision, role }) => ({
      revision,
      role,
      points: mergePoints([], pointsOf(samples, revision), around),
    })),
    from,
    to,
  };
}

/**
 * The evidence after `added` was gathered or appended: its parts replace those held, the series'
 * seconds are merged (so seconds appended before the collection, or after it, are all kept).
 */
export function mergeEvidence(
  held: IncidentEvidence | undefined,
  added: IncidentEvidence,
  around: number | null,
): IncidentEvidence {
  return { ...held, ...added, series: mergeSeries(held?.series, added.series, around) };
}

const encoder = new TextEncoder();
const ELLIPSIS = '…';
const ELLIPSIS_BYTES = encoder.encode(ELLIPSIS).length;
const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

/** `text` in at most `maxBytes` of UTF-8, cut on a character and ending with an ellipsis when cut. */
export function cutToBytes(text: string, maxBytes: number): string {
  if (byteLength(text) <= maxBytes) return text;
  const room = new Uint8Array(Math.max(0, maxBytes - ELLIPSIS_BYTES));
  // encodeInto writes whole characters only: `read` ends on a character boundary.
  const { read } = encoder.encodeInto(text, room);
  return `${text.slice(0, read)}${ELLIPSIS}`;
}

/**
 * The log lines an incident keeps, from what the runtime returned (oldest first): the newest
 * linesPerInstance of each instance, each redacted (before it is cut, so that no part of a secret
 * survives the cut) and cut to lineBytes, then the newest that fit in logBytes together.
 */
export function boundLogLines(
  lines: readonly LogLine[],
  redact: (text: string) => string,
  limits: LogLimits = EVIDENCE_LIMITS,
): Pick<EvidenceLogs, 'lines' | 'omitted' | 'cut' | 'redacted'> {
  const perInstance = new Map<string, number>();
  const newestFirst: LogLine[] = [];
  let budget = limits.logBytes;
  let cut = 0;
  let redacted = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    const seen = perInstance.get(line.instance) ?? 0;
    if (seen >= limits.linesPerInstance) continue;
    const clean = redact(line.line);
    const text = cutToBytes(clean, limits.lineBytes);
    const bytes = byteLength(text);
    if (bytes > budget) break;
    budget -= bytes;
    perInstance.set(line.instance, seen + 1);
    if (clean !== line.line) redacted++;
    if (text !== clean) cut++;
    newestFirst.push({ at: line.at, instance: line.instance, stream: line.stream, line: text });
  }
  return { lines: newestFirst.reverse(), omitted: lines.length - newestFirst.length, cut, redacted };
}
