// Runs the steps of one rollout. Each call to drive() takes as many steps as are ready and
// returns when one is waiting (for health, for the bake window) or the rollout has ended. Every
// transition is journalled (state + event) before its action runs, and every action is
// idempotent, so a controller killed at any instant resumes where it was. What each step does is
// its handler's business (steps/, one file per kind); the driver decides, journals and dispatches.

import type { MetricsSource } from '../../providers/metrics-source.ts';
import type { Instance } from '../../providers/runtime.ts';
import { formatDuration } from '../../shared/duration.ts';
import type { Logger } from '../../shared/logger.ts';
import { rolloutSettings } from '../../spec/app-spec.ts';
import { type EventType, rolloutPhaseEvent } from '../../spec/events.ts';
import type { RolloutPhase, RolloutRecord, Store } from '../../store/types.ts';
import { type Decision, type Severity, steadyStateRules } from '../analysis/index.ts';
import type { RolloutDatabase } from '../database/rollout-database.ts';
import type { IncidentTrigger } from '../incidents/incident.ts';
import { parseRevisionSpec, type RevisionSpec, unitOf } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import { type HookPhase, hookName, runHook } from './hooks.ts';
import type { RolloutReporter } from './rollout-reporter.ts';
import {
  type CompensationAction,
  compensationDone,
  decideNextStep,
  type Failure,
  failAt,
  type PostDeployWatch,
  type RollbackVerification,
  type Step,
  type StepName,
  stepDone,
  weightOfStep,
} from './rollout-state.ts';
import type { RolloutWatch, WatchResult } from './rollout-watch.ts';
import { describeVerification, VERIFY_WINDOW_MS, verifyRestored } from './steps/rollback-verification.ts';
import {
  type Clock,
  hookContext,
  type StepContext,
  type StepDeps,
  systemClock,
  type Target,
} from './steps/step-context.ts';
import { STEP_HANDLERS } from './steps/step-handlers.ts';

export interface DriverDeps {
  readonly store: Store;
  readonly log: Logger;
  readonly applyRoutes: (ctx: ManagedApp, rollout: RolloutRecord | null) => Promise<void>;
  readonly reporter: RolloutReporter;
  readonly watch: RolloutWatch;
  readonly metrics: MetricsSource;
  /** The environment an instance of the revision runs with (config, opened secrets, Rewind's own). Throws when a secret cannot be opened. */
  readonly envOf: (ctx: ManagedApp, spec: RevisionSpec) => Record<string, string>;
  /** Migrations of apps that declare a database. */
  readonly database?: RolloutDatabase;
  /** Disables a flag for a kill-switch rule and opens its incident; resolves to the incident id. */
  readonly killSwitch?: (input: {
    app: string;
    flag: string;
    reason: string;
    trigger: IncidentTrigger;
    rolloutId: string;
    severity: Severity;
    /** A drill's rollout: the flag goes off, no incident opens. */
    drill?: string;
  }) => Promise<string | null>;
  /** The time; the system's unless a test holds it. */
  readonly clock?: Clock;
}

export class RolloutDriver {
  readonly #deps: DriverDeps;
  readonly #clock: Clock;
  /** What every step gets, besides its rollout. */
  readonly #stepDeps: StepDeps;
  /** A restarted controller does not charge its own downtime to a revision's start timeout. */
  readonly #startedAt: number;
  /**
   * Incidents of rollbacks decided but not yet opened: traffic moves first, the report follows.
   * (#finish opens one from the journal if a restart lost this.)
   */
  readonly #pendingIncidents = new Map<string, { trigger: IncidentTrigger; severity: Severity }>();
  /** Per app, the rollout whose id keys the steady-state watch of its stable revision. */
  readonly #steady = new Map<string, string>();
  /** Rollbacks whose verification is journalled pending: rollout id -> its app and when it is due. */
  readonly #verifications = new Map<string, { readonly app: string; readonly dueAt: number }>();
  /** Apps whose journal was read for pending verifications (once per app and process). */
  readonly #verificationsRead = new Set<string>();
  /** Verifications running, by rollout id. */
  readonly #verifying = new Map<string, Promise<void>>();

  constructor(deps: DriverDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#startedAt = this.#clock.now();
    const { store, metrics, reporter, log, applyRoutes, envOf, database } = deps;
    this.#stepDeps = {
      store,
      metrics,
      reporter,
      log,
      clock: this.#clock,
      applyRoutes,
      envOf,
      ...(database && { database }),
    };
  }

  async drive(ctx: ManagedApp, initial: RolloutRecord, observe: () => Promise<Instance[]>): Promise<void> {
    const { store } = this.#deps;
    let rollout = initial;
    const to = (await store.revisions.get(rollout.app, rollout.toRevision))!;
    const target: Target = { number: to.number, unit: unitOf(to), spec: parseRevisionSpec(to.spec) };
    rollout = await this.#analyse(ctx, rollout, target, await observe());
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

  /** Paused (by a person, or a P2 breach): journalled and told once; `resume` or `promote` goes on. */
  async #pause(rollout: RolloutRecord): Promise<void> {
    if (rollout.phase === 'Paused') return;
    const paused = await this.#save(rollout, { phase: 'Paused' });
    this.#deps.reporter.notify(
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
    const done = compensationDone(rollout.state, this.#clock.now());
    // decideNextStep names only steps that have a compensation (COMPENSATIONS), each its handler's.
    const compensation = STEP_HANDLERS[step.name].compensate!;
    const observed = ctx.observed?.instances ?? [];
    if (action === 'switchBack') {
      const switched = await this.#save(
        rollout,
        { phase: 'RollingBack', state: done },
        'traffic.switched-back',
        `all traffic back on revision ${rollout.fromRevision}`,
      );
      await compensation.run(this.#stepContext(ctx, switched, step, target, observed));
      await this.#openPendingIncident(switched);
      return switched;
    }
    await compensation.run(this.#stepContext(ctx, rollout, step, target, observed));
    return this.#save(rollout, { phase: 'RollingBack', state: done });
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
      rollout = await this.#save(
        rollout,
        { phase, state: { ...state, stepStartedAt: state.stepStartedAt ?? this.#clock.now() } },
        'step.started',
        handler.describe(this.#stepContext(ctx, rollout, step, target, [])),
      );
    }
    const weight = weightOfStep(rollout.state);
    if (weight !== rollout.state.weight) {
      // Journal the new weight first: a controller restarted mid-switch recomputes this table.
      rollout = await this.#save(rollout, { state: { ...rollout.state, weight } });
      await this.#deps.applyRoutes(ctx, rollout);
    }
    const outcome = await handler.run(this.#stepContext(ctx, rollout, step, target, await observe()));
    if (outcome.status === 'pending') return null;
    const current = rollout.state;
    if (outcome.status === 'failed') {
      const f = outcome.failure;
      if (current.weight > 0)
        this.#pendingIncidents.set(rollout.id, {
          trigger: { kind: f.step === 'bake' ? 'health' : 'failure', message: f.reason },
          severity: 'P0',
        });
      return this.#turnAround(ctx, rollout, f, 'step.failed', `${f.step} failed: ${f.reason}`, f);
    }
    const extra = outcome.levelBefore === undefined ? {} : { levelBefore: outcome.levelBefore };
    const completed = await this.#save(
      rollout,
      { state: { ...stepDone(current, this.#clock.now()), ...extra } },
      'step.completed',
      `${step.name} done`,
    );
    await this.#deps.applyRoutes(ctx, completed);
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
      event: (type, message, data) => this.#event(rollout, type, message, data),
    };
  }

  /**
   * While the new revision takes traffic (a canary step, a pause, the bake), the analysis decides:
   * roll back (P0, a P1 past the monitoring window, a service-down breach, a release judged worse
   * than the stable revision beside it or than the previous one before the switch), pause (P2) or
   * notify (P3). A rollback turns the rollout around here; the loop then runs the compensations.
   */
  async #analyse(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    target: Target,
    instances: Instance[],
  ): Promise<RolloutRecord> {
    const state = rollout.state;
    const { watch, reporter } = this.#deps;
    if (rollout.kind !== 'deploy' || state.compensation) {
      watch.forget(rollout.id);
      return rollout;
    }
    const step = state.steps[state.index];
    if (!step || (state.weight === 0 && step.name !== 'bake')) return rollout;
    const evaluated = await this.#evaluate(ctx, rollout, target, instances);
    if (!evaluated) return rollout;
    rollout = evaluated.rollout;
    const { decision, summary } = evaluated.result;
    const severity = decision.severity ?? 'P0';
    const trigger = toTrigger(decision, `during ${phaseOf(step.name, state.weight)}`);
    if (decision.action === 'rollback') {
      const reason = decision.reason.startsWith(severity)
        ? decision.reason
        : `${severity}: ${decision.reason}`;
      const failure = { step: step.name, reason };
      this.#pendingIncidents.set(rollout.id, { trigger, severity });
      return this.#turnAround(
        ctx,
        rollout,
        failure,
        'analysis.decision',
        `rolling back: ${decision.reason}`,
        {
          severity,
          trigger,
          summary,
        },
      );
    }
    if (decision.action === 'pause') {
      if (state.paused) return rollout;
      const updated = await this.#save(
        rollout,
        {
          phase: 'Paused',
          // The state as evaluated (it may have recorded the analysis' memory just now).
          state: {
            ...rollout.state,
            paused: { at: this.#clock.now(), reason: `${severity}: ${decision.reason}` },
          },
        },
        'analysis.decision',
        `paused for a person to decide (promote or abort): ${decision.reason}`,
        { severity, trigger },
      );
      if (decision.notify)
        reporter.notify(
          updated,
          'rollout.paused',
          `${rollout.app}: paused, ${severity}: ${decision.reason}`,
          { severity },
        );
      return updated;
    }
    await this.#actOnBreach(rollout, decision, trigger, target);
    return rollout;
  }

  /**
   * The post-deploy watch of a completed deploy: until its end the same analysis goes on, and a
   * rollback decision ends the watch and asks `rollBack` for an automatic rollback to the previous
   * revision. A P2 breach cannot pause what is already stable: it notifies instead.
   */
  async watchStable(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    instances: Instance[],
    rollBack: (input: { reason: string; trigger: IncidentTrigger; severity: Severity }) => Promise<void>,
  ): Promise<void> {
    const state = rollout.state;
    const watchState = state.watch;
    if (watchState?.status !== 'Watching') return;
    const { store, watch } = this.#deps;
    const now = this.#clock.now();
    if (now >= watchState.until) {
      // Say what was judged, not "passed": a watch without traffic judged nothing.
      const latest = watch.latest(rollout.id);
      await this.#save(
        rollout,
        { state: { ...state, watch: { ...watchState, status: 'Passed', endedAt: now } } },
        'watch.passed',
        `watch of revision ${rollout.toRevision} ended with no rollback; last evaluation: ${latest ? latest.summary : 'none by this controller'}`,
      );
      watch.forget(rollout.id);
      return;
    }
    // Most ticks have no evaluation due: no store read for them.
    if (!watch.due(rollout.id, now, ctx.spec.analysis.interval)) return;
    const to = await store.revisions.get(rollout.app, rollout.toRevision);
    if (!to) return;
    const target: Target = { number: to.number, unit: unitOf(to), spec: parseRevisionSpec(to.spec) };
    const evaluated = await this.#evaluate(ctx, rollout, target, instances);
    if (!evaluated) return;
    rollout = evaluated.rollout;
    const { decision, summary } = evaluated.result;
    const severity = decision.severity ?? 'P0';
    const since = rollout.state.analysis?.since ?? rollout.finishedAt ?? now;
    const trigger = toTrigger(
      decision,
      `during the post-deploy watch, ${formatDuration(Math.max(0, now - since))} after the switch`,
    );
    if (decision.action === 'rollback') {
      const reason = decision.reason.startsWith(severity)
        ? decision.reason
        : `${severity}: ${decision.reason}`;
      const current = rollout.state;
      const ended = await this.#save(
        rollout,
        { state: { ...current, watch: { ...watchState, status: 'RolledBack', endedAt: now, reason } } },
        'analysis.decision',
        `rolling back during the watch: ${decision.reason}`,
        { severity, trigger, summary },
      );
      watch.forget(ended.id);
      await rollBack({ reason, trigger, severity });
      return;
    }
    if (decision.action === 'pause' && decision.notify) {
      await this.#stableBreach(rollout, decision, trigger, rollout.toRevision);
      return;
    }
    await this.#actOnBreach(rollout, decision, trigger, target);
  }

  /**
   * The steady-state watch: once an app has no rollout in progress and no post-deploy watch, the
   * rules marked `watch: always` go on judging the stable revision (alone: no baseline). A kill
   * switch acts as during a rollout; a rollback decision asks `rollBack` for a rollback to the
   * previous revision (warm, or started again) and, when there is none, notifies instead. The
   * judgment is kept under `rollout`, the app's newest one (finished), for its journal.
   */
  async watchSteady(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    instances: Instance[],
    rollBack: (input: { reason: string; trigger: IncidentTrigger; severity: Severity }) => Promise<void>,
  ): Promise<void> {
    const { store, watch, reporter } = this.#deps;
    const rules = steadyStateRules(ctx.spec.analysis);
    const app = ctx.spec.name;
    const previous = this.#steady.get(app);
    if (previous !== undefined && previous !== rollout.id) this.endSteady(app);
    if (rules.length === 0) return;
    const now = this.#clock.now();
    if (!watch.due(rollout.id, now, ctx.spec.analysis.interval)) return;
    const stable = (await store.apps.get(app))?.stableRevision;
    const rev = stable == null ? undefined : await store.revisions.get(app, stable);
    if (!rev) return;
    this.#steady.set(app, rollout.id);
    const target: Target = { number: rev.number, unit: unitOf(rev), spec: parseRevisionSpec(rev.spec) };
    const result = await watch.evaluate({
      ctx,
      rolloutId: rollout.id,
      weight: 100,
      candidate: { revision: target.number, unit: target.unit },
      baseline: null,
      instances,
      health: (id) => ctx.providers.health.verdict(id),
      now,
      rules,
    });
    if (!result) return;
    const { decision, summary } = result;
    if (decision.key) watch.notified(rollout.id, decision.key);
    const severity = decision.severity ?? 'P0';
    const trigger = toTrigger(decision, `during the steady-state watch of revision ${target.number}`);
    if (decision.action === 'rollback') {
      const reason = decision.reason.startsWith(severity)
        ? decision.reason
        : `${severity}: ${decision.reason}`;
      await this.#event(
        rollout,
        'analysis.decision',
        `rolling back stable revision ${target.number} (steady-state watch): ${decision.reason}`,
        { severity, trigger, summary },
      );
      this.endSteady(app);
      try {
        await rollBack({ reason, trigger, severity });
      } catch (err) {
        // No earlier revision (or none left): a person decides, and is told so.
        const message = `${severity}: ${decision.reason}; cannot roll back revision ${target.number}: ${(err as Error).message}`;
        await this.#event(rollout, 'analysis.breach', message, { severity, trigger });
        reporter.notify(rollout, 'analysis.breach', `${app}: ${message}`, { severity });
      }
      return;
    }
    if (decision.action === 'pause' && decision.notify) {
      await this.#stableBreach(rollout, decision, trigger, target.number);
      return;
    }
    await this.#actOnBreach(rollout, decision, trigger, target);
  }

  /** A P2 breach of a stable revision: nothing to pause, so a person is told to decide. */
  async #stableBreach(
    rollout: RolloutRecord,
    decision: Decision,
    trigger: IncidentTrigger,
    revision: number,
  ): Promise<void> {
    const severity = decision.severity ?? 'P0';
    await this.#event(rollout, 'analysis.breach', `${severity}: ${decision.reason}`, { severity, trigger });
    this.#deps.reporter.notify(
      rollout,
      'analysis.breach',
      `${rollout.app}: ${severity}: ${decision.reason}; revision ${revision} is stable already: decide with rewind rollback ${rollout.app}`,
      { severity },
    );
  }

  /** The id that keys the app's steady-state watch, once it has judged. */
  steadyKey(app: string): string | undefined {
    return this.#steady.get(app);
  }

  /** Ends the app's steady-state watch (a rollout started, or it rolled back): its memory goes. */
  endSteady(app: string): void {
    const id = this.#steady.get(app);
    if (id === undefined) return;
    this.#steady.delete(app);
    this.#deps.watch.forget(id);
  }

  /**
   * Turns the rollout around at `failure`. When its first compensation is the switch back, that
   * switch is journalled in the same write and put in force at once: one write and one table
   * between the decision and the traffic being back. The incident follows.
   */
  async #turnAround(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    failure: Failure,
    eventType: EventType,
    message: string,
    data: unknown,
  ): Promise<RolloutRecord> {
    const now = this.#clock.now();
    const failed = failAt(rollout.state, failure, now);
    const next = decideNextStep(failed);
    const back = next.type === 'compensate' && next.action === 'switchBack';
    const updated = await this.#save(
      rollout,
      { phase: 'RollingBack', state: back ? compensationDone(failed, now) : failed, error: failure.reason },
      eventType,
      message,
      data,
    );
    await this.#deps.applyRoutes(ctx, updated);
    if (back) {
      await this.#event(
        updated,
        'traffic.switched-back',
        `all traffic back on revision ${updated.fromRevision}`,
      );
      await this.#openPendingIncident(updated);
    }
    return updated;
  }

  /**
   * A deploy that completed supersedes the watch of the one before it. (A deploy that failed or
   * was rolled back does not: the stable revision's watch goes on once it is over.)
   */
  async #endSupersededWatches(rollout: RolloutRecord): Promise<void> {
    for (const r of await this.#deps.store.rollouts.list(rollout.app, 20)) {
      if (r.id !== rollout.id && r.kind === 'deploy')
        await this.endWatch(r, `superseded by revision ${rollout.toRevision}`);
    }
  }

  /** Ends a deploy's post-deploy watch, if it is still watching (a write, an event, its memory dropped). */
  async endWatch(rollout: RolloutRecord, reason: string): Promise<void> {
    const state = rollout.state;
    if (state.watch?.status !== 'Watching') return;
    await this.#save(
      rollout,
      { state: { ...state, watch: { ...state.watch, status: 'Ended', endedAt: this.#clock.now(), reason } } },
      'watch.ended',
      `watch of revision ${rollout.toRevision} ended: ${reason}`,
    );
    this.#deps.watch.forget(rollout.id);
  }

  /** Opens the incident of a rollback decided earlier in this process, once traffic has moved. */
  async #openPendingIncident(rollout: RolloutRecord): Promise<void> {
    const pending = this.#pendingIncidents.get(rollout.id);
    if (!pending) return;
    this.#pendingIncidents.delete(rollout.id);
    await this.#deps.reporter.openIncident(rollout, pending.trigger, pending.severity);
  }

  /** One evaluation of the analysis for a deploy; what must survive a restart goes to its state. */
  async #evaluate(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    target: Target,
    instances: Instance[],
  ): Promise<{ rollout: RolloutRecord; result: WatchResult } | null> {
    const { watch, store } = this.#deps;
    const state = rollout.state;
    if (!watch.due(rollout.id, this.#clock.now(), ctx.spec.analysis.interval)) return null;
    let baseline: { revision: number; unit: number } | null = null;
    if (rollout.fromRevision !== null) {
      const from = await store.revisions.get(rollout.app, rollout.fromRevision);
      if (from) baseline = { revision: from.number, unit: unitOf(from) };
    }
    const result = await watch.evaluate({
      ctx,
      rolloutId: rollout.id,
      weight: state.weight,
      candidate: { revision: target.number, unit: target.unit },
      baseline,
      instances,
      health: (id) => ctx.providers.health.verdict(id),
      now: this.#clock.now(),
      memory: state.analysis ?? null,
      startedAt: rollout.createdAt,
    });
    if (!result) return null;
    if (result.remember)
      rollout = await this.#save(rollout, { state: { ...state, analysis: result.remember } });
    if (result.decision.key) watch.notified(rollout.id, result.decision.key);
    return { rollout, result };
  }

  /** A kill switch, or a notification of a breach that does not roll back. */
  async #actOnBreach(
    rollout: RolloutRecord,
    decision: Decision,
    trigger: IncidentTrigger,
    target: Target,
  ): Promise<void> {
    const severity = decision.severity ?? 'P0';
    const { watch, reporter } = this.#deps;
    if (decision.action === 'disableFlag') {
      const flag = (decision.verdict as { rule: { flag: string } }).rule.flag;
      const { killSwitch } = this.#deps;
      if (!killSwitch) return;
      try {
        const incident = await killSwitch({
          app: rollout.app,
          flag,
          reason: decision.reason,
          trigger,
          rolloutId: rollout.id,
          severity,
          drill: rollout.state.drill,
        });
        watch.restart(rollout.id, this.#clock.now());
        await this.#event(
          rollout,
          'flags.killSwitch',
          `kill switch: flag ${flag} disabled, revision ${target.number} stays: ${decision.reason}`,
          { severity, trigger, flag, incident },
        );
      } catch (err) {
        // An unknown flag cannot be switched off; the event says so and the other rules judge on.
        await this.#event(
          rollout,
          'flags.killSwitchFailed',
          `kill switch for flag ${flag} failed: ${(err as Error).message}`,
        );
      }
      return;
    }
    if (decision.action !== 'none' && decision.notify) {
      await this.#event(rollout, 'analysis.breach', `${severity}: ${decision.reason}`, { severity, trigger });
      reporter.notify(rollout, 'analysis.breach', `${rollout.app}: ${severity}: ${decision.reason}`, {
        severity,
      });
    }
  }

  async #finish(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    phase: 'Completed' | 'Failed' | 'RolledBack',
    target: Target,
  ): Promise<void> {
    const { store } = this.#deps;
    if (phase === 'Completed') await store.apps.setStableRevision(rollout.app, rollout.toRevision);
    const state = rollout.state;
    const reason = state.compensation?.failure.reason;
    if (phase === 'RolledBack' && rollout.kind === 'deploy') {
      if (!this.#pendingIncidents.has(rollout.id))
        this.#pendingIncidents.set(rollout.id, {
          trigger: { kind: 'failure', message: reason ?? 'rolled back' },
          severity: 'P0',
        });
      await this.#openPendingIncident(rollout);
    }
    const message =
      phase === 'Completed'
        ? `revision ${rollout.toRevision} is stable`
        : phase === 'RolledBack'
          ? `rolled back to revision ${rollout.fromRevision}: ${reason}`
          : `revision ${rollout.toRevision} failed, revision ${rollout.fromRevision ?? 'none'} still serves: ${reason}`;
    const now = this.#clock.now();
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
    if (phase === 'Completed' && rollout.kind === 'deploy') await this.#endSupersededWatches(rollout);
    await this.#save(
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
    if (!watch) this.#deps.watch.forget(rollout.id);
    if (watch)
      await this.#event(
        rollout,
        'watch.started',
        `watching revision ${rollout.toRevision} until ${new Date(watch.until).toISOString()} (${formatDuration(watch.until - now)} left): a breach rolls it back to revision ${rollout.fromRevision}`,
        { until: watch.until },
      );
    const done = (await store.rollouts.get(rollout.id)) ?? rollout;
    const { reporter } = this.#deps;
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
      await this.#event(
        rollout,
        result.ok ? 'hook.passed' : 'hook.failed',
        `${phase === 'postPromotion' ? 'post-promotion' : 'post-rollback'} hook ${hookName(hook)}: ${result.ok ? 'passed' : result.detail}`,
      ).catch(() => {});
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
      for (const r of await this.#deps.store.rollouts.list(app, 20)) {
        const v = r.state.verification;
        if (v?.status === 'Pending' && !this.#verifying.has(r.id))
          this.#verifications.set(r.id, { app, dueAt: v.dueAt });
      }
      this.#verificationsRead.add(app);
    }
    const now = this.#clock.now();
    for (const [id, due] of this.#verifications) {
      if (due.app !== app || due.dueAt > now) continue;
      this.#verifications.delete(id);
      const run = this.#verifyRollback(ctx, id)
        .catch((err) => this.#deps.log.error({ err, app }, 'verification failed to run'))
        .finally(() => this.#verifying.delete(id));
      this.#verifying.set(id, run);
    }
  }

  /** Resolves once the verifications running now have ended. */
  async verificationsSettled(): Promise<void> {
    await Promise.allSettled([...this.#verifying.values()]);
  }

  /**
   * A rollback's verification: the checks, their event (for whoever follows the rollback without
   * an incident: a drill), the incident closed or escalated, and last the state: a controller
   * killed before that write runs it again after its restart rather than leave the incident open.
   */
  async #verifyRollback(ctx: ManagedApp, id: string): Promise<void> {
    const { store, reporter } = this.#deps;
    const rollout = await store.rollouts.get(id);
    const pending = rollout?.state.verification;
    if (!rollout || pending?.status !== 'Pending') return;
    const checks = await verifyRestored(this.#stepDeps, ctx, rollout, pending.revision);
    const passed = checks.every((c) => c.passed);
    await this.#event(
      rollout,
      passed ? 'rollout.verified' : 'rollout.verify-failed',
      describeVerification(pending.revision, checks),
      { passed, checks },
    );
    await reporter.closeIncident(rollout, { passed, checks });
    const fresh = (await store.rollouts.get(id)) ?? rollout;
    const verification: RollbackVerification = {
      ...pending,
      status: passed ? 'Passed' : 'Failed',
      endedAt: this.#clock.now(),
    };
    await store.rollouts.update(id, { state: { ...fresh.state, verification } }, fresh.generation);
  }

  async #save(
    rollout: RolloutRecord,
    patch: Parameters<Store['rollouts']['update']>[1],
    eventType?: EventType,
    message?: string,
    data?: unknown,
  ): Promise<RolloutRecord> {
    const updated = await this.#deps.store.rollouts.update(rollout.id, patch, rollout.generation);
    if (eventType && message) await this.#event(updated, eventType, message, data);
    return updated;
  }

  async #event(rollout: RolloutRecord, type: EventType, message: string, data?: unknown): Promise<void> {
    await this.#deps.store.events.append({ app: rollout.app, rolloutId: rollout.id, type, message, data });
    this.#deps.log.info({ app: rollout.app, rollout: rollout.id, type }, message);
  }
}

/** Where in a rollout a decision was taken, for the incident. */
function phaseOf(step: StepName, weight: number): string {
  if (step === 'bake') return 'the bake';
  if (step === 'pause' || step === 'analysis' || step === 'setWeight') return `the canary at ${weight}%`;
  return `step ${step}`;
}

/** The incident's trigger from an analysis decision: a rule's numbers, or a judgment's. */
function toTrigger(decision: Decision, phase: string): IncidentTrigger {
  const v = decision.verdict;
  if (v && 'rule' in v) {
    return {
      phase,
      kind: 'rule',
      rule: v.rule.name,
      metric: v.rule.metric,
      ...(v.observed === null ? {} : { observed: v.observed }),
      ...(v.threshold === null ? {} : { threshold: v.threshold }),
      window: v.window,
      ...(v.breachingSince === null ? {} : { breachingSince: v.breachingSince }),
      message: v.message,
    };
  }
  const judgment = v && 'basis' in v && v.basis === 'beforeAfter' ? 'before/after' : 'canary';
  return { phase, kind: 'judgment', judgment, metric: v?.metric, message: decision.reason };
}
