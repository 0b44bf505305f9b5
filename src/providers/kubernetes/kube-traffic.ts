// Traffic on Kubernetes.
//
// `traffic: gatewayApi`: one Service per revision (<app>-<revision>, selecting the revision's pods
// by label) and one HTTPRoute (<app>) attached to the Gateway rewind.yaml names. Its last rule
// sends to every revision of the plan with the plan's weights; one rule per revision before it
// matches the force header (`x-rewind-revision: N`). A plan is one JSON merge patch of the route's
// spec, so every weight changes at once; a rollback's switch is that one request. Sticky sessions:
// the Gateway API's sessionPersistence (GEP-1619) is experimental and implementation-specific, so
// the plan's sticky header or cookie is not put on the route (docs/kubernetes.md).
//
// `traffic: service`: blue-green without a gateway: one Service (<app>) whose selector names the
// revision with the most weight; a switch is one patch of its selector.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { TrafficSpec } from '../../spec/provider-spec.ts';
import type { Instance } from '../runtime.ts';
import type { TrafficApplied, TrafficInForce, TrafficPlan, TrafficRouter } from '../traffic-router.ts';
import { bounded, createOrPatch, type KubeTarget, LABEL_APP, LABEL_REVISION, statusOf } from './kube-api.ts';
import { DEFAULT_CONTAINER_PORT } from './kubernetes-runtime.ts';

/** The port the Services listen on. */
export const SERVICE_PORT = 80;

export function revisionService(options: {
  app: string;
  namespace: string;
  unit: number;
  targetPort: number;
}) {
  const { app, unit } = options;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: `${app}-${unit}`,
      namespace: options.namespace,
      labels: { [LABEL_APP]: app, [LABEL_REVISION]: String(unit) },
    },
    spec: {
      selector: { [LABEL_APP]: app, [LABEL_REVISION]: String(unit) },
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort: options.targetPort }],
    },
  };
}

export interface BackendRef {
  readonly name: string;
  readonly port: number;
  readonly weight: number;
}

/** The HTTPRoute's spec for a plan: force-header rules first, then the weighted rule. */
export function httpRouteSpec(plan: TrafficPlan, traffic: TrafficSpec): Record<string, unknown> {
  const gateway = traffic.gateway!;
  const ref = (unit: number, weight: number): BackendRef => ({
    name: `${plan.app}-${unit}`,
    port: SERVICE_PORT,
    weight,
  });
  const forced = plan.revisions.map((r) => ({
    matches: [
      {
        path: { type: 'PathPrefix', value: '/' },
        headers: [{ type: 'Exact', name: plan.match.forceHeader, value: String(r.revision) }],
      },
    ],
    backendRefs: [ref(r.unit, 1)],
  }));
  // All weights 0 (nothing serves yet): the route has no weighted backend, so it answers 500.
  const weighted = plan.revisions.filter((r) => r.weight > 0).map((r) => ref(r.unit, r.weight));
  return {
    parentRefs: [
      {
        name: gateway.name,
        ...(gateway.namespace && { namespace: gateway.namespace }),
        ...(gateway.sectionName && { sectionName: gateway.sectionName }),
      },
    ],
    ...(traffic.route?.hostnames && { hostnames: traffic.route.hostnames }),
    rules: [...forced, { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: weighted }],
  };
}

export class GatewayApiRouter implements TrafficRouter {
  readonly #target: KubeTarget;
  readonly #traffic: TrafficSpec;
  readonly #port: number;
  readonly #services = new Set<number>();
  readonly #applied = new Map<string, { key: string; plan: TrafficPlan }>();

  constructor(options: { target: KubeTarget; traffic: TrafficSpec; port?: number | undefined }) {
    this.#target = options.target;
    this.#traffic = options.traffic;
    this.#port = options.port ?? DEFAULT_CONTAINER_PORT;
  }

  routeName(app: string): string {
    return this.#traffic.route?.name ?? app;
  }

  #route(app: string): KubernetesObject {
    return {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: {
        name: this.routeName(app),
        namespace: this.#target.namespace,
        labels: { [LABEL_APP]: app },
      },
    };
  }

  async apply(plan: TrafficPlan, _observed: readonly Instance[]): Promise<TrafficApplied> {
    if (plan.maintenance)
      throw new Error(
        'traffic gatewayApi cannot answer with a maintenance page (the Gateway serves the route); use maintenance with the built-in proxy, or a page at the Gateway',
      );
    // The route depends on the revisions, their weights and the force header alone (the rest is
    // rewind.yaml's): an unchanged tick compares one short string and builds nothing.
    let key = plan.match.forceHeader;
    for (const r of plan.revisions) key += ` ${r.revision}:${r.unit}:${r.weight}`;
    if (this.#applied.get(plan.app)?.key === key) return { changed: false, inForceAt: null };
    const spec = httpRouteSpec(plan, this.#traffic);
    // The Services first: a weight never points at a Service that does not exist yet.
    for (const r of plan.revisions) {
      if (this.#services.has(r.unit)) continue;
      const svc = revisionService({
        app: plan.app,
        namespace: this.#target.namespace,
        unit: r.unit,
        targetPort: this.#port,
      });
      await createOrPatch(this.#target.objects, svc, { spec: svc.spec });
      this.#services.add(r.unit);
    }
    // One request: the whole spec, every weight at once.
    await createOrPatch(this.#target.objects, { ...this.#route(plan.app), spec } as KubernetesObject, {
      spec,
    });
    this.#applied.set(plan.app, { key, plan });
    return { changed: true, inForceAt: Date.now() };
  }

  async current(app: string): Promise<TrafficInForce | undefined> {
    const plan = this.#applied.get(app)?.plan;
    if (!plan) return undefined;
    return {
      revisions: plan.revisions.map((r) => ({ revision: r.revision, weight: r.weight, instances: null })),
    };
  }

  resync(app: string): void {
    this.#applied.delete(app);
    this.#services.clear();
  }

  async remove(app: string): Promise<void> {
    try {
      await bounded(`delete HTTPRoute ${this.routeName(app)}`, this.#target.objects.delete(this.#route(app)));
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    this.#applied.delete(app);
  }

  async inflight(): Promise<number> {
    // The Gateway's data plane does not say; the drain timeout decides.
    return 0;
  }
}

export class ServiceRouter implements TrafficRouter {
  readonly #target: KubeTarget;
  readonly #port: number;
  readonly #applied = new Map<string, { unit: number; plan: TrafficPlan }>();

  constructor(options: { target: KubeTarget; port?: number | undefined }) {
    this.#target = options.target;
    this.#port = options.port ?? DEFAULT_CONTAINER_PORT;
  }

  async apply(plan: TrafficPlan): Promise<TrafficApplied> {
    if (plan.maintenance)
      throw new Error(
        'traffic service cannot answer with a maintenance page; use the built-in proxy for maintenance mode',
      );
    const serving = plan.revisions[0];
    if (!serving || serving.weight === 0) return { changed: false, inForceAt: null };
    if (this.#applied.get(plan.app)?.unit === serving.unit) {
      this.#applied.set(plan.app, { unit: serving.unit, plan });
      return { changed: false, inForceAt: null };
    }
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: plan.app, namespace: this.#target.namespace, labels: { [LABEL_APP]: plan.app } },
      spec: {
        selector: { [LABEL_APP]: plan.app, [LABEL_REVISION]: String(serving.unit) },
        ports: [{ name: 'http', port: SERVICE_PORT, targetPort: this.#port }],
      },
    };
    await createOrPatch(this.#target.objects, svc, { spec: { selector: svc.spec.selector } });
    this.#applied.set(plan.app, { unit: serving.unit, plan });
    return { changed: true, inForceAt: Date.now() };
  }

  async current(app: string): Promise<TrafficInForce | undefined> {
    const a = this.#applied.get(app);
    if (!a) return undefined;
    return {
      revisions: a.plan.revisions.map((r) => ({
        revision: r.revision,
        weight: r.unit === a.unit ? 100 : 0,
        instances: null,
      })),
    };
  }

  resync(app: string): void {
    this.#applied.delete(app);
  }

  async remove(app: string): Promise<void> {
    try {
      await bounded(
        `delete Service ${app}`,
        this.#target.objects.delete({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: app, namespace: this.#target.namespace },
        }),
      );
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    this.#applied.delete(app);
  }

  async inflight(): Promise<number> {
    return 0;
  }
}
