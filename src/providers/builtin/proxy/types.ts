// The data plane's contract with the rest of Rewind. The proxy holds no control logic: the
// controller (through the agent) hands it whole routing tables, and reads back its counters.

import type { HeadLimits, ProxyTimeouts } from '../../../spec/proxy-spec.ts';

export {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_TIMEOUTS,
  LATENCY_BOUNDS_MS,
  type ProxyTimeouts,
} from '../../../spec/proxy-spec.ts';

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/** One revision's share of an app's traffic. */
export interface Backend {
  readonly revision: number;
  /** Relative weight, 0..100. 0 means: no new unpinned traffic (draining or warm standby). */
  readonly weight: number;
  /** Ready instances. A backend with none gets no traffic whatever its weight. */
  readonly upstreams: readonly Upstream[];
}

/**
 * The complete routing state of one app. setRoutes replaces the previous table in one step on
 * every worker: a request is routed by the old table or the new one, never by a mix, and there is
 * never a moment with no upstream when both tables have one.
 */
export interface RouteTable {
  readonly app: string;
  readonly listen: Upstream;
  /** Bumped by the controller on every change; lets it confirm which table serves. */
  readonly version: number;
  readonly backends: readonly Backend[];
  /** Header whose value is hashed to a revision so that a user stays on one version. */
  readonly stickyHeader?: string | undefined;
  /** Cookie whose value is hashed the same way (used when the header is absent). */
  readonly stickyCookie?: string | undefined;
  /** Header naming a revision number that the request must go to (for testers). Always stripped. */
  readonly forceHeader: string;
  /** The app's proxy timeouts (DEFAULT_TIMEOUTS when absent). */
  readonly timeouts?: ProxyTimeouts | undefined;
  /** Client connections per worker thread (DEFAULT_MAX_CONNECTIONS when absent). */
  readonly maxConnections?: number | undefined;
  /** CIDRs whose clients may use the force header (default: loopback, 127.0.0.0/8 and ::1). */
  readonly trustedSources?: readonly string[] | undefined;
  /** With it, any client may force with "<revision>:<secret>" as the header's value. */
  readonly forceSecret?: string | undefined;
  /** Request head limits (default DEFAULT_LIMITS in http-head.ts). */
  readonly limits?: HeadLimits | undefined;
  /**
   * Maintenance mode: every request gets 503, Retry-After and this HTML page instead of a backend,
   * except one that may force a revision with forceHeader.
   */
  readonly maintenance?: { readonly retryAfterSeconds: number; readonly page: string } | undefined;
}

/** Counters of one revision over one one-second bucket (or a sum of buckets). */
export interface RevisionCounters {
  readonly revision: number;
  readonly requests: number;
  /** Responses with status 500-599, including 502/504 written by the proxy itself. */
  readonly errors5xx: number;
  /** Upstream connections that failed before any byte was sent (retried elsewhere when possible). */
  readonly connectFailures: number;
  /** Latency histogram: counts per bucket, bounds in LATENCY_BOUNDS_MS (last bucket: above the last bound). */
  readonly latency: readonly number[];
}

export interface MetricsBucket {
  /** Unix time in whole seconds at the start of the bucket. */
  readonly second: number;
  readonly revisions: readonly RevisionCounters[];
}

/** What putting a table in force did. */
export interface AppliedTable {
  /** When the last proxy worker had the table in force (epoch ms, sub-ms precision). */
  readonly inForceAt: number;
}

export interface DataPlane {
  /** Install or replace an app's table; resolves when every worker serves it. Opens the listener if new. */
  setRoutes(table: RouteTable): Promise<AppliedTable>;
  /** The table in force for an app, or undefined. */
  routes(app: string): RouteTable | undefined;
  /** Close an app's listener after in-flight requests end. */
  removeApp(app: string): Promise<void>;
  /** One-second buckets of an app, oldest first, from `sinceSecond` (inclusive) to the last complete one. */
  metrics(app: string, sinceSecond: number): MetricsBucket[];
  /** Requests in flight to a revision right now (to know when draining is done). */
  inflight(app: string, revision: number): number;
  /** Whether its workers are up (a dead one is being replaced), for the health endpoints. */
  health?(): DataPlaneHealth;
  close(): Promise<void>;
}

export interface DataPlaneHealth {
  /** Workers it should have. */
  readonly workers: number;
  /** Workers serving now. */
  readonly up: number;
  /** Workers replaced since it started. */
  readonly restarts: number;
  /** The last worker death. */
  readonly lastExit: { readonly at: number; readonly reason: string } | null;
}
