// The controller: the reconcile loop and the commands on it, as the server uses them. On every
// tick, per app: observe instances, probe health, drive the active rollout one idempotent step at
// a time (journalling each transition before acting on it), put the derived traffic plan in force,
// and retire processes nothing needs any more. The parts, each in its file:
//   scheduler.ts      the tick loop, one reconcile or command of an app at a time, the backoff
//   reconcile.ts      one tick of one app
//   commands.ts       deploy, config change, rollback, promote, pause, resume, abort
//   rollback.ts       starting a rollback (the switch bench/switch.ts measures)
//   start-rollout.ts  a rollout's first journal entry and its announcement
//   traffic-plan.ts   the plan an app should have, from the store; put in force by its router
//   retirement.ts     draining and stopping what nothing needs
//   keep-running.ts   starting again what should run (after an agent restart)
//   maintenance.ts    maintenance mode, by hand and around a cold rollback (maintenance: auto)
//   watch-views.ts    the post-deploy and steady-state watches, for `rewind status`
// Revisions themselves are made in features/revisions (new-revision.ts, instance-env.ts).

import type { AppProviders } from '../../providers/registry.ts';
import type { Instance } from '../../providers/runtime.ts';
import { RewindError } from '../../shared/errors.ts';
import type { AppSpec } from '../../spec/app-spec.ts';
import type { RevisionRecord, RolloutRecord } from '../../store/types.ts';
import { pullKillSwitch, switchFlag } from '../flags/kill-switch.ts';
import { instanceEnv, instanceSecrets } from '../revisions/instance-env.ts';
import type { AppContext, ManagedApp } from './app-context.ts';
import * as commands from './commands.ts';
import type { ControllerCore, ControllerDeps } from './controller-core.ts';
import { upInstances } from './keep-running.ts';
import {
  type MaintenanceChange,
  type MaintenanceInput,
  maintenanceAfterRollback,
  setMaintenance,
} from './maintenance.ts';
import { reconcile } from './reconcile.ts';
import { RolloutDriver } from './rollout-driver.ts';
import { RolloutReporter } from './rollout-reporter.ts';
import { RolloutWatch } from './rollout-watch.ts';
import { Scheduler } from './scheduler.ts';
import { applyRoutes } from './traffic-plan.ts';
import {
  type AnalysisView,
  analysisStatus,
  type SteadyWatchView,
  steadyWatchStatus,
  type WatchView,
  watchStatus,
} from './watch-views.ts';

export { checkVersion } from '../revisions/new-revision.ts';
export type { ControllerDeps } from './controller-core.ts';
export type { SteadyWatchView, WatchView } from './watch-views.ts';

export class Controller {
  readonly #apps = new Map<string, ManagedApp>();
  readonly #core: ControllerCore;

  constructor(deps: ControllerDeps) {
    const envOf = (app: string, spec: Parameters<typeof instanceEnv>[1]) => instanceEnv(app, spec, deps);
    const watch = new RolloutWatch(deps.metrics, { series: deps.store.analysis, log: deps.log });
    const reporter = new RolloutReporter({
      store: deps.store,
      incidents: deps.incidents,
      notify: deps.notify,
      metrics: deps.metrics,
      log: deps.log,
      runtimeOf: (app) => this.#apps.get(app)?.providers.runtime,
      secretsOf: (app, spec) => instanceSecrets(app, spec, deps),
    });
    const driver = new RolloutDriver({
      store: deps.store,
      log: deps.log,
      applyRoutes: async (ctx, rollout) => {
        await applyRoutes(deps.store, ctx, rollout, await ctx.providers.runtime.list(ctx.spec.name));
      },
      reporter,
      metrics: deps.metrics,
      watch,
      envOf: (ctx, spec) => envOf(ctx.spec.name, spec),
      database: deps.database,
      endMaintenance: (ctx, rollout, verdict) =>
        this.#core.scheduler.exclusive(ctx.spec.name, () =>
          maintenanceAfterRollback(this.#core, ctx, rollout, verdict),
        ),
      killSwitch: deps.flags
        ? async ({ drill, ...input }) => {
            // A drill's rollout rehearses: the flag goes off like in earnest, with no incident.
            if (drill) {
              await switchFlag(deps.flags!, { ...input, state: 'DISABLED', author: 'rewind' });
              return null;
            }
            return (
              await pullKillSwitch(
                { flags: deps.flags!, incidents: deps.incidents, store: deps.store, metrics: deps.metrics },
                { ...input, by: 'rewind', author: 'rewind' },
              )
            ).id;
          }
        : undefined,
    });
    const scheduler = new Scheduler({
      log: deps.log,
      tickMs: deps.tickMs,
      apps: () => this.#apps.keys(),
      reconcile: (app) => reconcile(this.#core, this.context(app)),
    });
    this.#core = { deps, driver, reporter, watch, scheduler, context: (app) => this.context(app), envOf };
  }

  /**
   * Register an app of rewind.yaml with the providers built for it (src/providers/registry.ts);
   * the first tick deploys its initial version if it has none.
   */
  async register(spec: AppSpec, baseDir: string, providers: AppProviders): Promise<void> {
    await this.#core.deps.store.apps.upsert(spec.name, spec);
    this.#apps.set(spec.name, { spec, baseDir, providers, lastTableKey: null, retiring: new Map() });
  }

  appNames(): string[] {
    return [...this.#apps.keys()];
  }

  context(app: string): ManagedApp {
    const ctx = this.#apps.get(app);
    if (!ctx) {
      throw new RewindError(
        'APP_NOT_FOUND',
        `no app named "${app}"; known apps: ${this.appNames().join(', ') || 'none'}`,
        {
          app,
        },
      );
    }
    return ctx;
  }

  // The loop.

  start(): void {
    this.#core.scheduler.start();
  }

  stop(): Promise<void> {
    return this.#core.scheduler.stop();
  }

  /** Reconcile an app now. Ticks and commands of one app run one at a time; a queued tick is shared. */
  kick(app: string): Promise<void> {
    return this.#core.scheduler.kick(app);
  }

  /**
   * The data plane came back after a loss (a new agent): re-apply every app's table on the next
   * tick, even if unchanged (the new agent restored its own last table, which may lag ours),
   * start again what the agent took down with it and is still needed, and reconcile now rather
   * than when the backoff says.
   */
  async dataPlaneRestarted(): Promise<void> {
    for (const [app, ctx] of this.#apps) {
      ctx.lastTableKey = null;
      ctx.providers.traffic.resync(app);
      // Taken when the loss was seen (a tick against the new agent may have observed it empty since).
      ctx.lostWithAgent ??= upInstances(ctx.observed?.instances);
      this.#core.scheduler.resetBackoff(app);
    }
    await Promise.all([...this.#apps.keys()].map((app) => this.kick(app)));
  }

  /**
   * The data plane died: what the last tick before the loss saw up died with it. Ticks fail until
   * a new agent answers, so this is the last observation of the old one.
   */
  /**
   * This controller now leads in place of another (several controllers on one store): the next
   * tick of each app starts whatever its rollouts need that the runtime here does not run.
   */
  tookOver(): void {
    for (const ctx of this.#apps.values()) ctx.restoreKept = true;
  }

  dataPlaneLost(): void {
    for (const ctx of this.#apps.values()) ctx.lostWithAgent ??= upInstances(ctx.observed?.instances);
  }

  /** Apps whose route table this controller has not put in force yet (since it started, or since the data plane restarted). */
  appsWithoutRoutes(): string[] {
    return [...this.#apps].filter(([, ctx]) => ctx.lastTableKey === null).map(([app]) => app);
  }

  // The commands (commands.ts).

  /**
   * Runs `fn` (a manual database operation) while no rollout of the app is in progress, serialised
   * with the reconcile loop so that a deploy cannot start under it. `downtime`: why it may take the
   * app down (under `maintenance: auto`, the app is in maintenance mode meanwhile).
   */
  whileIdle<T>(
    app: string,
    fn: (ctx: AppContext, stable: RevisionRecord | undefined) => Promise<T>,
    downtime?: string,
  ): Promise<T> {
    return commands.whileIdle(this.#core, app, fn, downtime);
  }

  /** `rewind maintenance on|off`: answers once the proxy serves the change. */
  maintenance(app: string, input: MaintenanceInput): Promise<MaintenanceChange> {
    return setMaintenance(this.#core, app, input);
  }

  deploy(app: string, input: commands.DeployInput): Promise<RolloutRecord> {
    return commands.deploy(this.#core, app, input);
  }

  /** `rewind config set` and `rewind secrets set`: a revision like the stable one but for those keys. */
  changeConfig(app: string, input: Parameters<typeof commands.changeConfig>[2]): Promise<RolloutRecord> {
    return commands.changeConfig(this.#core, app, input);
  }

  /** Put an earlier revision back (aborts a deploy in progress instead). */
  rollback(app: string, input: Parameters<typeof commands.rollback>[2]): Promise<RolloutRecord> {
    return commands.rollback(this.#core, app, input);
  }

  promote(app: string, full: boolean): Promise<RolloutRecord> {
    return commands.promote(this.#core, app, full);
  }

  pause(app: string, reason?: string): Promise<RolloutRecord> {
    return commands.pause(this.#core, app, reason);
  }

  resume(app: string): Promise<RolloutRecord> {
    return commands.resume(this.#core, app);
  }

  abort(app: string, reason?: string, actor?: string): Promise<RolloutRecord> {
    return commands.abort(this.#core, app, reason, actor);
  }

  // What it sees.

  /** What the post-deploy watch of the app has found so far, for `rewind status`. */
  watchStatus(app: string): Promise<WatchView | null> {
    return watchStatus(this.#core, app);
  }

  /** What the analysis of the active rollout found at its last evaluation (null with no rollout). */
  analysisStatus(active: RolloutRecord | null): AnalysisView | null {
    return analysisStatus(this.#core, active);
  }

  /** The steady-state watch of the app's stable revision (null while a rollout or the post-deploy watch runs). */
  steadyWatchStatus(app: string): Promise<SteadyWatchView | null> {
    return steadyWatchStatus(this.#core, app);
  }

  async instances(app: string): Promise<(Instance & { health: string })[]> {
    const { runtime, health } = this.context(app).providers;
    const list = await runtime.list(app);
    return list.map((i) => ({ ...i, health: health.verdict(i.id) }));
  }
}
