// Runs the steps of one rollout: each drive() takes the steps that are ready and returns when one
// waits (for health, the bake window) or the rollout has ended. Every transition is journalled
// before its idempotent action runs, so a controller killed at any instant resumes where it was.
// Steps are their handlers' (steps/); the analysis and the watches after are rollout-analysis.ts'.

import type { Instance } from '../../providers/runtime.ts';
import { formatDuration } from '../../shared/duration.ts';
import { formatPercent } from '../../shared/format-number.ts';
import { rolloutSettings } from '../../spec/app-spec.ts';
import { rolloutPhaseEvent } from '../../spec/events.ts';
import { checklistPassed } from '../../spec/verification.ts';
import type { RolloutPhase, RolloutRecord } from '../../store/types.ts';
import { parseRevisionSpec, unitOf } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import { DriverCore, type DriverDeps } from './driver-core.ts';
import { type HookPhase, hookName, runHook } from './hooks.ts';
import { RollbackWatch } from './rollback-watch.ts';
import { RolloutAnalysis } from './rollout-analysis.ts';
import {
  type CompensationAction,
  compensationDone,
  decideNextStep,
  type PostDeployWatch,
  type RollbackVerification,
  type Step,
  stepDone,
  weightOfStep,
} from './rollout-state.ts';
import { describeVerification, VERIFY_WINDOW_MS, verifyRestored } from './steps/rollback-verification.ts';
import { hookContext, type StepContext, type StepDeps, type Target } from './steps/step-context.ts';
import { STEP_HANDLERS } from './steps/step-handlers.ts';

export class RolloutDriver {
  /** The dependencies, the clock and the journal writes, shared with the analysis. */
  readonly #core: DriverCore;
  /** What the analysis decides, during a rollout and in the watches after it. */
  readonly #analysis: RolloutAnalysis;
  /** What every step gets, besides its rollout. */
  readonly #stepDeps: StepDeps;
  /** A restarted controller does not charge its own downtime to a revision's start timeout. */
  readonly #startedAt: number;
  /** Rollbacks whose verification is journalled pending: rollout id -> its app and when it is due. */
  readonly #verifications = new Map<string, { readonly app: string; readonly dueAt: number }>();
  /** Apps whose journal was read for pending verifications (once per app and process). */
  readonly #verificationsRead = new Set<string>();
  /** Verifications running, by rollout id. */
  readonly #verifying = new Map<string, Promise<void>>();
  /** The watch of restored revisions after their first verification. */
  readonly #rollbackWatch: RollbackWatch;

  constructor(deps: DriverDeps) {
    this.#core = new DriverCore(deps);
    this.#analysis = new RolloutAnalysis(this.#core);
    this.#rollbackWatch = new RollbackWatch(this.#core);
    this.#startedAt = this.#core.clock.now();
    const { store, metrics, reporter, log, applyRoutes, envOf, database } = deps;
    this.#stepDeps = {
      store,
      metrics,
      reporter,
      log,
      clock: this.#core.clock,
      applyRoutes,
      envOf,
      ...(database && { database }),
    };
  }

  async drive(ctx: ManagedApp, initial: RolloutRecord, observe: () => Promise<Instance[]>): Promise<void> {
    const { store } = this.#core.deps;
    let rollout = initial;
    const to = (await store.revisions.get(rollout.app, rollout.toRevision))!;
    const target: Target = { number: to.number, unit: unitOf(to), spec: parseRevisionSpec(to.spec) };
    rollout = await this.#analysis.analyse(ctx, rollout, target, await observe());
    for (let guard = 0; guard < 50; guard++) {
      const next = decideNextStep(rollout.state);
      if (next.type === 'finish') return this.#finish(ctx, rollout, next.phase, target);
      if (next.type === 'wait') return this.#pause(rollout);
      if (next.type === 'compensate') {
        rollout = await this.#compensate(ctx, rollout, next.step, next.action, target);
        continue;
      }
      const ran = await this.#runStep(ctx, rollout, next.step, next.phase, target, observe);
      if (ran === null) return;
      rollout = ran;
    }
  }

  /** The post-deploy watch of a completed deploy (RolloutAnalysis.watchStable). */
  watchStable(...args: Parameters<RolloutAnalysis['watchStable']>): Promise<void> {
    return this.#analysis.watchStable(...args);
  }

  /** The steady-state watch of the stable revision (RolloutAnalysis.watchSteady). */
  watchSteady(...args: Parameters<RolloutAnalysis['watchSteady']>): Promise<void> {
    return this.#analysis.watchSteady(...args);
  }

  /** The id that keys the app's steady-state watch, once it has judged. */
  steadyKey(app: string): string | undefined {
    return this.#analysis.steadyKey(app);
  }

  /** Ends the app's steady-state watch (a rollout started, or it rolled back): its memory goes. */
  endSteady(app: string): void {
    this.#analysis.endSteady(app);
  }

  /** Ends a deploy's post-deploy watch, if it is still watching. */
  endWatch(rollout: RolloutRecord, reason: string): Promise<void> {
    return this.#analysis.endWatch(rollout, reason);
  }

  /** Paused (by a person, or a P2 breach): journalled and told once; `resume` or `promote` goes on. */
  async #pause(rollout: RolloutRecord): Promise<void> {
    if (rollout.phase === 'Paused') return;
    const paused = await this.#core.save(rollout, { phase: 'Paused' });
    this.#core.deps.reporter.notify(
      paused,
      'rollout.paused',
      `${paused.app}: paused: ${rollout.state.paused?.reason ?? ''}`,
    );
  }

  /**
   * The next compensation of a rollout turned around. The switch back is journalled before it
   * acts (a controller restarted there recomputes the stable-only table) and the incident follows
   * it; the others act, then are journalled.
   */
  async #compensate(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    step: Step,
    action: CompensationAction,
    target: Target,
  ): Promise<RolloutRecord> {
    const done = compensationDone(rollout.state, this.#core.clock.now());
    // decideNextStep names only steps that have a compensation (COMPENSATIONS), each its handler's.
    const compensation = STEP_HANDLERS[step.name].compensate!;
    const observed = ctx.observed?.instances ?? [];
    if (action === 'switchBack') {
      const switched = await this.#core.save(
        rollout,
        { phase: 'RollingBack', state: done },
        'traffic.switched-back',
        `all traffic back on revision ${rollout.fromRevision}`,
      );
      await compensation.run(this.#stepContext(ctx, switched, step, target, observed));
      await this.#core.openPendingIncident(switched);
      return switched;
    }
    await compensation.run(this.#stepContext(ctx, rollout, step, target, observed));
    return this.#core.save(rollout, { phase: 'RollingBack', state: done });
  }

  /**
   * Runs the current step: journals its start and the weight it puts in force (before the table
   * changes), asks its handler, and journals the outcome. Null while the step waits.
   */
  async #runStep(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    step: Step,
    phase: RolloutPhase,
    target: Target,
    observe: () => Promise<Instance[]>,
  ): Promise<RolloutRecord | null> {
    const handler = STEP_HANDLERS[step.name];
    const state = rollout.state;
    if (state.stepStartedAt === null || rollout.phase !== phase) {
      rollout = await this.#core.save(
        rollout,
        { phase, state: { ...state, stepStartedAt: state.stepStartedAt ?? this.#core.clock.now() } },
        'step.started',
        handler.describe(this.#stepContext(ctx, rollout, step, target, [])),
      );
    }
    const weight = weightOfStep(rollout.state);
    if (weight !== rollout.state.weight) {
      // Journal the new weight first: a controller restarted mid-switch recomputes this table.
      rollout = await this.#core.save(rollout, { state: { ...rollout.state, weight } });
      await this.#core.deps.applyRoutes(ctx, rollout);
    }
    const outcome = await handler.run(this.#stepContext(ctx, rollout, step, target, await observe()));
    if (outcome.status === 'pending') return null;
    const current = rollout.state;
    if (outcome.status === 'failed') {
      const f = outcome.failure;
      if (current.weight > 0)
        this.#core.pendingIncidents.set(rollout.id, {
          trigger: { kind: f.step === 'bake' ? 'health' : 'failure', message: f.reason },
          severity: 'P0',
        });
      return this.#core.turnAround(ctx, rollout, f, 'step.failed', `${f.step} failed: ${f.reason}`, f);
    }
    const extra = outcome.levelBefore === undefined ? {} : { levelBefore: outcome.levelBefore };
    const completed = await this.#core.save(
      rollout,
      { state: { ...stepDone(current, this.#core.clock.now()), ...extra } },
      'step.completed',
      `${step.name} done`,
    );
    await this.#core.deps.applyRoutes(ctx, completed);
    return completed;
  }

  #stepContext(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    step: Step,
    target: Target,
    instances: readonly Instance[],
  ): StepContext {
    return {
      ...this.#stepDeps,
      rollout,
      step,
      app: ctx,
      runtime: ctx.providers.runtime,
      health: ctx.providers.health,
      target,
      instances,
      controllerStartedAt: this.#startedAt,
      event: (type, message, data) => this.#core.event(rollout, type, message, data),
    };
  }

  async #finish(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    phase: 'Completed' | 'Failed' | 'RolledBack',
    target: Target,
  ): Promise<void> {
    const { store } = this.#core.deps;
    if (phase === 'Completed') await store.apps.setStableRevision(rollout.app, rollout.toRevision);
    const state = rollout.state;
    const reason = state.compensation?.failure.reason;
    if (phase === 'RolledBack' && rollout.kind === 'deploy') {
      if (!this.#core.pendingIncidents.has(rollout.id))
        this.#core.pendingIncidents.set(rollout.id, {
          trigger: { kind: 'failure', message: reason ?? 'rolled back' },
          severity: 'P0',
        });
      await this.#core.openPendingIncident(rollout);
    }
    const message =
      phase === 'Completed'
        ? `revision ${rollout.toRevision} is stable`
        : phase === 'RolledBack'
          ? `rolled back to revision ${rollout.fromRevision}: ${reason}`
          : `revision ${rollout.toRevision} failed, revision ${rollout.fromRevision ?? 'none'} still serves: ${reason}`;
    const now = this.#core.clock.now();
    const watchMs = rolloutSettings(ctx.spec).watch;
    // A deploy that replaced a revision is watched from its first request; one with nothing to go
    // back to is simply stable.
    const watch: PostDeployWatch | null =
      phase === 'Completed' && rollout.kind === 'deploy' && rollout.fromRevision !== null && watchMs > 0
        ? { until: (state.analysis?.since ?? now) + watchMs, status: 'Watching' }
        : null;
    // A rollback's verdict needs a few seconds of traffic on the restored revision: journalled
    // pending in the write that ends it, run by the loop once due (verifyDue), after a restart too.
    const restored =
      phase === 'RolledBack' || (phase === 'Completed' && rollout.kind === 'rollback')
        ? rollout.kind === 'rollback'
          ? rollout.toRevision
          : rollout.fromRevision
        : null;
    const verification: RollbackVerification | null =
      restored === null ? null : { status: 'Pending', revision: restored, dueAt: now + VERIFY_WINDOW_MS };
    if (phase === 'Completed' && rollout.kind === 'deploy')
      await this.#analysis.endSupersededWatches(rollout);
    await this.#core.save(
      rollout,
      {
        phase,
        finishedAt: now,
        ...(watch || verification
          ? { state: { ...state, ...(watch && { watch }), ...(verification && { verification }) } }
          : {}),
      },
      rolloutPhaseEvent(phase),
      message,
      state.compensation?.failure,
    );
    // Without a watch to follow, the analysis of this rollout is over (its kept series go).
    if (!watch) this.#core.deps.watch.forget(rollout.id);
    if (watch)
      await this.#core.event(
        rollout,
        'watch.started',
        `watching revision ${rollout.toRevision} until ${new Date(watch.until).toISOString()} (${formatDuration(watch.until - now)} left): a breach rolls it back to revision ${rollout.fromRevision}`,
        { until: watch.until },
      );
    const done = (await store.rollouts.get(rollout.id)) ?? rollout;
    const { reporter } = this.#core.deps;
    if (phase === 'Completed' && rollout.kind === 'deploy')
      reporter.notify(done, 'rollout.completed', `${rollout.app}: ${message}`);
    else if (phase === 'Failed' && rollout.kind === 'deploy')
      reporter.notify(done, 'rollout.aborted', `${rollout.app}: ${message}`);
    const after: HookPhase | null =
      phase === 'Completed' && rollout.kind === 'deploy'
        ? 'postPromotion'
        : phase === 'RolledBack' || (phase === 'Completed' && rollout.kind === 'rollback')
          ? 'postRollback'
          : null;
    if (after) void this.#runHooks(after, ctx, done, target);
    if (verification) this.#verifications.set(rollout.id, { app: rollout.app, dueAt: verification.dueAt });
    if (phase === 'Completed') {
      const app = await store.apps.get(rollout.app);
      const spec = app?.spec as { history?: number } | undefined;
      const protect = [rollout.toRevision, ...(rollout.fromRevision === null ? [] : [rollout.fromRevision])];
      await store.revisions.prune(rollout.app, spec?.history ?? 10, protect);
    }
  }

  /** After-the-fact hooks: recorded as events; they change nothing. */
  async #runHooks(phase: HookPhase, ctx: ManagedApp, rollout: RolloutRecord, target: Target): Promise<void> {
    const hooks = phase === 'postPromotion' ? ctx.spec.hooks.postPromotion : ctx.spec.hooks.postRollback;
    for (const hook of hooks) {
      const result = await runHook(hook, hookContext(phase, ctx, rollout, target));
      await this.#core
        .event(
          rollout,
          result.ok ? 'hook.passed' : 'hook.failed',
          `${phase === 'postPromotion' ? 'post-promotion' : 'post-rollback'} hook ${hookName(hook)}: ${result.ok ? 'passed' : result.detail}`,
        )
        .catch(() => {});
    }
  }

  /**
   * Runs the verifications of rollbacks that have come due (each journalled pending when its
   * rollback ended), apart from the loop: their checks take seconds, and the app's ticks and
   * commands must not wait for them. A restarted controller finds the pending ones in the journal
   * on its first call for the app. No I/O on the other calls.
   */
  async verifyDue(ctx: ManagedApp): Promise<void> {
    const app = ctx.spec.name;
    if (!this.#verificationsRead.has(app)) {
      for (const r of await this.#core.deps.store.rollouts.list(app, 20)) {
        const v = r.state.verification;
        if (v?.status === 'Pending' && !this.#verifying.has(r.id))
          this.#verifications.set(r.id, { app, dueAt: v.dueAt });
        // A watch after a rollback that a restarted controller takes over.
        if (v?.status === 'Watching') this.#rollbackWatch.follow(r);
      }
      this.#verificationsRead.add(app);
    }
    const now = this.#core.clock.now();
    for (const [id, due] of this.#verifications) {
      if (due.app !== app || due.dueAt > now) continue;
      this.#verifications.delete(id);
      const run = this.#verifyRollback(ctx, id)
        .catch((err) => this.#core.deps.log.error({ err, app }, 'verification failed to run'))
        .finally(() => this.#verifying.delete(id));
      this.#verifying.set(id, run);
    }
    this.#rollbackWatch.due(ctx);
  }

  /** Resolves once the verifications and post-rollback watch evaluations running now have ended. */
  async verificationsSettled(): Promise<void> {
    await Promise.allSettled([...this.#verifying.values()]);
    await this.#rollbackWatch.settled();
  }

  /**
   * A rollback's verification: the checks, their event (for whoever follows the rollback without
   * an incident: a drill), the incident closed or escalated, and last the state: a controller
   * killed before that write runs it again after its restart rather than leave the incident open.
   */
  async #verifyRollback(ctx: ManagedApp, id: string): Promise<void> {
    const { store, reporter } = this.#core.deps;
    const rollout = await store.rollouts.get(id);
    const pending = rollout?.state.verification;
    if (!rollout || pending?.status !== 'Pending') return;
    const checks = await verifyRestored(this.#stepDeps, ctx, rollout, pending.revision);
    const passed = checklistPassed(checks);
    await this.#core.event(
      rollout,
      passed ? 'rollout.verified' : 'rollout.verify-failed',
      describeVerification(pending.revision, checks),
      { passed, checks },
    );
    await this.#core.deps.endMaintenance?.(ctx, rollout, passed ? 'is verified' : 'failed its verification');
    // Passed at the switch: the restored revision is watched before the incident is resolved.
    const watching = passed ? this.#rollbackWatch.watchFor(ctx, rollout, pending) : null;
    await reporter.closeIncident(
      rollout,
      { passed, checks },
      watching ? { revision: watching.revision, until: watching.until } : undefined,
    );
    const fresh = (await store.rollouts.get(id)) ?? rollout;
    const verification: RollbackVerification = watching ?? {
      ...pending,
      status: passed ? 'Passed' : 'Failed',
      endedAt: this.#core.clock.now(),
    };
    const saved = await store.rollouts.update(
      id,
      { state: { ...fresh.state, verification } },
      fresh.generation,
    );
    if (!watching) return;
    const { verify } = ctx.spec;
    await this.#core.event(
      saved,
      'watch.started',
      `watching restored revision ${watching.revision} until ${new Date(watching.until).toISOString()} (${formatDuration(verify.watch)}): error rate below ${formatPercent(verify.errorRate)}, p95 below ${formatDuration(verify.latencyP95)}, health${verify.checks.length ? `, ${verify.checks.length} checks every ${formatDuration(verify.checkEvery)}` : ''} and the app's rules; a breach escalates the incident to P0`,
      { until: watching.until },
    );
    this.#rollbackWatch.follow(saved);
  }
}
