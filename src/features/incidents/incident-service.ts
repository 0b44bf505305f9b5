// Opens and updates incidents in the store. The controller calls it at each moment of a rollback:
// open when it starts, addTimeline/addAction as it acts, setImpact/setRollback as numbers arrive,
// setVerification at the end (which resolves or escalates). Every change is one store write.

import { randomBytes } from 'node:crypto';
import type { MetricsSample } from '../../providers/metrics-source.ts';
import type { Severity } from '../../spec/severity.ts';
import { failedChecks } from '../../spec/verification.ts';
import type { IncidentRecord, Store } from '../../store/types.ts';
import { type IncidentEvidence, mergeEvidence, seriesFromSamples } from './evidence.ts';
import {
  type ActionBy,
  EMPTY_IMPACT,
  type Incident,
  type IncidentAction,
  type IncidentImpact,
  type IncidentTrigger,
  type IncidentVerification,
  type PartialRollback,
  type PostRollbackWatch,
  type RevisionRef,
  type RollbackTiming,
  type TimelineEntry,
  type VerificationCheck,
} from './incident.ts';

export { type ComputeImpactOptions, computeImpact, type WeightPoint } from './compute-impact.ts';

import { expectedRollbackMs, type IncidentChange, incidentMessage } from './runbook-messages.ts';

export type { IncidentChange };

export interface IncidentServiceOptions {
  readonly store: Store;
  /** Epoch milliseconds; defaults to Date.now. */
  readonly now?: () => number;
  /** Defaults to inc-<UTC yyyymmddThhmmss>-<4 hex>: readable, sortable, unique enough per app. */
  readonly newId?: (at: number) => string;
  /**
   * Told after each open/verifying/escalate/resolve is stored, with the runbook's message for it
   * (e.g. to publish a notification). Must not throw.
   */
  readonly onChange?: (change: IncidentChange, incident: Incident, message: string) => void;
}

export interface OpenIncident {
  readonly app: string;
  readonly rolloutId?: string | null;
  readonly severity: Severity;
  readonly revisions: { readonly from: RevisionRef | null; readonly to: RevisionRef };
  readonly trigger: IncidentTrigger;
  /** Defaults to "<app>: rolled back <bad version>: <trigger message>". */
  readonly title?: string;
  /** When the rollback started; defaults to now. */
  readonly at?: number;
  /** Earlier moments to record (deploy started, weight set...), oldest first; "Incident opened" follows. */
  readonly timeline?: readonly TimelineEntry[];
  readonly impact?: IncidentImpact;
  readonly partialRollback?: PartialRollback;
}

export function defaultIncidentId(at: number): string {
  const stamp = new Date(at).toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `inc-${stamp}-${randomBytes(2).toString('hex')}`;
}

function toIncident(record: IncidentRecord): Incident {
  // The columns are authoritative for what lists filter on; the document holds the rest.
  const doc = record.data as Incident;
  return {
    ...doc,
    id: record.id,
    app: record.app,
    rolloutId: record.rolloutId,
    severity: record.severity,
    status: record.status,
    title: record.title,
    resolvedAt: record.resolvedAt,
  };
}

/** The second the series are kept around: the decision's, else the rollback's start. */
function decisionSecond(doc: Incident): number {
  return Math.floor((doc.evidence?.decision?.at ?? doc.rollback.startedAt) / 1000);
}

function byTime<T extends { readonly at: number }>(items: readonly T[]): T[] {
  // Stable: equal times keep their insertion order.
  return [...items].sort((a, b) => a.at - b.at);
}

export class IncidentService {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #newId: (at: number) => string;
  readonly #onChange: IncidentServiceOptions['onChange'];
  /** Per-incident write chain: read-modify-write of the document must not interleave. */
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(options: IncidentServiceOptions) {
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#newId = options.newId ?? defaultIncidentId;
    this.#onChange = options.onChange;
  }

  async open(input: OpenIncident): Promise<Incident> {
    const at = input.at ?? this.#now();
    const id = this.#newId(at);
    const title =
      input.title ?? `${input.app}: rolled back ${input.revisions.to.version}: ${input.trigger.message}`;
    const doc: Incident = {
      id,
      app: input.app,
      rolloutId: input.rolloutId ?? null,
      severity: input.severity,
      status: 'Open',
      title,
      openedAt: at,
      resolvedAt: null,
      revisions: input.revisions,
      trigger: input.trigger,
      timeline: byTime([
        ...(input.timeline ?? []),
        { at, event: 'Incident opened', detail: `${input.severity}: ${input.trigger.message}` },
      ]),
      impact: input.impact ?? EMPTY_IMPACT,
      actions: [],
      verification: null,
      rollback: { startedAt: at, trafficRestoredAt: null, completedAt: null, durationMs: null },
      ...(input.partialRollback && { partialRollback: input.partialRollback }),
    };
    const record = await this.#store.incidents.create({
      id,
      app: doc.app,
      rolloutId: doc.rolloutId,
      severity: doc.severity,
      status: doc.status,
      title,
      data: doc,
    });
    const incident = toIncident(record);
    const earlier = (await this.#store.incidents.list({ app: doc.app, limit: 21 }))
      .filter((r) => r.id !== id)
      .map(toIncident);
    this.#notify('incident.opened', incident, expectedRollbackMs(earlier));
    return incident;
  }

  addTimeline(id: string, entry: { event: string; detail?: string; at?: number }): Promise<Incident> {
    return this.#change(id, (doc) => ({
      timeline: byTime([
        ...doc.timeline,
        {
          at: entry.at ?? this.#now(),
          event: entry.event,
          ...(entry.detail !== undefined && { detail: entry.detail }),
        },
      ]),
    }));
  }

  addAction(
    id: string,
    action: { action: string; by: ActionBy; result: string; at?: number },
  ): Promise<Incident> {
    const entry: IncidentAction = {
      at: action.at ?? this.#now(),
      action: action.action,
      by: action.by,
      result: action.result,
    };
    return this.#change(id, (doc) => ({ actions: byTime([...doc.actions, entry]) }));
  }

  setImpact(id: string, impact: IncidentImpact): Promise<Incident> {
    return this.#change(id, () => ({ impact }));
  }

  /**
   * The evidence gathered when the rollback ended (collectEvidence). Its parts replace those held;
   * the seconds of its series join those already appended (appendSeries).
   */
  setEvidence(id: string, evidence: IncidentEvidence): Promise<Incident> {
    return this.#change(id, (doc) => ({
      evidence: mergeEvidence(doc.evidence, evidence, decisionSecond(doc)),
    }));
  }

  /**
   * Adds the metrics source's seconds of the incident's two revisions to its evidence (a watch of
   * the restored revision after the switch adds what it read), before or after the evidence was
   * gathered: a second already held is replaced, and each revision keeps at most
   * EVIDENCE_LIMITS.pointsPerRevision seconds, those nearest the decision. One store write.
   */
  appendSeries(id: string, samples: readonly MetricsSample[]): Promise<Incident> {
    return this.#change(id, (doc) => {
      if (samples.length === 0) return {};
      const revisions = [
        { revision: doc.revisions.to.number, role: 'bad' as const },
        ...(doc.revisions.from ? [{ revision: doc.revisions.from.number, role: 'restored' as const }] : []),
      ];
      const around = decisionSecond(doc);
      const series = seriesFromSamples(samples, revisions, around);
      return { evidence: mergeEvidence(doc.evidence, { series }, around) };
    });
  }

  /** Records rollback milestones; durationMs follows from them. */
  setRollback(
    id: string,
    patch: { startedAt?: number; trafficRestoredAt?: number | null; completedAt?: number | null },
  ): Promise<Incident> {
    return this.#change(id, (doc) => {
      const merged = { ...doc.rollback, ...patch };
      const end = merged.completedAt ?? merged.trafficRestoredAt;
      const rollback: RollbackTiming = {
        startedAt: merged.startedAt,
        trafficRestoredAt: merged.trafficRestoredAt,
        completedAt: merged.completedAt,
        durationMs: end === null ? null : Math.max(0, end - merged.startedAt),
      };
      return { rollback };
    });
  }

  /**
   * The first verification passed and the restored revision is watched until `until`: the
   * incident is Verifying meanwhile (the runbook's "monitor metrics for 15 minutes").
   */
  async startWatch(
    id: string,
    input: { revision: number; until: number; checks: readonly VerificationCheck[]; at?: number },
  ): Promise<Incident> {
    const at = input.at ?? this.#now();
    const watch: PostRollbackWatch = {
      revision: input.revision,
      startedAt: at,
      until: input.until,
      endedAt: null,
      result: null,
    };
    const notYet = input.checks.filter((c) => c.notChecked).map((c) => c.name);
    const incident = await this.#change(id, (doc) => ({
      verification: { at, passed: true, checks: input.checks },
      status: 'Verifying',
      watch,
      timeline: byTime([
        ...doc.timeline,
        {
          at,
          event: 'Verification started',
          detail: `${input.checks.filter((c) => c.passed).length} checks passed${notYet.length ? ` (${notYet.join(', ')}: not checked yet)` : ''}; revision ${input.revision} watched until ${new Date(input.until).toISOString()}`,
        },
      ]),
    }));
    this.#notify('incident.verifying', incident);
    return incident;
  }

  /**
   * The verdict on the revision rolled back to, at the end of its watch (or at the switch when it
   * is not watched). Passed resolves the incident. Failed escalates it and raises the severity to
   * P0: the rollback did not bring the app back, people must act now. A check not made (notChecked)
   * fails nothing: it is listed as such.
   */
  async setVerification(
    id: string,
    verification: {
      passed: boolean;
      checks: readonly VerificationCheck[];
      at?: number;
      /** How the watch ended (Superseded: a newer rollout replaced the revision first). */
      watch?: { result: 'Passed' | 'Failed' | 'Superseded'; reason?: string };
    },
  ): Promise<Incident> {
    const at = verification.at ?? this.#now();
    const result: IncidentVerification = { at, passed: verification.passed, checks: verification.checks };
    const failed = failedChecks(result.checks);
    const incident = await this.#change(id, (doc) => ({
      verification: result,
      status: result.passed ? 'Resolved' : 'Escalated',
      severity: result.passed ? doc.severity : 'P0',
      resolvedAt: result.passed ? (doc.resolvedAt ?? at) : null,
      ...(doc.watch &&
        verification.watch && {
          watch: {
            ...doc.watch,
            endedAt: at,
            result: verification.watch.result,
            ...(verification.watch.reason && { reason: verification.watch.reason }),
          },
        }),
      timeline: byTime([
        ...doc.timeline,
        result.passed
          ? {
              at,
              event: 'Verification passed',
              detail: `${result.checks.filter((c) => c.passed).length} checks passed${verification.watch?.reason ? `; ${verification.watch.reason}` : ''}; resolved`,
            }
          : {
              at,
              event: 'Verification failed',
              detail: `failed: ${failed.map((c) => `${c.name} (${c.detail})`).join(', ') || 'no check passed'}; escalated to P0`,
            },
      ]),
    }));
    this.#notify(result.passed ? 'incident.resolved' : 'incident.escalated', incident);
    return incident;
  }

  async get(id: string): Promise<Incident | undefined> {
    const record = await this.#store.incidents.get(id);
    return record && toIncident(record);
  }

  /** Newest first. */
  async list(filter: { app?: string; limit?: number } = {}): Promise<Incident[]> {
    return (await this.#store.incidents.list(filter)).map(toIncident);
  }

  /** Serialised per incident: read the document, apply `change`, write document and columns back. */
  #change(id: string, change: (doc: Incident) => Partial<Incident>): Promise<Incident> {
    const previous = this.#chains.get(id) ?? Promise.resolve();
    const next = previous
      .catch(() => {})
      .then(async () => {
        const record = await this.#store.incidents.get(id);
        if (!record) throw new Error(`incident ${id} not found`);
        const current = toIncident(record);
        const doc: Incident = { ...current, ...change(current) };
        const updated = await this.#store.incidents.update(id, {
          severity: doc.severity,
          status: doc.status,
          title: doc.title,
          resolvedAt: doc.resolvedAt,
          data: doc,
        });
        return toIncident(updated);
      });
    this.#chains.set(id, next);
    void next
      .catch(() => {})
      .finally(() => {
        if (this.#chains.get(id) === next) this.#chains.delete(id);
      });
    return next;
  }

  #notify(change: IncidentChange, incident: Incident, etaMs: number | null = null): void {
    try {
      this.#onChange?.(change, incident, incidentMessage(change, incident, etaMs));
    } catch {
      // A listener's failure must not fail the rollback that called us.
    }
  }
}
