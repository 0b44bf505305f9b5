// What people ask of a rollout: deploy, change config, roll back, promote, pause, resume, abort.
// Each checks its input and the app's state, journals its change (the rollout, its event) and
// kicks the reconcile loop, which takes the steps; a refused command changes nothing.
import { RewindError } from '../../shared/errors.ts';
import { rolloutSettings } from '../../spec/app-spec.ts';
import type { EventType } from '../../spec/events.ts';
import type { RevisionRecord, RolloutRecord } from '../../store/types.ts';
import {
  checkEnvKeys,
  checkVersion,
  configChanges,
  createConfigRevision,
  createDeployRevision,
  describeConfigChanges,
} from '../revisions/new-revision.ts';
import { createSecretBox } from '../revisions/secret-box.ts';
import type { AppContext } from './app-context.ts';
import { type ControllerCore, flagSetVersion } from './controller-core.ts';
import { withMaintenance } from './maintenance.ts';
import { startRollback } from './rollback.ts';
import { failAt, planSteps, promote as promoteState, type RolloutState } from './rollout-state.ts';
import { conflict, createRollout, dbPlan } from './start-rollout.ts';
import { endWatch } from './watch-views.ts';

/** The event each command on the active rollout writes. */
const COMMAND_EVENTS = {
  promote: 'rollout.promoted',
  pause: 'rollout.paused',
  resume: 'rollout.resumed',
  abort: 'rollout.aborted',
} as const satisfies Record<string, EventType>;

export interface DeployInput {
  version: string;
  env?: Record<string, string>;
  reason?: string;
  actor?: string;
  /** The drill this deploy rehearses (features/drills): no incident if it is rolled back. */
  drill?: string;
}

export async function deploy(core: ControllerCore, app: string, input: DeployInput): Promise<RolloutRecord> {
  const ctx = core.context(app);
  checkVersion(input.version);
  checkEnvKeys(input.env);
  const { store, database } = core.deps;
  const active = await store.rollouts.active(app);
  if (active) throw conflict(app, active.id);
  const { revision, from } = await createDeployRevision(store, ctx, input, {
    migrationLevel: async () =>
      ctx.spec.database && database ? await database.prepare(ctx, input.version) : null,
    flagSetVersion: () => flagSetVersion(core, app),
  });
  return rollOut(core, ctx, from, revision, input.reason, input.actor, input.drill);
}

/** Journals and announces the deploy of `revision` with the app's strategy, and kicks the loop. */
async function rollOut(
  core: ControllerCore,
  ctx: AppContext,
  from: number | null,
  revision: RevisionRecord,
  reason: string | undefined,
  actor?: string,
  drill?: string,
): Promise<RolloutRecord> {
  const app = ctx.spec.name;
  const rollout = await createRollout(
    core,
    app,
    'deploy',
    from,
    revision,
    planSteps('deploy', {
      targetWarm: false,
      fromNothing: from === null,
      canary: rolloutSettings(ctx.spec).steps,
      database: dbPlan(ctx.spec),
    }),
    reason,
    actor,
    drill,
  );
  void core.scheduler.kick(app);
  return rollout;
}

/**
 * `rewind config set` and `rewind secrets set`: a new revision like the stable one but for the
 * changed config or secrets (null unsets a key), rolled out with the app's strategy like any
 * other, so that a rollback restores them with the rest.
 */
export async function changeConfig(
  core: ControllerCore,
  app: string,
  input: {
    config?: Record<string, string | null>;
    secrets?: Record<string, string | null>;
    reason?: string;
    actor?: string;
  },
): Promise<RolloutRecord> {
  const ctx = core.context(app);
  const { store } = core.deps;
  const changes = configChanges(input);
  const box = core.deps.secrets ?? createSecretBox(undefined);
  if (input.secrets && Object.values(input.secrets).some((v) => v !== null)) box.requireKey();
  const active = await store.rollouts.active(app);
  if (active) throw conflict(app, active.id);
  const { revision, from } = await createConfigRevision(store, app, changes, input, box, () =>
    flagSetVersion(core, app),
  );
  return rollOut(core, ctx, from, revision, input.reason ?? describeConfigChanges(changes));
}

/**
 * Put an earlier revision back. While a deploy is still in progress, this aborts it (its
 * compensations restore the stable revision); otherwise it creates a copy of the target and
 * rolls it out, by a plain traffic switch when the target's processes are still warm.
 */
export async function rollback(
  core: ControllerCore,
  app: string,
  input: { toRevision?: number; reason?: string; actor?: string; drill?: string },
): Promise<RolloutRecord> {
  const ctx = core.context(app);
  const { store } = core.deps;
  const reason = input.reason ?? 'manual rollback';
  const active = await store.rollouts.active(app);
  if (active) {
    if (input.toRevision !== undefined && input.toRevision !== active.fromRevision)
      throw conflict(app, active.id);
    if (active.kind === 'deploy' && active.fromRevision !== null)
      return abort(core, app, reason, input.actor);
    throw conflict(app, active.id);
  }
  // Serialised with the reconcile loop: no tick computes its table from the state before this.
  const queuedAt = performance.now();
  const rollout = await core.scheduler.exclusive(app, () =>
    startRollback(core, ctx, { ...input, reason, queuedAt }),
  );
  await endWatch(core, app, `rolled back by ${input.actor ?? 'hand'}: ${reason}`);
  // The loop takes the steps after the switch (verification, database, retirement); the caller
  // follows the rollout.
  void core.scheduler.kick(app);
  return (await store.rollouts.get(rollout.id)) ?? rollout;
}

export function promote(core: ControllerCore, app: string, full: boolean): Promise<RolloutRecord> {
  return command(core, app, 'promote', (r, now) => {
    const p = promoteState(r.state, full, now);
    return p.ok
      ? { state: p.state, message: full ? 'promoted to 100% by hand' : 'promoted by hand: next step' }
      : p.reason;
  });
}

export function pause(core: ControllerCore, app: string, reason = 'paused by hand'): Promise<RolloutRecord> {
  return command(core, app, 'pause', (r, now) => {
    const state = r.state;
    if (state.compensation) return 'the rollout is rolling back';
    if (state.paused) return 'the rollout is paused already';
    return { state: { ...state, paused: { at: now, reason } }, phase: 'Paused', message: reason };
  });
}

export function resume(core: ControllerCore, app: string): Promise<RolloutRecord> {
  return command(core, app, 'resume', (r) => {
    const state = r.state;
    if (!state.paused)
      return state.steps[state.index]?.name === 'pause'
        ? `it waits at a pause step of its strategy, not paused by hand: rewind promote ${app} goes on`
        : 'the rollout is not paused';
    return { state: { ...state, paused: null }, message: 'resumed by hand' };
  });
}

export async function abort(
  core: ControllerCore,
  app: string,
  reason = 'aborted by hand',
  actor?: string,
): Promise<RolloutRecord> {
  const rollout = await command(core, app, 'abort', (r, now) => {
    const state = r.state;
    if (state.compensation) return 'the rollout is rolling back already';
    const step = state.steps[Math.min(state.index, state.steps.length - 1)]!.name;
    const failed = failAt(state, { step, reason: `aborted: ${reason}` }, now);
    return {
      state: { ...failed, compensation: { ...failed.compensation!, outcome: 'RolledBack' } },
      phase: 'RollingBack',
      error: `aborted: ${reason}`,
      message: `aborted at ${step}: ${reason}`,
    };
  });
  core.reporter.notify(
    rollout,
    'rollout.aborted',
    `${app}: rollout to revision ${rollout.toRevision} aborted: ${reason}`,
  );
  await core.reporter.openIncident(
    rollout,
    { kind: 'manual', message: `aborted by ${actor ?? 'hand'}: ${reason}` },
    'P2',
  );
  return (await core.deps.store.rollouts.get(rollout.id)) ?? rollout;
}

/**
 * Runs `fn` (a manual database operation) while no rollout of the app is in progress, serialised
 * with the reconcile loop so that a deploy cannot start under it. `downtime`: why it may take the
 * app down; under `maintenance: auto` the app is in maintenance mode while it runs.
 */
export function whileIdle<T>(
  core: ControllerCore,
  app: string,
  fn: (ctx: AppContext, stable: RevisionRecord | undefined) => Promise<T>,
  downtime?: string,
): Promise<T> {
  const ctx = core.context(app);
  return core.scheduler.exclusive(app, async () => {
    const { store } = core.deps;
    const active = await store.rollouts.active(app);
    if (active) throw conflict(app, active.id);
    const stableNumber = (await store.apps.get(app))?.stableRevision;
    const stable = stableNumber == null ? undefined : await store.revisions.get(app, stableNumber);
    return downtime ? withMaintenance(core, ctx, downtime, () => fn(ctx, stable)) : fn(ctx, stable);
  });
}

/** Applies a pure change to the app's active rollout (promote, pause, resume, abort) and reconciles. */
async function command(
  core: ControllerCore,
  app: string,
  verb: keyof typeof COMMAND_EVENTS,
  change: (
    rollout: RolloutRecord,
    now: number,
  ) => { state: RolloutState; phase?: RolloutRecord['phase']; error?: string; message: string } | string,
): Promise<RolloutRecord> {
  core.context(app);
  const { store } = core.deps;
  const result = await core.scheduler.exclusive(app, async () => {
    const active = await store.rollouts.active(app);
    if (!active)
      throw new RewindError('NO_ACTIVE_ROLLOUT', `app ${app} has nothing rolling out to ${verb}`, { app });
    const outcome = change(active, Date.now());
    if (typeof outcome === 'string')
      throw new RewindError('INVALID_STATE', `cannot ${verb} app ${app}: ${outcome}`, {
        app,
        rolloutId: active.id,
      });
    const updated = await store.rollouts.update(
      active.id,
      {
        state: outcome.state,
        ...(outcome.phase ? { phase: outcome.phase } : {}),
        ...(outcome.error ? { error: outcome.error } : {}),
      },
      active.generation,
    );
    await store.events.append({
      app,
      rolloutId: active.id,
      type: COMMAND_EVENTS[verb],
      message: outcome.message,
    });
    return updated;
  });
  await core.scheduler.kick(app);
  return (await store.rollouts.get(result.id)) ?? result;
}
