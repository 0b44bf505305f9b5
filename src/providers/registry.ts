// Providers by type, picked per app from rewind.yaml (`runtime:`, `traffic:`, `metrics:`, `health:`). Adding
// one is adding a factory here (or registering it at start, as the tests do): nothing under
// features/rollouts/ knows which providers exist.

import { resolve } from 'node:path';
import type { Logger } from '../shared/logger.ts';
import type { AppSpec } from '../spec/app-spec.ts';
import type { AgentClient } from './builtin/agent/agent-client.ts';
import { HealthMonitor } from './builtin/health/health-monitor.ts';
import { BuiltinMetricsSource } from './builtin/metrics/builtin-metrics-source.ts';
import { ProcessRuntime } from './builtin/process-runtime/process-runtime.ts';
import { BuiltinTrafficRouter } from './builtin/traffic-router/builtin-traffic-router.ts';
import type { HealthSource } from './health-source.ts';
import type { KubeTarget } from './kubernetes/kube-api.ts';
import { ReadinessHealth } from './kubernetes/readiness-health.ts';
import type { MetricsSource } from './metrics-source.ts';
import { PrometheusMetricsSource, type PrometheusSpec } from './prometheus/prometheus-metrics-source.ts';
import { ScrapeTargetsWriter } from './prometheus/scrape-targets.ts';
import type { Runtime } from './runtime.ts';
import type { TrafficRouter } from './traffic-router.ts';

/** What a factory gets: one object, so that adding a field never changes a signature. */
export interface ProviderContext {
  readonly app: AppSpec;
  /** Directory of rewind.yaml. */
  readonly baseDir: string;
  readonly dataDir: string;
  readonly log: Logger;
  /**
   * The built-in agent's connection, shared by every app of the server: started (or adopted) on the
   * first call, so that a server whose apps use no built-in provider runs no agent.
   */
  readonly agent: () => Promise<AgentClient>;
}

export type RuntimeFactory = (ctx: ProviderContext) => Runtime | Promise<Runtime>;
export type HealthSourceFactory = (
  ctx: ProviderContext & { readonly runtime: Runtime },
) => HealthSource | Promise<HealthSource>;
export type TrafficRouterFactory = (
  ctx: ProviderContext & { readonly runtime: Runtime; readonly health: HealthSource },
) => TrafficRouter | Promise<TrafficRouter>;

export type MetricsSourceFactory = (
  ctx: ProviderContext & { readonly runtime: Runtime },
) => MetricsSource | Promise<MetricsSource>;

/** One app's providers, built once when the server starts. */
export interface AppProviders {
  readonly runtime: Runtime;
  readonly health: HealthSource;
  readonly traffic: TrafficRouter;
  readonly metrics: MetricsSource;
}

/**
 * One cluster connection per app, shared by its runtime and its router. The Kubernetes client is
 * loaded only by servers whose apps use it.
 */
const kubeTargets = new WeakMap<AppSpec, Promise<KubeTarget>>();
function kubeTargetOf({ app, baseDir }: ProviderContext): Promise<KubeTarget> {
  let target = kubeTargets.get(app);
  if (!target) {
    target = import('./kubernetes/kube-api.ts').then(({ kubeTarget }) =>
      kubeTarget({ kubeconfig: app.runtime.kubeconfig, namespace: app.runtime.namespace, baseDir }),
    );
    kubeTargets.set(app, target);
  }
  return target;
}

export const runtimes = new Map<string, RuntimeFactory>([
  ['process', async (ctx) => new ProcessRuntime(await ctx.agent())],
  [
    'kubernetes',
    async (ctx) => {
      const { KubernetesRuntime } = await import('./kubernetes/kubernetes-runtime.ts');
      const target = await kubeTargetOf(ctx);
      return KubernetesRuntime.create({ target, app: ctx.app.name, spec: ctx.app.runtime, log: ctx.log });
    },
  ],
]);

export const healthSources = new Map<string, HealthSourceFactory>([
  ['probe', ({ app }) => new HealthMonitor(app)],
  ['readiness', () => new ReadinessHealth()],
]);

export const trafficRouters = new Map<string, TrafficRouterFactory>([
  [
    'builtin',
    async (ctx) =>
      new BuiltinTrafficRouter({ agent: await ctx.agent(), app: ctx.app, health: ctx.health, log: ctx.log }),
  ],
  [
    'gatewayApi',
    async (ctx) => {
      const { GatewayApiRouter } = await import('./kubernetes/kube-traffic.ts');
      const target = await kubeTargetOf(ctx);
      return new GatewayApiRouter({ target, traffic: ctx.app.traffic, port: ctx.app.runtime.port });
    },
  ],
  [
    'service',
    async (ctx) => {
      const { ServiceRouter } = await import('./kubernetes/kube-traffic.ts');
      return new ServiceRouter({ target: await kubeTargetOf(ctx), port: ctx.app.runtime.port });
    },
  ],
]);

export const metricsSources = new Map<string, MetricsSourceFactory>([
  [
    'builtin',
    async (ctx) => {
      const agent = await ctx.agent();
      return new BuiltinMetricsSource((app, since) => agent.metrics(app, since));
    },
  ],
  // The schema filled in url and the rest for this type (src/spec/provider-spec.ts).
  [
    'prometheus',
    ({ app, baseDir, runtime, log }) => {
      const spec = app.metrics as PrometheusSpec;
      if (spec.targetsFile)
        new ScrapeTargetsWriter({
          file: resolve(baseDir, spec.targetsFile),
          app: app.name,
          list: () => runtime.list(app.name),
          log,
        }).start();
      return new PrometheusMetricsSource(spec);
    },
  ],
]);

/** The types each registry knows, for config checks (`loadConfigFile`) and error messages. */
export function providerTypes(): {
  runtime: readonly string[];
  health: readonly string[];
  traffic: readonly string[];
  metrics: readonly string[];
} {
  return {
    runtime: [...runtimes.keys()],
    health: [...healthSources.keys()],
    traffic: [...trafficRouters.keys()],
    metrics: [...metricsSources.keys()],
  };
}

/** Builds an app's providers: runtime first, then its health source, then the router that reads both. */
export async function createAppProviders(ctx: ProviderContext): Promise<AppProviders> {
  const { app } = ctx;
  const runtime = await pick(runtimes, 'runtime', app.runtime.type, app.name)(ctx);
  const health = await pick(healthSources, 'health', app.health.type, app.name)({ ...ctx, runtime });
  const traffic = await pick(
    trafficRouters,
    'traffic',
    app.traffic.type,
    app.name,
  )({ ...ctx, runtime, health });
  const metrics = await pick(metricsSources, 'metrics', app.metrics.type, app.name)({ ...ctx, runtime });
  return { runtime, health, traffic, metrics };
}

function pick<F>(registry: ReadonlyMap<string, F>, field: string, type: string, app: string): F {
  const factory = registry.get(type);
  if (!factory)
    throw new Error(
      `app ${app}: ${field}.type "${type}" is not a ${field} provider; the types are: ${[...registry.keys()].join(', ')}`,
    );
  return factory;
}
