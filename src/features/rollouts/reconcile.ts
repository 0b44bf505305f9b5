// One reconcile tick of one app: observe its instances and their health, drive the active rollout
// (or watch the stable revision and roll back if the analysis says so), put the derived plan in
// force, start what should run and retire what nothing needs.
import { RewindError } from '../../shared/errors.ts';
import type { RolloutRecord } from '../../store/types.ts';
import type { Severity } from '../analysis/index.ts';
import type { IncidentTrigger } from '../incidents/incident.ts';
import type { ManagedApp } from './app-context.ts';
import { deploy } from './commands.ts';
import type { ControllerCore } from './controller-core.ts';
import { ensureStableRunning, restoreLost } from './keep-running.ts';
import { endOrphanedMaintenance } from './maintenance.ts';
import { retire } from './retirement.ts';
import { startRollback } from './rollback.ts';
import type { RolloutState } from './rollout-state.ts';
import { applyRoutes } from './traffic-plan.ts';
import { watching } from './watch-views.ts';

export async function reconcile(core: ControllerCore, ctx: ManagedApp): Promise<void> {
  const { store } = core.deps;
  const { driver } = core;
  const { runtime, health } = ctx.providers;
  const app = ctx.spec.name;
  let active = await store.rollouts.active(app);
  const record = await store.apps.get(app);
  if (!active && record?.stableRevision == null && (await store.rollouts.list(app, 1)).length === 0) {
    // First sight of this app: deploy its initial version. Once: if that fails, the app waits for
    // a `rewind deploy` instead of trying again every tick.
    await deploy(core, app, { version: ctx.spec.initialVersion, reason: 'initial deploy' }).catch((err) => {
      if (!(err instanceof RewindError && err.code === 'ROLLOUT_IN_PROGRESS')) throw err;
    });
    active = await store.rollouts.active(app);
  }
  const observe = async () => {
    const instances = await runtime.list(app);
    health.observe(instances);
    ctx.observed = { at: Date.now(), instances };
    return instances;
  };
  let instances = await observe();
  let after: RolloutRecord | null = null;
  if (active) {
    await driver.drive(ctx, active, observe);
    // The driver changed the world: look again. (With no rollout nothing else ran in between:
    // commands and ticks of one app run one at a time.)
    instances = await runtime.list(app);
    after = (await store.rollouts.active(app)) ?? null;
  }
  // One read of the recent rollouts serves the watch and the table (an idle tick's cost).
  let recent: readonly RolloutRecord[] | undefined;
  if (!active || !after) {
    recent = await store.rollouts.list(app, 5);
    const watched = await watching(core, app, recent);
    let rolledBack = false;
    const rollBack =
      (toRevision: number | undefined, drill?: RolloutState['drill']) =>
      async (input: { reason: string; trigger: IncidentTrigger; severity: Severity }) => {
        await startRollback(core, ctx, {
          toRevision,
          reason: input.reason,
          automatic: { trigger: input.trigger, severity: input.severity },
          drill,
        });
        rolledBack = true;
      };
    if (watched) {
      await driver.watchStable(
        ctx,
        watched,
        instances,
        rollBack(watched.fromRevision ?? undefined, watched.state.drill),
      );
    } else if (!after && recent[0]?.finishedAt != null) {
      // No rollout, no post-deploy watch: the rules marked `watch: always` watch the stable revision.
      await driver.watchSteady(ctx, recent[0], instances, rollBack(undefined));
    }
    // Only a rollback changes what the table is derived from (the watch's own writes do not):
    // the other ticks of the watch, most of them, read nothing more.
    if (rolledBack) {
      after = (await store.rollouts.active(app)) ?? null;
      recent = undefined;
      if (after) {
        // The switch back is the point: drive it now rather than on the next tick.
        await driver.drive(ctx, after, observe);
        instances = await runtime.list(app);
        after = (await store.rollouts.active(app)) ?? null;
      }
    }
  } else {
    driver.endSteady(app);
  }
  // One look at the store and the agent serves the routes, the stable check and the retirement.
  const observed = await applyRoutes(store, ctx, after, instances, recent);
  await ensureStableRunning(core, ctx, instances);
  await restoreLost(core, ctx, observed.keep);
  await retire(store, ctx, observed);
  // Last: a rollback's verification, once due, starts apart from the loop (it waits for nothing here).
  await driver.verifyDue(ctx);
  await endOrphanedMaintenance(core, ctx, record);
}
