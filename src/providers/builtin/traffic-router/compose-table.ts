// The built-in proxy's routing table for a traffic plan: each planned revision gets the addresses
// of its unit's running instances that its health source does not call unhealthy. Pure, so that a
// restarted controller computes the very table the agent still serves.

import type { AppSpec } from '../../../spec/app-spec.ts';
import type { InstanceHealth } from '../../health-source.ts';
import type { Instance } from '../../runtime.ts';
import type { TrafficPlan } from '../../traffic-router.ts';
import type { Backend, RouteTable } from '../proxy/types.ts';

export function composeTable(
  app: AppSpec,
  plan: TrafficPlan,
  instances: readonly Instance[],
  health: (instanceId: string) => InstanceHealth,
  version: number,
): RouteTable {
  const upstreamsOf = (unit: number) => {
    const running = instances.filter(
      (i) => i.app === plan.app && i.revision === unit && i.phase === 'Running',
    );
    const healthy = running.filter((i) => health(i.id) !== 'Unhealthy');
    // Fail open: when every instance looks unhealthy, sending to them beats answering 503 from here.
    return (healthy.length ? healthy : running).map((i) => i.address);
  };
  const backends: Backend[] = plan.revisions.map((r) => ({
    revision: r.revision,
    weight: r.weight,
    upstreams: upstreamsOf(r.unit),
  }));
  return {
    app: plan.app,
    listen: app.listen,
    version,
    backends,
    stickyHeader: plan.match.stickyHeader,
    stickyCookie: plan.match.stickyCookie,
    forceHeader: plan.match.forceHeader,
    timeouts: app.proxy.timeouts,
    maxConnections: app.proxy.maxConnections,
    trustedSources: app.routing.trustedSources,
    forceSecret: plan.match.forceSecret,
    limits: app.proxy.limits,
    maintenance: plan.maintenance,
  };
}
