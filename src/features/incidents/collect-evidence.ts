// Gathers an incident's evidence once its rollback is over, before it is gone: the bad revision's
// last log lines from its runtime (where `rewind logs` reads them), both revisions' seconds from the
// metrics source (the data plane keeps about two minutes) and from the analysis series the rollout
// still holds, the revisions' diff and what the decision's event recorded. Never throws: a part
// that cannot be read says why in its `error`, and the others are kept.

import type { MetricsSample, MetricsSource } from '../../providers/metrics-source.ts';
import type { Runtime } from '../../providers/runtime.ts';
import { secretRedactor } from '../../shared/redact.ts';
import type { EventRecord, RevisionRecord, RolloutRecord, Store } from '../../store/types.ts';
import { beforeLatency, errorRate, pointFromJson, quantile } from '../analysis/index.ts';
import {
  diffRevisionSpecs,
  parseRevisionSpec,
  type RevisionSpec,
  unitOf,
} from '../revisions/revision-spec.ts';
import {
  boundLogLines,
  type DecisionEvidence,
  type DecisionRecord,
  EVIDENCE_LIMITS,
  type EvidenceDiff,
  type EvidenceLogs,
  type EvidencePoint,
  type EvidenceSeries,
  evidencePoint,
  type IncidentEvidence,
  mergePoints,
  pointsOf,
  type ReferenceEvidence,
} from './evidence.ts';
import type { Incident } from './incident.ts';

export interface EvidenceSources {
  readonly store: Store;
  readonly metrics: MetricsSource;
  /** The app's runtime; undefined when the app is no longer under the controller. */
  readonly runtime?: Runtime | undefined;
  /** The values an instance of the revision must never have shown (its opened secrets, tokens); may throw. */
  readonly secretsOf?: ((spec: RevisionSpec) => readonly string[]) | undefined;
  readonly now?: () => number;
}

export interface EvidenceSubject {
  readonly incident: Incident;
  /** The rollout that rolled back (a deploy turned around, or a rollback). */
  readonly rollout: RolloutRecord;
  /** Its events, oldest first. */
  readonly events: readonly EventRecord[];
}

/** Seconds of what came before the rollout (or the decision's window) that the series start with. */
const LEAD_MS = 30_000;
/** Events that mark a rollback's decision or start, the analysis' first. */
const DECISION_EVENTS = ['analysis.decision', 'step.failed', 'rollout.aborted', 'rollback.started'];
/** Events of other rollouts looked through for the decision that started a rollback (by id). */
const EVENTS_BEFORE = 200;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function collectEvidence(
  sources: EvidenceSources,
  subject: EvidenceSubject,
): Promise<IncidentEvidence> {
  const { store } = sources;
  const { incident, rollout } = subject;
  const bad = incident.revisions.to.number;
  const good = incident.revisions.from?.number ?? null;
  const [badRev, goodRev] = await Promise.all([
    store.revisions.get(incident.app, bad).catch(() => undefined),
    good === null ? undefined : store.revisions.get(incident.app, good).catch(() => undefined),
  ]);
  const { decision, decidedBy } = await decisionOf(store, subject);
  const collectedAt = (sources.now ?? Date.now)();
  const [series, logs] = await Promise.all([
    seriesOf(sources, subject, decision, decidedBy, collectedAt),
    logsOf(sources, incident.app, bad, badRev),
  ]);
  return {
    collectedAt,
    decision: { ...decision, ...referenceOf(decidedBy ?? rollout, bad, good) },
    series,
    diff: diffOf(bad, good, badRev, goodRev),
    logs,
  };
}

/**
 * The decision's event: the rollout's own, or, for a rollback started by a watch (post-deploy or
 * steady-state), the decision journalled under the rollout it watched just before this one began.
 */
async function decisionOf(
  store: Store,
  { rollout, events }: EvidenceSubject,
): Promise<{ decision: DecisionEvidence; decidedBy: RolloutRecord | null }> {
  let event = events.find((e) => e.type === 'analysis.decision');
  let decidedBy: RolloutRecord | null = event ? rollout : null;
  if (!event && rollout.kind === 'rollback' && events[0]) {
    const before = await store.events
      .list({ app: rollout.app, afterId: Math.max(0, events[0].id - EVENTS_BEFORE), limit: EVENTS_BEFORE })
      .catch(() => []);
    event = before.filter((e) => e.id < events[0]!.id && e.type === 'analysis.decision').at(-1);
    if (event?.rolloutId)
      decidedBy = (await store.rollouts.get(event.rolloutId).catch(() => undefined)) ?? null;
  }
  event ??= DECISION_EVENTS.map((type) => events.find((e) => e.type === type)).find(Boolean);
  const data = (event?.data ?? {}) as DecisionRecord & { summary?: unknown };
  return {
    decidedBy,
    decision: {
      at: event?.at ?? null,
      event: event?.type ?? null,
      message: event?.message ?? null,
      ...(typeof data.summary === 'string' && data.summary && { summary: data.summary }),
      ...(data.rule && { rule: data.rule }),
      ...(typeof data.sample === 'number' && { sample: data.sample }),
      ...(data.judgment && { judgment: data.judgment }),
      ...(Array.isArray(data.rules) && { rules: data.rules }),
    },
  };
}

/** The restored revision before the bad one took traffic, as the analysis kept it (its WatchMemory). */
function referenceOf(
  decidedBy: RolloutRecord,
  bad: number,
  good: number | null,
): { reference?: ReferenceEvidence } {
  const before = decidedBy.state.analysis?.before;
  if (!before || good === null || decidedBy.toRevision !== bad || decidedBy.fromRevision === null) return {};
  const p99 = quantile(beforeLatency(before), 0.99);
  return {
    reference: {
      revision: decidedBy.fromRevision,
      from: before.from,
      to: before.to,
      requests: before.requests,
      errors: before.errors,
      errorRate: errorRate({ requests: before.requests, errors5xx: before.errors, connectFailures: 0 }),
      p99: p99 === null ? null : Math.round(p99 * 100) / 100,
    },
  };
}

/**
 * Both revisions' seconds from before the rollout (or the decision's window) to now: the data
 * plane's, and older ones from the analysis series of the rollout that decided while it keeps them.
 */
async function seriesOf(
  sources: EvidenceSources,
  { incident, rollout }: EvidenceSubject,
  decision: DecisionEvidence,
  decidedBy: RolloutRecord | null,
  now: number,
): Promise<EvidenceSeries> {
  const { trigger } = incident;
  const start = Math.min(
    rollout.createdAt,
    decision.at ?? rollout.createdAt,
    trigger.window?.from ?? rollout.createdAt,
    trigger.breachingSince ?? rollout.createdAt,
  );
  const from = start - LEAD_MS;
  const fromSecond = Math.floor(from / 1000);
  const toSecond = Math.floor(now / 1000) - 1;
  const around = decision.at === null ? null : Math.floor(decision.at / 1000);
  const read = await sources.metrics.read(incident.app, fromSecond);
  const samples: readonly MetricsSample[] = read.samples;
  const oldest = samples.reduce((m, s) => Math.min(m, s.second), Number.POSITIVE_INFINITY);
  const kept = decidedBy ? await keptSeries(sources.store, decidedBy.id, fromSecond, oldest - 1) : new Map();
  const roles = [
    { revision: incident.revisions.to.number, role: 'bad' as const },
    ...(incident.revisions.from
      ? [{ revision: incident.revisions.from.number, role: 'restored' as const }]
      : []),
  ];
  return {
    revisions: roles.map(({ revision, role }) => ({
      revision,
      role,
      points: mergePoints(
        kept.get(revision) ?? [],
        pointsOf(samples, revision, fromSecond, toSecond),
        around,
      ),
    })),
    from,
    to: (toSecond + 1) * 1000,
    ...(read.phase === 'Error' && { error: read.error }),
  };
}

/** The analysis' persisted seconds (per revision) in from..to, while the rollout still holds them. */
async function keptSeries(
  store: Store,
  rolloutId: string,
  from: number,
  to: number,
): Promise<Map<number, EvidencePoint[]>> {
  const out = new Map<number, EvidencePoint[]>();
  if (to < from) return out;
  const rows = await store.analysis.load(rolloutId).catch(() => []);
  for (const row of rows) {
    if (row.second < from || row.second > to) continue;
    const point = pointFromJson(row.second, row.data);
    if (!point || point.requests + point.connectFailures === 0) continue;
    const list = out.get(row.revision) ?? [];
    list.push(evidencePoint(point.second, point));
    out.set(row.revision, list);
  }
  return out;
}

/** The bad revision's last lines, from the instances of its unit, bounded and redacted. */
async function logsOf(
  sources: EvidenceSources,
  app: string,
  bad: number,
  badRev: RevisionRecord | undefined,
): Promise<EvidenceLogs> {
  const limits = {
    linesPerInstance: EVIDENCE_LIMITS.linesPerInstance,
    logBytes: EVIDENCE_LIMITS.logBytes,
    lineBytes: EVIDENCE_LIMITS.lineBytes,
  };
  const none = { revision: bad, lines: [], omitted: 0, cut: 0, redacted: 0, limits };
  if (!sources.runtime) return { ...none, error: `app ${app} has no runtime under this controller` };
  if (!badRev) return { ...none, error: `revision ${bad} is gone` };
  try {
    const spec = parseRevisionSpec(badRev.spec);
    let secrets: readonly string[] = [];
    try {
      secrets = sources.secretsOf?.(spec) ?? [];
    } catch {
      // A secret that cannot be opened never reached the instances: it cannot be in their lines.
    }
    const tail = limits.linesPerInstance * Math.max(1, spec.instances);
    const lines = await sources.runtime.logs(app, { revision: unitOf(badRev), tail });
    return { ...none, ...boundLogLines(lines, secretRedactor(secrets), limits) };
  } catch (err) {
    return { ...none, error: `could not read the logs of revision ${bad}: ${message(err)}` };
  }
}

function diffOf(
  bad: number,
  good: number | null,
  badRev: RevisionRecord | undefined,
  goodRev: RevisionRecord | undefined,
): EvidenceDiff | null {
  if (good === null) return null;
  if (!badRev || !goodRev)
    return { from: good, to: bad, changes: [], error: `revision ${badRev ? good : bad} is gone` };
  try {
    return {
      from: good,
      to: bad,
      changes: diffRevisionSpecs(parseRevisionSpec(goodRev.spec), parseRevisionSpec(badRev.spec)),
    };
  } catch (err) {
    return { from: good, to: bad, changes: [], error: message(err) };
  }
}
