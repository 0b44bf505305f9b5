// The traffic plan an app should have, derived from persisted state: weights per revision and the
// app's match settings. Pure, so that a restarted controller computes the very plan in force.
// Which instances serve each revision is the traffic router's business (src/providers/).

import type { PlannedRevision, TrafficPlan } from '../../providers/traffic-router.ts';
import { type AppSpec, forceSecret } from '../../spec/app-spec.ts';

export interface RevisionRef {
  readonly revision: number;
  /** Whose processes serve it (see RevisionSpec.unit). */
  readonly unit: number;
}

export interface TrafficIntent {
  /** Revision taking the traffic not given to `next`. */
  readonly current: RevisionRef | null;
  /** The revision being rolled out, with its share. */
  readonly next: { readonly ref: RevisionRef; readonly weight: number } | null;
  /** Revisions kept in the plan at weight 0: reachable with the force header, switched to instantly. */
  readonly standby: readonly RevisionRef[];
}

export function planTraffic(app: AppSpec, intent: TrafficIntent): TrafficPlan {
  const revisions: PlannedRevision[] = [];
  const add = (ref: RevisionRef, weight: number) => {
    if (revisions.some((r) => r.revision === ref.revision)) return;
    revisions.push({ revision: ref.revision, unit: ref.unit, weight });
  };
  const nextWeight = intent.next ? Math.max(0, Math.min(100, intent.next.weight)) : 0;
  if (intent.next) add(intent.next.ref, nextWeight);
  if (intent.current) add(intent.current, 100 - nextWeight);
  for (const ref of intent.standby) add(ref, 0);
  // Order matters for nothing but readability: highest weight first.
  revisions.sort((a, b) => b.weight - a.weight || b.revision - a.revision);
  return {
    app: app.name,
    revisions,
    match: {
      stickyHeader: app.routing.stickyHeader,
      stickyCookie: app.routing.stickyCookie,
      forceHeader: app.routing.forceHeader,
      forceSecret: forceSecret(app),
    },
  };
}
