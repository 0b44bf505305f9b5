// TrafficRouter: puts an app's traffic plan in force. A plan says how much of the traffic each
// revision gets and how requests are matched to a revision (sticky header or cookie, the force
// header); it names no upstreams: turning revisions into addresses is the router's business (the
// built-in one asks the runtime's instances and the health source; a Kubernetes one would select
// pods by a revision label). Registered by type in ./registry.ts; chosen with `traffic: { type }`.
//
// Contract:
// - apply() replaces the whole plan at once (never one revision at a time: zeroing the old one
//   before raising the new leaves a moment with nowhere to send) and is idempotent.
// - apply() is called on every reconcile tick, with the instances that tick observed: when nothing
//   it would put in force changed, it must answer without I/O (`changed: false`).
// - A rollback's switch awaits apply(): do the least work possible between the call and the
//   moment the new plan serves.
import type { Instance } from './runtime.ts';

/** One revision's share of the traffic. */
export interface PlannedRevision {
  readonly revision: number;
  /** Whose instances serve it (a rollback's copy is served by the revision it copies). */
  readonly unit: number;
  /** 0..100; the weights of a plan add up to 100, or all are 0 when nothing serves yet. 0: reachable only by the force header (warm standby, draining). */
  readonly weight: number;
}

/** How requests pick a revision besides the weights. */
export interface TrafficMatch {
  /** Header whose value is hashed to a revision, so that a user stays on one version. */
  readonly stickyHeader?: string | undefined;
  /** Cookie hashed the same way (when the header is absent). */
  readonly stickyCookie?: string | undefined;
  /** Header naming the revision a request must go to (testers, pre-promotion checks). */
  readonly forceHeader: string;
  /** With it, any client may force with "<revision>:<secret>". */
  readonly forceSecret?: string | undefined;
}

/**
 * Maintenance mode: every request is answered 503 with Retry-After and the page, whatever the
 * weights, except a request that forces a revision (testers, the rollout's checks), which still
 * reaches it. A router that cannot answer for the app must refuse the plan (reject apply()).
 */
export interface PlannedMaintenance {
  readonly retryAfterSeconds: number;
  /** The whole HTML page. */
  readonly page: string;
}

export interface TrafficPlan {
  readonly app: string;
  /** Highest weight first; a revision appears once. */
  readonly revisions: readonly PlannedRevision[];
  readonly match: TrafficMatch;
  /** Present while the app is in maintenance mode. */
  readonly maintenance?: PlannedMaintenance | undefined;
}

/** What putting a plan in force did. */
export interface TrafficApplied {
  /** Whether anything was put in force (false: the same plan on the same instances serves already). */
  readonly changed: boolean;
  /** When the plan was in force everywhere (epoch ms), or null when the router cannot tell or nothing changed. */
  readonly inForceAt: number | null;
}

/** What serves now, as far as the router can say. */
export interface TrafficInForce {
  readonly revisions: readonly {
    readonly revision: number;
    readonly weight: number;
    /** Instances receiving its traffic, or null when the router cannot tell. */
    readonly instances: number | null;
  }[];
}

export interface TrafficRouter {
  /** Puts the plan in force; `observed` is what the runtime listed on this tick (routers that resolve revisions themselves ignore it). */
  apply(plan: TrafficPlan, observed: readonly Instance[]): Promise<TrafficApplied>;
  /** What serves now, or undefined when nothing does. */
  current(app: string): Promise<TrafficInForce | undefined>;
  /** The next apply() puts its plan in force even if unchanged (the data plane restarted and may serve an older one). */
  resync(app: string): void;
  remove(app: string): Promise<void>;
  /** Requests in flight to a revision, to know when it has drained (0 when the router cannot tell). */
  inflight(app: string, revision: number): Promise<number>;
}
