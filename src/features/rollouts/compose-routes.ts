// The routing table an app should have, derived from persisted state and observed instances.
// Pure, so that a restarted controller computes the very table the agent still serves.

import type { Backend, RouteTable } from '../../providers/builtin/proxy/types.ts';
import type { Instance } from '../../providers/runtimes/types.ts';
import { type AppSpec, forceSecret } from '../apps/app-spec.ts';
import type { InstanceHealth } from '../health/health-monitor.ts';

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
  /** Revisions kept in the table at weight 0: reachable with the force header, switched to instantly. */
  readonly standby: readonly RevisionRef[];
}

export function composeRoutes(
  app: AppSpec,
  intent: TrafficIntent,
  instances: readonly Instance[],
  health: (instanceId: string) => InstanceHealth,
  version: number,
): RouteTable {
  const upstreamsOf = (unit: number) => {
    const running = instances.filter(
      (i) => i.app === app.name && i.revision === unit && i.phase === 'Running',
    );
    const healthy = running.filter((i) => health(i.id) !== 'Unhealthy');
    // Fail open: when every instance looks unhealthy, sending to them beats answering 503 from here.
    return (healthy.length ? healthy : running).map((i) => ({ host: '127.0.0.1', port: i.port }));
  };
  const backends: Backend[] = [];
  const add = (ref: RevisionRef, weight: number) => {
    if (backends.some((b) => b.revision === ref.revision)) return;
    backends.push({ revision: ref.revision, weight, upstreams: upstreamsOf(ref.unit) });
  };
  const nextWeight = intent.next ? Math.max(0, Math.min(100, intent.next.weight)) : 0;
  if (intent.next) add(intent.next.ref, nextWeight);
  if (intent.current) add(intent.current, 100 - nextWeight);
  for (const ref of intent.standby) add(ref, 0);
  // Order matters for nothing but readability: highest weight first.
  backends.sort((a, b) => b.weight - a.weight || b.revision - a.revision);
  return {
    app: app.name,
    listen: app.listen,
    version,
    backends,
    stickyHeader: app.routing.stickyHeader,
    stickyCookie: app.routing.stickyCookie,
    forceHeader: app.routing.forceHeader,
    timeouts: app.proxy.timeouts,
    maxConnections: app.proxy.maxConnections,
    trustedSources: app.routing.trustedSources,
    forceSecret: forceSecret(app),
    limits: app.proxy.limits,
  };
}
