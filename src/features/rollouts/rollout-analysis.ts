// The analysis half of the rollout driver: while a deploy's new revision takes traffic, through its
// post-deploy watch and, once the app is steady, for the rules marked `watch: always`, it asks the
// analysis (RolloutWatch) for a decision and acts on it: roll back, pause, kill switch or notify.
// It journals through the core it shares with the step half (driver-core.ts, rollout-driver.ts).

import type { Instance } from '../../providers/runtime.ts';
import { formatDuration } from '../../shared/duration.ts';
import type { RolloutRecord } from '../../store/types.ts';
import { type Decision, type Severity, steadyStateRules } from '../analysis/index.ts';
import { decisionRecord } from '../incidents/evidence.ts';
import type { IncidentTrigger } from '../incidents/incident.ts';
import { parseRevisionSpec, unitOf } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import type { DriverCore } from './driver-core.ts';
import type { StepName } from './rollout-state.ts';
import type { WatchResult } from './rollout-watch.ts';
import type { Target } from './steps/step-context.ts';

export class RolloutAnalysis {
  readonly #core: DriverCore;
  /** Per app, the rollout whose id keys the steady-state watch of its stable revision. */
  readonly #steady = new Map<string, string>();

  constructor(core: DriverCore) {
    this.#core = core;
  }

  /**
   * While the new revision takes traffic (a canary step, a pause, the bake), the analysis decides:
   * roll back (P0, a P1 past the monitoring window, a service-down breach, a release judged worse
   * than the stable revision beside it or than the previous one before the switch), pause (P2) or
   * notify (P3). A rollback turns the rollout around here; the loop then runs the compensations.
   */
  async analyse(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    target: Target,
    instances: Instance[],
  ): Promise<RolloutRecord> {
    const state = rollout.state;
    const { watch, reporter } = this.#core.deps;
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
      this.#core.pendingIncidents.set(rollout.id, { trigger, severity });
      return this.#core.turnAround(
        ctx,
        rollout,
        failure,
        'analysis.decision',
        `rolling back: ${decision.reason}`,
        {
          severity,
          trigger,
          summary,
          ...decisionRecord(decision, evaluated.result),
        },
      );
    }
    if (decision.action === 'pause') {
      if (state.paused) return rollout;
      const updated = await this.#core.save(
        rollout,
        {
          phase: 'Paused',
          // The state as evaluated (it may have recorded the analysis' memory just now).
          state: {
            ...rollout.state,
            paused: { at: this.#core.clock.now(), reason: `${severity}: ${decision.reason}` },
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
    const { store, watch } = this.#core.deps;
    const now = this.#core.clock.now();
    if (now >= watchState.until) {
      // Say what was judged, not "passed": a watch without traffic judged nothing.
      const latest = watch.latest(rollout.id);
      await this.#core.save(
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
      const ended = await this.#core.save(
        rollout,
        { state: { ...current, watch: { ...watchState, status: 'RolledBack', endedAt: now, reason } } },
        'analysis.decision',
        `rolling back during the watch: ${decision.reason}`,
        { severity, trigger, summary, ...decisionRecord(decision, evaluated.result) },
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
    const { store, watch, reporter } = this.#core.deps;
    const rules = steadyStateRules(ctx.spec.analysis);
    const app = ctx.spec.name;
    const previous = this.#steady.get(app);
    if (previous !== undefined && previous !== rollout.id) this.endSteady(app);
    if (rules.length === 0) return;
    const now = this.#core.clock.now();
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
      runtime: ctx.providers.runtime,
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
      await this.#core.event(
        rollout,
        'analysis.decision',
        `rolling back stable revision ${target.number} (steady-state watch): ${decision.reason}`,
        { severity, trigger, summary, ...decisionRecord(decision, result) },
      );
      this.endSteady(app);
      try {
        await rollBack({ reason, trigger, severity });
      } catch (err) {
        // No earlier revision (or none left): a person decides, and is told so.
        const message = `${severity}: ${decision.reason}; cannot roll back revision ${target.number}: ${(err as Error).message}`;
        await this.#core.event(rollout, 'analysis.breach', message, { severity, trigger });
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
    await this.#core.event(rollout, 'analysis.breach', `${severity}: ${decision.reason}`, {
      severity,
      trigger,
    });
    this.#core.deps.reporter.notify(
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
    this.#core.deps.watch.forget(id);
  }

  /**
   * A deploy that completed supersedes the watch of the one before it. (A deploy that failed or
   * was rolled back does not: the stable revision's watch goes on once it is over.)
   */
  async endSupersededWatches(rollout: RolloutRecord): Promise<void> {
    for (const r of await this.#core.deps.store.rollouts.list(rollout.app, 20)) {
      if (r.id !== rollout.id && r.kind === 'deploy')
        await this.endWatch(r, `superseded by revision ${rollout.toRevision}`);
    }
  }

  /** Ends a deploy's post-deploy watch, if it is still watching (a write, an event, its memory dropped). */
  async endWatch(rollout: RolloutRecord, reason: string): Promise<void> {
    const state = rollout.state;
    if (state.watch?.status !== 'Watching') return;
    await this.#core.save(
      rollout,
      {
        state: {
          ...state,
          watch: { ...state.watch, status: 'Ended', endedAt: this.#core.clock.now(), reason },
        },
      },
      'watch.ended',
      `watch of revision ${rollout.toRevision} ended: ${reason}`,
    );
    this.#core.deps.watch.forget(rollout.id);
  }

  /** One evaluation of the analysis for a deploy; what must survive a restart goes to its state. */
  async #evaluate(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    target: Target,
    instances: Instance[],
  ): Promise<{ rollout: RolloutRecord; result: WatchResult } | null> {
    const { watch, store } = this.#core.deps;
    const state = rollout.state;
    if (!watch.due(rollout.id, this.#core.clock.now(), ctx.spec.analysis.interval)) return null;
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
      now: this.#core.clock.now(),
      memory: state.analysis ?? null,
      startedAt: rollout.createdAt,
      runtime: ctx.providers.runtime,
    });
    if (!result) return null;
    if (result.remember)
      rollout = await this.#core.save(rollout, { state: { ...state, analysis: result.remember } });
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
    const { watch, reporter } = this.#core.deps;
    if (decision.action === 'disableFlag') {
      const flag = (decision.verdict as { rule: { flag: string } }).rule.flag;
      const { killSwitch } = this.#core.deps;
      if (!killSwitch) return;
      try {
        const incident = await killSwitch({
          app: rollout.app,
          flag,
          reason: decision.reason,
          trigger,
          rolloutId: rollout.id,
          severity,
          revision: target.number,
          drill: rollout.state.drill,
        });
        watch.restart(rollout.id, this.#core.clock.now());
        await this.#core.event(
          rollout,
          'flags.killSwitch',
          `kill switch: flag ${flag} disabled, revision ${target.number} stays: ${decision.reason}`,
          { severity, trigger, flag, incident },
        );
      } catch (err) {
        // An unknown flag cannot be switched off; the event says so and the other rules judge on.
        await this.#core.event(
          rollout,
          'flags.killSwitchFailed',
          `kill switch for flag ${flag} failed: ${(err as Error).message}`,
        );
      }
      return;
    }
    if (decision.action !== 'none' && decision.notify) {
      await this.#core.event(rollout, 'analysis.breach', `${severity}: ${decision.reason}`, {
        severity,
        trigger,
      });
      reporter.notify(rollout, 'analysis.breach', `${rollout.app}: ${severity}: ${decision.reason}`, {
        severity,
      });
    }
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
