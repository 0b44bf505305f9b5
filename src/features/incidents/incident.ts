// The incident document: what one rollback leaves behind. Pure data, stored whole as the `data`
// of an IncidentRecord and rendered as Markdown and JSON. Times are epoch milliseconds.

import type { Severity } from '../../spec/severity.ts';
import type { VerificationCheck } from '../../spec/verification.ts';
import type { IncidentStatus } from '../../store/types.ts';
import type { IncidentEvidence } from './evidence.ts';

export type {
  DecisionEvidence,
  EvidenceDiff,
  EvidenceLogs,
  EvidencePoint,
  EvidenceSeries,
  IncidentEvidence,
  RevisionSeries,
} from './evidence.ts';
export type { IncidentStatus, Severity };

export interface RevisionRef {
  readonly number: number;
  readonly version: string;
}

export type TriggerKind = 'rule' | 'judgment' | 'manual' | 'health' | 'failure';

/** Why the rollback started, with the numbers that made the decision. */
export interface IncidentTrigger {
  readonly kind: TriggerKind;
  /** When it was caught: "during the bake", "during the post-deploy watch, 2m after the switch". */
  readonly phase?: string;
  /** Which judgment decided (kind judgment): the canary beside the stable revision, or before/after. */
  readonly judgment?: 'canary' | 'before/after';
  /** The analysis rule's name (kind rule/judgment). */
  readonly rule?: string;
  readonly metric?: string;
  readonly observed?: number;
  readonly threshold?: number;
  /** The metrics window the verdict was made on. */
  readonly window?: { readonly from: number; readonly to: number };
  /**
   * When the breach that decided began (unix ms), for a rule with a `for` window. A window carried
   * over a controller restart began before it.
   */
  readonly breachingSince?: number;
  /** One sentence for people: "error rate 12.5% > 5% for 30s", "rolled back by alice". */
  readonly message: string;
}

export interface TimelineEntry {
  readonly at: number;
  readonly event: string;
  readonly detail?: string;
}

/** What the bad revision did to users while it had traffic. See computeImpact. */
export interface IncidentImpact {
  /** Requests the bad revision answered (its 502/504s from the proxy included). */
  readonly requestsServed: number;
  /** 5xx answers plus failed connections of the bad revision, at most requestsServed (failedRequests). */
  readonly requestsFailed: number;
  /** Connections to the bad revision that failed (most were retried on another revision). */
  readonly connectFailures: number;
  /** requestsFailed / requestsServed, 0..1 (0 when nothing was served): the analysis' errorRate. */
  readonly errorRate: number;
  /** The stable revision's error rate over the same buckets, for comparison; null if it had no traffic. */
  readonly stableErrorRate: number | null;
  /** The largest share of traffic the bad revision had, 0..1. */
  readonly trafficShare: number;
  /** Distinct sticky users who reached the bad revision, when the data plane knows. */
  readonly stickyUsersExposed: number | null;
  /** How long the bad revision had traffic (sum of the periods with weight > 0). */
  readonly exposureMs: number;
  /** First and last moment of exposure; null when the bad revision never had traffic. */
  readonly from: number | null;
  readonly to: number | null;
}

export type ActionBy = 'rewind' | 'user';

export interface IncidentAction {
  readonly at: number;
  /** "set weights v1=100 v2=0", "stopped revision 2", "notified webhook ops". */
  readonly action: string;
  readonly by: ActionBy;
  /** "ok", or what went wrong. */
  readonly result: string;
}

/** The check of the rolled-back-to revision after the rollback. */
export interface IncidentVerification {
  readonly at: number;
  readonly passed: boolean;
  readonly checks: readonly VerificationCheck[];
}

/** The watch of the restored revision after the rollback (the incident is Verifying meanwhile). */
export interface PostRollbackWatch {
  readonly revision: number;
  readonly startedAt: number;
  readonly until: number;
  readonly endedAt: number | null;
  /** Null while watching. Superseded: a newer rollout replaced the restored revision first. */
  readonly result: 'Passed' | 'Failed' | 'Superseded' | null;
  /** What failed (Failed) or replaced the revision (Superseded). */
  readonly reason?: string;
}

export interface RollbackTiming {
  readonly startedAt: number;
  /** When the stable revision had all the traffic again; null until then. */
  readonly trafficRestoredAt: number | null;
  /** When every step (processes, config, migrations) was undone; null until then. */
  readonly completedAt: number | null;
  /** completedAt - startedAt (or trafficRestoredAt - startedAt until completed); null before either. */
  readonly durationMs: number | null;
}

export interface Incident {
  readonly id: string;
  readonly app: string;
  readonly rolloutId: string | null;
  readonly severity: Severity;
  readonly status: IncidentStatus;
  readonly title: string;
  readonly openedAt: number;
  readonly resolvedAt: number | null;
  /** `to` is the bad revision; `from` the one rolled back to (null if there was none). */
  readonly revisions: { readonly from: RevisionRef | null; readonly to: RevisionRef };
  readonly trigger: IncidentTrigger;
  /** Oldest first. */
  readonly timeline: readonly TimelineEntry[];
  readonly impact: IncidentImpact;
  /** Oldest first. */
  readonly actions: readonly IncidentAction[];
  readonly verification: IncidentVerification | null;
  /** Set when the restored revision is watched after the rollback (verify.watch > 0). */
  readonly watch?: PostRollbackWatch;
  readonly rollback: RollbackTiming;
  /** Set when a kill switch disabled a flag instead of rolling the revision back. */
  readonly partialRollback?: PartialRollback;
  /** Database verification and migrations undone, when the app has a database. */
  readonly database?: unknown;
  /** Logs, metrics, diff and decision kept when the rollback ended (evidence.ts); absent before. */
  readonly evidence?: IncidentEvidence;
}

/**
 * A kill switch: the flag went off and the revision (`revisions.to`, also `from`) kept serving.
 * The rollback's trafficRestoredAt is the moment the flag was off.
 */
export interface PartialRollback {
  readonly flag: string;
  readonly flagSetVersionBefore: number;
  readonly flagSetVersionAfter: number;
  /**
   * Where the impact was counted from: the start of the kill-switch rule's breach (to the flag
   * being off, over the revision the rule judged). Absent when the flag went off by hand: nothing
   * marks when the feature began to fail, so the impact is not measured.
   */
  readonly measuredFrom?: number;
}

export const EMPTY_IMPACT: IncidentImpact = {
  requestsServed: 0,
  requestsFailed: 0,
  connectFailures: 0,
  errorRate: 0,
  stableErrorRate: null,
  trafficShare: 0,
  stickyUsersExposed: null,
  exposureMs: 0,
  from: null,
  to: null,
};

export type { VerificationCheck };
