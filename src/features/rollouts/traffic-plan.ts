// The traffic plan an app should have, derived from persisted state: weights per revision and the
// app's match settings. Derived from the store alone (planTraffic itself is pure), so that a
// restarted controller computes the very plan in force. Which instances serve each revision is the
// traffic router's business (src/providers/): the built-in one turns the plan into a table.

import type { Instance } from '../../providers/runtime.ts';
import type { PlannedRevision, TrafficPlan } from '../../providers/traffic-router.ts';
import { type AppSpec, forceSecret, rolloutSettings } from '../../spec/app-spec.ts';
import type { MaintenanceState } from '../../spec/maintenance.ts';
import type { RolloutRecord, Store } from '../../store/types.ts';
import { unitOf } from '../revisions/revision-spec.ts';
import type { AppContext, ManagedApp } from './app-context.ts';
import { plannedMaintenance } from './maintenance-page.ts';

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
  /** Maintenance mode, while it is on: every request not forced to a revision gets 503 and the page. */
  readonly maintenance?: MaintenanceState | null;
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
    maintenance: plannedMaintenance(app.name, intent.maintenance ?? null),
  };
}

/**
 * What the app should serve: the active rollout's two revisions at its weight, or the stable one;
 * the revision the last completed deploy replaced stays warm at weight 0 for keepPreviousWarm.
 * `keep` holds the units whose processes are needed (the others retire). `recent`: the app's
 * latest rollouts, when the caller has read them already.
 */
export async function trafficIntent(
  store: Store,
  ctx: AppContext,
  active: RolloutRecord | null,
  recent?: readonly RolloutRecord[],
): Promise<{ intent: TrafficIntent; keep: Set<number> }> {
  const app = ctx.spec.name;
  const ref = async (n: number | null): Promise<RevisionRef | null> => {
    if (n === null) return null;
    const rev = await store.revisions.get(app, n);
    return rev ? { revision: n, unit: unitOf(rev) } : null;
  };
  const record = await store.apps.get(app);
  const stable = await ref(record?.stableRevision ?? null);
  const maintenance = record?.maintenance ?? null;
  const standby: RevisionRef[] = [];
  const keep = new Set<number>();
  let intent: TrafficIntent;
  if (active) {
    const state = active.state;
    const from = await ref(active.fromRevision);
    const to = await ref(active.toRevision);
    intent = { current: from, next: to ? { ref: to, weight: state.weight } : null, standby, maintenance };
    if (to) keep.add(to.unit);
    if (from) keep.add(from.unit);
  } else {
    intent = { current: stable, next: null, standby, maintenance };
  }
  if (stable) keep.add(stable.unit);
  // The revision replaced by the last completed deploy stays warm for keepPreviousWarm.
  const last = (recent ?? (await store.rollouts.list(app, 5))).find((r) => r.phase === 'Completed');
  if (
    last?.kind === 'deploy' &&
    last.fromRevision !== null &&
    (last.finishedAt ?? 0) + rolloutSettings(ctx.spec).keepPreviousWarm > Date.now()
  ) {
    const prev = await ref(last.fromRevision);
    if (prev && !keep.has(prev.unit)) {
      standby.push(prev);
      keep.add(prev.unit);
    }
  }
  return { intent, keep };
}

/** What a tick observed while putting the plan in force: the units to keep and the instances seen. */
export interface RoutesObserved {
  readonly keep: Set<number>;
  readonly instances: Instance[];
  /** When the router put a changed plan in force (absent: nothing changed). */
  readonly inForceAt?: number | null;
}

/**
 * Hands the derived plan to the app's traffic router, which puts it in force if it (or the
 * instances serving it) changed; returns what it observed, for the retirement.
 */
export async function applyRoutes(
  store: Store,
  ctx: ManagedApp,
  active: RolloutRecord | null,
  instances: Instance[],
  recent?: readonly RolloutRecord[],
): Promise<RoutesObserved> {
  const { intent, keep } = await trafficIntent(store, ctx, active, recent);
  const plan = planTraffic(ctx.spec, intent);
  const { changed, inForceAt } = await ctx.providers.traffic.apply(plan, instances);
  if (changed || ctx.lastTableKey === null) ctx.lastTableKey = JSON.stringify(plan.revisions);
  return changed ? { keep, instances, inForceAt } : { keep, instances };
}
