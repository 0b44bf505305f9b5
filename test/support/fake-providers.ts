// In-memory providers for tests: a Runtime whose instances are records that are ready at once
// (unless a test says otherwise), a HealthSource that takes the runtime's readiness as its verdict,
// a TrafficRouter that keeps the plans it was given, and a MetricsSource that returns the samples
// a test put in. Registered under a type of their own, they show that a runtime and a router can
// be added without touching features/rollouts/; fakeAppProviders() hands a fresh set straight to
// Controller.register() in unit tests.

import type { HealthCheckResult, HealthSource, InstanceHealth } from '../../src/providers/health-source.ts';
import type { MetricsRead, MetricsSample, MetricsSource } from '../../src/providers/metrics-source.ts';
import {
  type AppProviders,
  healthSources,
  metricsSources,
  runtimes,
  trafficRouters,
} from '../../src/providers/registry.ts';
import type { Instance, InstanceSpec, LogLine, Runtime } from '../../src/providers/runtime.ts';
import type {
  TrafficApplied,
  TrafficInForce,
  TrafficPlan,
  TrafficRouter,
} from '../../src/providers/traffic-router.ts';

export class FakeRuntime implements Runtime {
  readonly #instances = new Map<string, Instance>();
  /** What was asked of it, in order: "start 1/0", "stop 2". */
  readonly calls: string[] = [];
  #nextPort = 40_000;
  /** Whether a new instance of a unit is ready at once (the default); a test makes a revision that never is. */
  readyAtStart: (spec: InstanceSpec) => boolean = () => true;

  async start(spec: InstanceSpec): Promise<Instance> {
    const id = `${spec.app}/${spec.revision}/${spec.index}`;
    const known = this.#instances.get(id);
    if (known) return known;
    this.calls.push(`start ${spec.revision}/${spec.index}`);
    const port = this.#nextPort++;
    const instance: Instance = {
      id,
      app: spec.app,
      revision: spec.revision,
      index: spec.index,
      phase: 'Running',
      pid: null,
      port,
      // Not a host of this machine: nothing may assume instances listen on 127.0.0.1.
      address: { host: `${spec.app}-${spec.revision}-${spec.index}.fake.invalid`, port },
      ready: this.readyAtStart(spec),
      restarts: 0,
      startedAt: Date.now(),
      lastExit: null,
      reason: null,
    };
    this.#instances.set(id, instance);
    return instance;
  }

  /** Changes an instance as a platform would report it (it turned unready, it failed). */
  set(id: string, change: Partial<Pick<Instance, 'ready' | 'phase' | 'reason' | 'restarts'>>): void {
    const known = this.#instances.get(id);
    if (!known) throw new Error(`no instance ${id}`);
    this.#instances.set(id, { ...known, ...change });
  }

  async stopRevision(app: string, revision: number): Promise<void> {
    this.calls.push(`stop ${revision}`);
    for (const [id, i] of this.#instances)
      if (i.app === app && i.revision === revision) this.#instances.delete(id);
  }

  async list(app?: string): Promise<Instance[]> {
    return [...this.#instances.values()].filter((i) => app === undefined || i.app === app);
  }

  /** The lines the instances printed, oldest first, as a test puts them (none by default). */
  readonly lines: LogLine[] = [];

  async logs(app: string, options: { revision?: number; tail?: number }): Promise<LogLine[]> {
    const mine = this.lines.filter(
      (l) =>
        l.instance.startsWith(`${app}/`) &&
        (options.revision === undefined || l.instance.startsWith(`${app}/${options.revision}/`)),
    );
    return mine.slice(Math.max(0, mine.length - (options.tail ?? 100)));
  }
}

/** Health as the runtime reports it (a platform's readiness), without probing anything. */
export class FakeHealth implements HealthSource {
  readonly #verdicts = new Map<string, InstanceHealth>();

  observe(instances: readonly Instance[]): void {
    this.#verdicts.clear();
    for (const i of instances)
      this.#verdicts.set(i.id, i.ready === undefined ? 'Unknown' : i.ready ? 'Healthy' : 'Unhealthy');
  }

  verdict(instanceId: string): InstanceHealth {
    return this.#verdicts.get(instanceId) ?? 'Unknown';
  }

  detail(instanceId: string): string {
    return this.#verdicts.get(instanceId) === 'Unhealthy' ? 'not ready' : '';
  }

  async check(instance: Instance): Promise<HealthCheckResult> {
    return instance.ready ? { ok: true, detail: 'ready' } : { ok: false, detail: 'not ready' };
  }
}

export class FakeTrafficRouter implements TrafficRouter {
  /** Every plan put in force, oldest first. */
  readonly applied: TrafficPlan[] = [];
  /** Requests in flight per revision, as a test sets them (none by default). */
  readonly inflightOf = new Map<number, number>();
  /** Called with each changed plan before it is put in force: a test looks at the world then. */
  beforeApply: ((plan: TrafficPlan) => Promise<void>) | null = null;
  #lastKey: string | null = null;

  async apply(plan: TrafficPlan, observed: readonly Instance[]): Promise<TrafficApplied> {
    const serving = observed.filter((i) => i.phase === 'Running').map((i) => i.id);
    const key = JSON.stringify([plan.revisions, serving, plan.maintenance ?? null]);
    if (key === this.#lastKey) return { changed: false, inForceAt: null };
    this.#lastKey = key;
    if (this.beforeApply) await this.beforeApply(plan);
    this.applied.push(plan);
    return { changed: true, inForceAt: Date.now() };
  }

  async current(): Promise<TrafficInForce | undefined> {
    const plan = this.applied.at(-1);
    return plan && { revisions: plan.revisions.map((r) => ({ ...r, instances: null })) };
  }

  resync(): void {
    this.#lastKey = null;
  }

  async remove(): Promise<void> {
    this.applied.length = 0;
  }

  async inflight(_app: string, revision: number): Promise<number> {
    return this.inflightOf.get(revision) ?? 0;
  }
}

/** Serves the samples a test pushes, from the second asked for; `failing` makes every read an Error, as a source that is down. */
export class FakeMetrics implements MetricsSource {
  readonly samples: MetricsSample[] = [];
  failing: string | null = null;

  async read(_app: string, sinceSecond: number): Promise<MetricsRead> {
    if (this.failing) return { phase: 'Error', error: this.failing, samples: [] };
    return { phase: 'Successful', samples: this.samples.filter((s) => s.second >= sinceSecond) };
  }
}

/** A fresh set of fakes for one app, to register with the controller directly. */
export function fakeAppProviders(): AppProviders & {
  readonly runtime: FakeRuntime;
  readonly health: FakeHealth;
  readonly traffic: FakeTrafficRouter;
  readonly metrics: FakeMetrics;
} {
  const runtime = new FakeRuntime();
  return { runtime, health: new FakeHealth(), traffic: new FakeTrafficRouter(), metrics: new FakeMetrics() };
}

export interface FakeProviders {
  readonly runtime: FakeRuntime;
  readonly health: FakeHealth;
  readonly traffic: FakeTrafficRouter;
  readonly metrics: FakeMetrics;
  /** Takes the type out of the registries again. */
  readonly unregister: () => void;
}

/** Registers the fakes under `type` in the four registries; one set serves every app. */
export function registerFakeProviders(type = 'fake'): FakeProviders {
  const runtime = new FakeRuntime();
  const health = new FakeHealth();
  const traffic = new FakeTrafficRouter();
  const metrics = new FakeMetrics();
  runtimes.set(type, () => runtime);
  metricsSources.set(type, () => metrics);
  healthSources.set(type, () => health);
  trafficRouters.set(type, () => traffic);
  return {
    runtime,
    health,
    traffic,
    metrics,
    unregister: () => {
      metricsSources.delete(type);
      runtimes.delete(type);
      healthSources.delete(type);
      trafficRouters.delete(type);
    },
  };
}
