// TrafficRouter: puts an app's routing table in force. apply() replaces the whole table at once
// (never one backend at a time: zeroing the old one before raising the new leaves a gap) and is
// idempotent. verify() reads back which table serves.
import type { RouteTable } from '../builtin/proxy/types.ts';

/** What putting a table in force did. */
export interface TrafficApplied {
  /** When the table was in force everywhere (epoch ms), or null when the router cannot tell. */
  readonly inForceAt: number | null;
}

export interface TrafficRouter {
  apply(table: RouteTable): Promise<TrafficApplied>;
  current(app: string): Promise<RouteTable | undefined>;
  remove(app: string): Promise<void>;
  /** Requests in flight to a revision, to know when it has drained. */
  inflight(app: string, revision: number): Promise<number>;
}
