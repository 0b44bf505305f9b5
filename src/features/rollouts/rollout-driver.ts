// Runs the steps of one rollout. Each call to drive() takes as many steps as are ready and
// returns when one is waiting (for health, for the bake window) or the rollout has ended. Every
// transition is journalled (state + event) before its action runs, and every action is
// idempotent, so a controller killed at any instant resumes where it was.

import type { MetricsSource } from '../../providers/metrics-source.ts';
import type { Instance } from '../../providers/runtime.ts';
import { formatDuration } from '../../shared/duration.ts';
import type { Logger } from '../../shared/logger.ts';
import { type AppSpec, forceValue, rolloutSettings } from '../../spec/app-spec.ts';
import { type EventType, rolloutPhaseEvent } from '../../spec/events.ts';
import type { RolloutRecord, Store } from '../../store/types.ts';
import { type Decision, errorRate, type Severity, steadyStateRules } from '../analysis/index.ts';
import type { DbStepResult, RolloutDatabase } from '../database/rollout-database.ts';
import { checkName, runCheck } from '../health/probe.ts';
import type { IncidentTrigger, VerificationCheck } from '../incidents/incident.ts';
import { parseRevisionSpec, type RevisionSpec, unitOf } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import { type HookContext, type HookPhase, hookName, runHook } from './hooks.ts';
import type { RolloutReporter } from './rollout-reporter.ts';
import {
  compensationDone,
  decideNextStep,
  type Failure,
  failAt,
  type PostDeployWatch,
  type RolloutState,
  type Step,
  type StepName,
  stepDone,
  weightOfStep,
} from './rollout-state.ts';
import type { RolloutWatch, WatchResult } from './rollout-watch.ts';

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
}

/** How long after a rollback the restored revision's error rate is watched before the verdict. */
const VERIFY_WINDOW_MS = 3000;

type Outcome =
  | { readonly status: 'done'; readonly levelBefore?: number }
  | { readonly status: 'pending' }
  | { readonly status: 'failed'; readonly failure: Failure };

const DONE: Outcome = { status: 'done' };
const PENDING: Outcome = { status: 'pending' };
/** Crashes of a new revision while it should become healthy that end the wait early. */
const CRASHES_BEFORE_GIVING_UP = 2;

export class RolloutDriver {
  readonly #deps: DriverDeps;
  /** A restarted controller does not charge its own downtime to a revision's start timeout. */
  readonly #startedAt = Date.now();
  /**
   * Incidents of rollbacks decided but not yet opened: traffic moves first, the report follows.
   * (#finish opens one from the journal if a restart lost this.)
   */
  readonly #pendingIncidents = new Map<string, { trigger: IncidentTrigger; severity: Severity }>();
  /** Per app, the rollout whose id keys the steady-state watch of its stable revision. */
  readonly #steady = new Map<string, string>();

  constructor(deps: DriverDeps) {
    this.#deps = deps;
  }

  async drive(ctx: ManagedApp, initial: RolloutRecord, observe: () => Promise<Instance[]>): Promise<void> {
    const { store } = this.#deps;
    let rollout = initial;
    const to = (await store.revisions.get(rollout.app, rollout.toRevision))!;
    const target: Target = { number: to.number, unit: unitOf(to), spec: parseRevisionSpec(to.spec) };
    rollout = await this.#analyse(ctx, rollout, target, await observe());
    for (let guard = 0; guard < 50; guard++) {
      const state = rollout.state;
      const next = decideNextStep(state);
      const now = Date.now();
      if (next.type === 'finish') {
        await this.#finish(ctx, rollout, next.phase, target);
        return;
      }
      if (next.type === 'compensate') {
        const done = compensationDone(state, now);
        if (next.action === 'switchBack') {
          // Journalled first: a controller restarted here recomputes the stable-only table.
          rollout = await this.#save(
            rollout,
            { phase: 'RollingBack', state: done },
            'traffic.switched-back',
            `all traffic back on revision ${rollout.fromRevision}`,
          );
          await this.#deps.applyRoutes(ctx, rollout);
          await this.#openPendingIncident(rollout);
        } else if (next.action === 'undoMigrations') {
          await this.#undoMigrations(ctx, rollout, state);
          rollout = await this.#save(rollout, { phase: 'RollingBack', state: done });
        } else {
          await this.#stopTarget(ctx, rollout, target);
          rollout = await this.#save(rollout, { phase: 'RollingBack', state: done });
        }
        continue;
      }
      if (next.type === 'wait') {
        if (rollout.phase !== 'Paused') {
          rollout = await this.#save(rollout, { phase: 'Paused' });
          this.#deps.reporter.notify(
            rollout,
            'rollout.paused',
            `${rollout.app}: paused: ${state.paused?.reason ?? ''}`,
          );
        }
        return;
      }
      if (state.stepStartedAt === null || rollout.phase !== next.phase) {
        rollout = await this.#save(
          rollout,
          { phase: next.phase, state: { ...state, stepStartedAt: state.stepStartedAt ?? now } },
          'step.started',
          describeStep(next.step, ctx, target),
        );
      }
      const weight = weightOfStep(rollout.state);
      if (weight !== rollout.state.weight) {
        // Journal the new weight first: a controller restarted mid-switch recomputes this table.
        rollout = await this.#save(rollout, { state: { ...rollout.state, weight } });
        await this.#deps.applyRoutes(ctx, rollout);
      }
      const outcome = await this.#run(next.step, ctx, rollout, target, await observe());
      if (outcome.status === 'pending') return;
      const current = rollout.state;
      if (outcome.status === 'failed') {
        const f = outcome.failure;
        if (current.weight > 0)
          this.#pendingIncidents.set(rollout.id, {
            trigger: { kind: f.step === 'bake' ? 'health' : 'failure', message: f.reason },
            severity: 'P0',
          });
        rollout = await this.#turnAround(ctx, rollout, f, 'step.failed', `${f.step} failed: ${f.reason}`, f);
        continue;
      }
      const extra = outcome.levelBefore === undefined ? {} : { levelBefore: outcome.levelBefore };
      rollout = await this.#save(
        rollout,
        { state: { ...stepDone(current, Date.now()), ...extra } },
        'step.completed',
        `${next.step.name} done`,
      );
      await this.#deps.applyRoutes(ctx, rollout);
    }
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
            paused: { at: Date.now(), reason: `${severity}: ${decision.reason}` },
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
    const now = Date.now();
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
    const now = Date.now();
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
    const now = Date.now();
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
      { state: { ...state, watch: { ...state.watch, status: 'Ended', endedAt: Date.now(), reason } } },
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
    if (!watch.due(rollout.id, Date.now(), ctx.spec.analysis.interval)) return null;
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
      now: Date.now(),
      memory: state.analysis ?? null,
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
        watch.restart(rollout.id, Date.now());
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

  async #run(
    current: Step,
    ctx: ManagedApp,
    rollout: RolloutRecord,
    target: Target,
    instances: Instance[],
  ): Promise<Outcome> {
    const { runtime, health } = ctx.providers;
    const app = ctx.spec;
    const state = rollout.state;
    const elapsed = Date.now() - (state.stepStartedAt ?? Date.now());
    const mine = instances.filter((i) => i.revision === target.unit);
    const failed = mine.find((i) => i.phase === 'Failed');
    const step = current.name;
    switch (step) {
      case 'startRevision': {
        let env: Record<string, string>;
        try {
          env = this.#deps.envOf(ctx, target.spec);
        } catch (err) {
          return this.#failed(ctx, step, rollout, target, (err as Error).message);
        }
        for (let index = 0; index < target.spec.instances; index++) {
          const inst = await runtime.start({
            app: app.name,
            revision: target.unit,
            index,
            command: target.spec.command,
            cwd: target.spec.cwd,
            env,
            stopTimeoutMs: target.spec.stopTimeoutMs,
          });
          if (inst.phase === 'Failed')
            return this.#failed(ctx, step, rollout, target, inst.reason ?? 'failed to start');
        }
        return DONE;
      }
      case 'waitHealthy': {
        if (failed) return this.#failed(ctx, step, rollout, target, failed.reason ?? 'instance failed');
        const crashed = mine.find((i) => i.restarts >= CRASHES_BEFORE_GIVING_UP);
        if (crashed) {
          const exit = crashed.lastExit;
          const how = exit ? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`) : 'exited';
          return this.#failed(
            ctx,
            step,
            rollout,
            target,
            `instance ${crashed.index} crashed at start ${crashed.restarts} times (${how})`,
          );
        }
        const healthy = mine.filter((i) => i.phase === 'Running' && health.verdict(i.id) === 'Healthy');
        if (healthy.length >= target.spec.instances) return DONE;
        // Health is only seen while a controller probes: the time a killed controller took to come
        // back does not count against startTimeout (it used to fail resumed deploys on a busy box).
        const waited = Date.now() - Math.max(state.stepStartedAt ?? Date.now(), this.#startedAt);
        if (waited > app.health.startTimeout) {
          const detail = mine.map((i) => health.detail(i.id)).find(Boolean) ?? 'no instance running';
          return this.#failed(
            ctx,
            step,
            rollout,
            target,
            `not healthy within ${formatDuration(app.health.startTimeout)}: ${detail}`,
          );
        }
        return PENDING;
      }
      case 'prePromotionChecks': {
        const checks = rolloutSettings(app).prePromotionChecks;
        for (const check of checks) {
          const result = await runCheck(check, checkTarget(app, target.number, target.spec));
          await this.#event(
            rollout,
            result.ok ? 'check.passed' : 'check.failed',
            `check ${checkName(check)}: ${result.ok ? 'passed' : result.detail}`,
          );
          if (!result.ok)
            return this.#failed(
              ctx,
              step,
              rollout,
              target,
              `pre-promotion check ${checkName(check)} failed: ${result.detail}`,
            );
        }
        for (const hook of app.hooks.prePromotion) {
          const result = await runHook(hook, this.#hookContext('prePromotion', ctx, rollout, target));
          await this.#event(
            rollout,
            result.ok ? 'hook.passed' : 'hook.failed',
            `pre-promotion hook ${hookName(hook)}: ${result.ok ? 'passed' : result.detail}`,
          );
          if (!result.ok)
            return this.#failed(
              ctx,
              step,
              rollout,
              target,
              `pre-promotion hook ${hookName(hook)} failed: ${result.detail}`,
            );
        }
        return DONE;
      }
      case 'setWeight':
        await this.#event(
          rollout,
          'traffic.weight',
          `${state.weight}% of traffic on revision ${target.number}`,
          {
            weight: state.weight,
          },
        );
        return DONE;
      case 'pause':
        if (failed) return this.#failed(ctx, step, rollout, target, failed.reason ?? 'instance failed');
        if (current.durationMs == null) return PENDING;
        return elapsed >= current.durationMs ? DONE : PENDING;
      case 'analysis':
        if (failed) return this.#failed(ctx, step, rollout, target, failed.reason ?? 'instance failed');
        return elapsed >= (current.durationMs ?? 0) ? DONE : PENDING;
      case 'switchTraffic':
        // A warm rollback's switch was made (and recorded) when it was created.
        if (state.switchedAt === undefined)
          await this.#event(rollout, 'traffic.switched', `100% of traffic on revision ${target.number}`);
        return DONE;
      case 'bake': {
        if (failed) return this.#failed(ctx, step, rollout, target, failed.reason ?? 'instance failed');
        const sick = mine.find((i) => health.verdict(i.id) === 'Unhealthy');
        if (sick)
          return this.#failed(
            ctx,
            step,
            rollout,
            target,
            `instance ${sick.index} unhealthy while baking: ${health.detail(sick.id)}`,
          );
        return elapsed >= rolloutSettings(app).bake ? DONE : PENDING;
      }
      case 'migrateExpand':
      case 'migrateContract': {
        const db = this.#deps.database;
        if (!db || !ctx.spec.database) return DONE;
        const rev = {
          number: target.number,
          version: target.spec.version,
          migrationLevel: target.spec.migrationLevel,
        };
        const r =
          step === 'migrateExpand'
            ? await db.expand(ctx, rev, rollout.id)
            : await db.contract(ctx, rev, rollout.id);
        await this.#dbEvent(
          rollout,
          step === 'migrateExpand' ? 'database.expanded' : 'database.contracted',
          r,
        );
        if (!r.ok) return { status: 'failed', failure: { step, reason: r.reason } };
        return step === 'migrateExpand' ? { status: 'done', levelBefore: r.levelBefore } : DONE;
      }
      case 'undoContract':
      case 'undoExpand': {
        const db = this.#deps.database;
        const level = target.spec.migrationLevel;
        if (!db || !ctx.spec.database || level === null) return DONE;
        const r = await db.undo(ctx, level, step === 'undoContract' ? 'contract' : 'all', rollout.id);
        // A failed undo does not turn the rollback around: the app is on the restored revision, and
        // the verification (schema fingerprint) escalates the incident.
        await this.#dbEvent(rollout, 'database.undone', r);
        return DONE;
      }
      case 'verify': {
        const results = await Promise.all(
          mine.filter((i) => i.phase === 'Running').map((i) => health.check(i)),
        );
        const bad = results.filter((r) => !r.ok);
        const ok = results.length > 0 && bad.length === 0;
        await this.#event(
          rollout,
          ok ? 'verify.passed' : 'verify.failed',
          ok
            ? `revision ${target.number} verified healthy (${results.length} instances)`
            : `revision ${target.number} is not healthy after the rollback: ${bad[0]?.detail ?? 'no instance running'}`,
        );
        return DONE;
      }
    }
  }

  async #dbEvent(rollout: RolloutRecord, type: EventType, r: DbStepResult): Promise<void> {
    await this.#event(rollout, r.ok ? type : 'database.failed', r.ok ? r.detail : r.reason, r.data);
  }

  /** Compensation of migrateExpand: back to the level before the rollout. */
  async #undoMigrations(ctx: ManagedApp, rollout: RolloutRecord, state: RolloutState): Promise<void> {
    const db = this.#deps.database;
    if (!db || !ctx.spec.database) return;
    let level = state.levelBefore;
    if (level === undefined && rollout.fromRevision !== null) {
      const from = await this.#deps.store.revisions.get(rollout.app, rollout.fromRevision);
      level = from ? (parseRevisionSpec(from.spec).migrationLevel ?? undefined) : undefined;
    }
    // The expand never completed and recorded nothing: undo what this rollout may have applied.
    const r = await db.undo(ctx, level ?? 0, 'all', rollout.id, 'rollout');
    await this.#dbEvent(rollout, 'database.undone', r);
  }

  async #failed(
    ctx: ManagedApp,
    step: StepName,
    rollout: RolloutRecord,
    target: Target,
    reason: string,
  ): Promise<Outcome> {
    const lines = await ctx.providers.runtime
      .logs(rollout.app, { revision: target.unit, tail: 15 })
      .catch(() => []);
    return { status: 'failed', failure: { step, reason, logs: lines.map((l) => l.line) } };
  }

  async #stopTarget(ctx: ManagedApp, rollout: RolloutRecord, target: Target): Promise<void> {
    // A unit that also serves the stable revision (a rollback's copy) is never stopped here.
    const { store } = this.#deps;
    const { runtime } = ctx.providers;
    if (rollout.fromRevision !== null) {
      const from = await store.revisions.get(rollout.app, rollout.fromRevision);
      if (from && unitOf(from) === target.unit) return;
    }
    await this.#deps.applyRoutes(ctx, rollout);
    await runtime.stopRevision(rollout.app, target.unit);
    await this.#event(rollout, 'revision.stopped', `stopped the processes of revision ${target.number}`);
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
    const now = Date.now();
    const watchMs = rolloutSettings(ctx.spec).watch;
    // A deploy that replaced a revision is watched from its first request; one with nothing to go
    // back to is simply stable.
    const watch: PostDeployWatch | null =
      phase === 'Completed' && rollout.kind === 'deploy' && rollout.fromRevision !== null && watchMs > 0
        ? { until: (state.analysis?.since ?? now) + watchMs, status: 'Watching' }
        : null;
    if (phase === 'Completed' && rollout.kind === 'deploy') await this.#endSupersededWatches(rollout);
    await this.#save(
      rollout,
      { phase, finishedAt: now, ...(watch ? { state: { ...state, watch } } : {}) },
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
    if (phase === 'RolledBack' || (phase === 'Completed' && rollout.kind === 'rollback')) {
      // The verdict needs a few seconds of traffic on the restored revision: it runs apart from the loop.
      const restored = rollout.kind === 'rollback' ? rollout.toRevision : rollout.fromRevision;
      if (restored !== null) {
        void this.#verify(ctx, done, restored)
          .then(async (checks) => {
            const passed = checks.every((c) => c.passed);
            // Journalled for whoever follows the rollback without an incident (a drill).
            await this.#event(
              done,
              passed ? 'rollout.verified' : 'rollout.verify-failed',
              `revision ${restored} ${passed ? 'verified' : 'failed its verification'}: ${checks.map((c) => `${c.name} ${c.notChecked ? 'not checked' : c.passed ? 'passed' : 'failed'}`).join(', ')}`,
              { passed, checks },
            );
            await reporter.closeIncident(done, { passed, checks });
          })
          .catch((err) => this.#deps.log.error({ err, app: rollout.app }, 'verification failed to run'));
      }
    }
    if (phase === 'Completed') {
      const app = await store.apps.get(rollout.app);
      const spec = app?.spec as { history?: number } | undefined;
      const protect = [rollout.toRevision, ...(rollout.fromRevision === null ? [] : [rollout.fromRevision])];
      await store.revisions.prune(rollout.app, spec?.history ?? 10, protect);
    }
  }

  #hookContext(phase: HookPhase, ctx: ManagedApp, rollout: RolloutRecord, target: Target): HookContext {
    return {
      phase,
      app: ctx.spec.name,
      rolloutId: rollout.id,
      revision: target.number,
      version: target.spec.version,
      previousRevision: rollout.fromRevision,
      cwd: target.spec.cwd,
      env: target.spec.env,
    };
  }

  /** After-the-fact hooks: recorded as events; they change nothing. */
  async #runHooks(phase: HookPhase, ctx: ManagedApp, rollout: RolloutRecord, target: Target): Promise<void> {
    const hooks = phase === 'postPromotion' ? ctx.spec.hooks.postPromotion : ctx.spec.hooks.postRollback;
    for (const hook of hooks) {
      const result = await runHook(hook, this.#hookContext(phase, ctx, rollout, target));
      await this.#event(
        rollout,
        result.ok ? 'hook.passed' : 'hook.failed',
        `${phase === 'postPromotion' ? 'post-promotion' : 'post-rollback'} hook ${hookName(hook)}: ${result.ok ? 'passed' : result.detail}`,
      ).catch(() => {});
    }
  }

  /**
   * Is the revision rolled back to serving well? Its instances pass their health check, the
   * pre-promotion checks pass against it, and its error rate over the next seconds is back to
   * what it was before the rollout.
   */
  async #verify(ctx: ManagedApp, rollout: RolloutRecord, restored: number): Promise<VerificationCheck[]> {
    const { store, metrics } = this.#deps;
    const { runtime, health } = ctx.providers;
    const app = ctx.spec;
    const rev = await store.revisions.get(rollout.app, restored);
    if (!rev) return [{ name: 'revision exists', passed: false, detail: `revision ${restored} is gone` }];
    const unit = unitOf(rev);
    const spec = parseRevisionSpec(rev.spec);
    await new Promise((r) => setTimeout(r, VERIFY_WINDOW_MS));
    const checks: VerificationCheck[] = [];
    const instances = (await runtime.list(rollout.app)).filter(
      (i) => i.revision === unit && i.phase === 'Running',
    );
    const probes = await Promise.all(instances.map((i) => health.check(i)));
    const sick = probes.filter((p) => !p.ok);
    checks.push({
      name: 'health',
      passed: probes.length > 0 && sick.length === 0,
      detail:
        probes.length === 0
          ? 'no instance running'
          : sick.length
            ? sick[0]!.detail
            : `${probes.length} instance(s) healthy`,
    });
    for (const check of rolloutSettings(app).prePromotionChecks) {
      const r = await runCheck(check, checkTarget(app, restored, spec));
      checks.push({ name: checkName(check), passed: r.ok, detail: r.ok ? 'passed' : r.detail });
    }
    // A failed read is no traffic on either side (0% against 0%), as when the read threw before
    // reads returned their failure; saying "not checked" instead would change the verdict.
    const { samples } = await metrics.read(rollout.app, Math.floor(rollout.createdAt / 1000) - 60);
    const rate = (from: number, to: number) => {
      let requests = 0;
      let errors5xx = 0;
      let connectFailures = 0;
      for (const b of samples) {
        if (b.second < from || b.second >= to) continue;
        for (const c of b.revisions) {
          if (c.revision !== restored && !(rollout.kind === 'rollback' && c.revision === rev.copiedFrom))
            continue;
          requests += c.requests;
          errors5xx += c.errors5xx;
          connectFailures += c.connectFailures;
        }
      }
      return { requests, rate: errorRate({ requests, errors5xx, connectFailures }) ?? 0 };
    };
    const startSecond = Math.floor(rollout.createdAt / 1000);
    const before = rate(startSecond - 60, startSecond);
    const after = rate(Math.floor((Date.now() - VERIFY_WINDOW_MS) / 1000), Math.floor(Date.now() / 1000));
    const allowed = Math.max(before.rate * 2, before.rate + 0.01);
    const db = this.#deps.database;
    if (db && app.database && spec.migrationLevel !== null)
      checks.push(...(await db.verify(ctx, spec.migrationLevel)));
    checks.push({
      name: 'error rate back to its level before the rollout',
      passed: after.rate <= allowed,
      detail: `${(after.rate * 100).toFixed(2)}% of ${after.requests} requests after, ${(before.rate * 100).toFixed(2)}% of ${before.requests} before`,
    });
    return checks;
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

interface Target {
  readonly number: number;
  readonly unit: number;
  readonly spec: RevisionSpec;
}

/**
 * What a pre-promotion check runs against: the app's listener, forced to `revision`. The same for
 * the checks before a promotion and for their run again in a rollback's verification, so that a
 * check script sees the same environment in both.
 */
function checkTarget(app: AppSpec, revision: number, spec: RevisionSpec): Parameters<typeof runCheck>[1] {
  const base = `http://${app.listen.host.includes(':') ? `[${app.listen.host}]` : app.listen.host}:${app.listen.port}`;
  const force = forceValue(app, revision);
  return {
    baseUrl: base,
    headers: { [app.routing.forceHeader]: force },
    cwd: spec.cwd,
    env: {
      ...spec.env,
      REWIND_APP: app.name,
      REWIND_REVISION: String(revision),
      REWIND_TARGET_URL: base,
      REWIND_FORCE_HEADER: `${app.routing.forceHeader}: ${force}`,
    },
  };
}

function describeStep(current: Step, ctx: ManagedApp, target: Target): string {
  const app = ctx.spec;
  switch (current.name) {
    case 'setWeight':
      return `setting ${current.weight}% of traffic on revision ${target.number}`;
    case 'pause':
      return current.durationMs == null
        ? `paused until \`rewind promote ${app.name}\``
        : `pausing for ${formatDuration(current.durationMs)}`;
    case 'analysis':
      return `analysing revision ${target.number} for ${formatDuration(current.durationMs ?? 0)}`;
    case 'startRevision':
      return `starting ${target.spec.instances} instance(s) of revision ${target.number} (${target.spec.version})`;
    case 'waitHealthy':
      return `waiting for revision ${target.number} to pass ${app.health.path} (up to ${formatDuration(app.health.startTimeout)})`;
    case 'prePromotionChecks':
      return `running ${rolloutSettings(app).prePromotionChecks.length} pre-promotion check(s) on revision ${target.number}`;
    case 'switchTraffic':
      return `switching all traffic to revision ${target.number}`;
    case 'bake':
      return `baking revision ${target.number} for ${formatDuration(rolloutSettings(app).bake)}; the previous revision stays warm`;
    case 'verify':
      return `verifying revision ${target.number}`;
    case 'migrateExpand':
      return `running the expand migrations of ${target.spec.version} (up to level ${target.spec.migrationLevel ?? 0})`;
    case 'migrateContract':
      return `running the contract migrations of ${target.spec.version}, each after a backup`;
    case 'undoContract':
      return `undoing contract migrations above level ${target.spec.migrationLevel ?? 0}`;
    case 'undoExpand':
      return `undoing migrations above level ${target.spec.migrationLevel ?? 0}`;
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
