// What a step of a rollout gets and returns. The driver builds one StepContext per step it runs
// (the rollout as journalled, the app, the revision being rolled out, what this tick observed, and
// the dependencies a step may use); a handler runs the step and says how it went as data. Handlers
// never write the rollout's state: the driver journals every transition, so that a controller
// killed at any instant resumes where it was.

import type { HealthSource } from '../../../providers/health-source.ts';
import type { MetricsSource } from '../../../providers/metrics-source.ts';
import type { Instance, Runtime } from '../../../providers/runtime.ts';
import type { Logger } from '../../../shared/logger.ts';
import { type AppSpec, forceValue } from '../../../spec/app-spec.ts';
import type { EventType } from '../../../spec/events.ts';
import type { RolloutRecord, Store } from '../../../store/types.ts';
import type { DbStepResult, RolloutDatabase } from '../../database/rollout-database.ts';
import type { runCheck } from '../../health/probe.ts';
import type { RevisionSpec } from '../../revisions/revision-spec.ts';
import type { ManagedApp } from '../app-context.ts';
import type { HookContext, HookPhase } from '../hooks.ts';
import type { RolloutReporter } from '../rollout-reporter.ts';
import type { CompensationAction, Failure, Step, StepName } from '../rollout-state.ts';

/** The revision a rollout moves to. */
export interface Target {
  readonly number: number;
  /** Whose processes serve it (a rollback's copy runs its source's). */
  readonly unit: number;
  readonly spec: RevisionSpec;
}

/** The time, from one place: a test moves it by hand. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** How a step went: done (the driver moves on), pending (asked again next tick) or failed (turned around). */
export type Outcome =
  | { readonly status: 'done'; readonly levelBefore?: number }
  | { readonly status: 'pending' }
  | { readonly status: 'failed'; readonly failure: Failure };

export const DONE: Outcome = { status: 'done' };
export const PENDING: Outcome = { status: 'pending' };

/** The dependencies of the steps: the same for every step of every rollout of a driver. */
export interface StepDeps {
  readonly store: Store;
  readonly metrics: MetricsSource;
  readonly reporter: RolloutReporter;
  readonly log: Logger;
  readonly clock: Clock;
  /** Puts the traffic plan derived from the rollout's journalled state in force (the app's router). */
  readonly applyRoutes: (app: ManagedApp, rollout: RolloutRecord | null) => Promise<void>;
  /** The environment an instance of the revision runs with. Throws when a secret cannot be opened. */
  readonly envOf: (app: ManagedApp, spec: RevisionSpec) => Record<string, string>;
  /** Migrations of apps that declare a database. */
  readonly database?: RolloutDatabase;
}

/** One step of one rollout, as a handler sees it. */
export interface StepContext extends StepDeps {
  readonly rollout: RolloutRecord;
  readonly step: Step;
  /** The app: its spec, its directory and the providers built for it. */
  readonly app: ManagedApp;
  readonly runtime: Runtime;
  readonly health: HealthSource;
  readonly target: Target;
  /** What this tick observed of the app's instances. */
  readonly instances: readonly Instance[];
  /** When this controller started: its own downtime is not charged to a revision's start timeout. */
  readonly controllerStartedAt: number;
  /** Appends an event to the rollout's journal (and the log). */
  readonly event: (type: EventType, message: string, data?: unknown) => Promise<void>;
}

/** A compensation: how a step that changed something outside is undone after a failure. */
export interface Compensation {
  /** The action decideNextStep names for the step (COMPENSATIONS in rollout-state.ts). */
  readonly action: CompensationAction;
  run(sc: StepContext): Promise<void>;
}

export interface StepHandler {
  /** What the step does, for its `step.started` event. */
  describe(sc: StepContext): string;
  /** Runs (or looks again at) the step; idempotent: it may run again after a restart. */
  run(sc: StepContext): Promise<Outcome>;
  /** Undoes what the step changed outside, where it changes something. */
  readonly compensate?: Compensation;
}

/** A failure of the current step, with the last lines the revision printed. */
export async function failed(sc: StepContext, reason: string): Promise<Outcome> {
  const lines = await sc.runtime.logs(sc.rollout.app, { revision: sc.target.unit, tail: 15 }).catch(() => []);
  return { status: 'failed', failure: { step: sc.step.name, reason, logs: lines.map((l) => l.line) } };
}

/** The target's instances as this tick observed them. */
export function targetInstances(sc: StepContext): Instance[] {
  return sc.instances.filter((i) => i.revision === sc.target.unit);
}

/** A failed instance of the target ends a step that waits on it. */
export async function failedInstance(sc: StepContext): Promise<Outcome | null> {
  const dead = targetInstances(sc).find((i) => i.phase === 'Failed');
  return dead ? failed(sc, dead.reason ?? 'instance failed') : null;
}

/** How long the current step has run, by the journal. */
export function elapsed(sc: StepContext): number {
  const now = sc.clock.now();
  return now - (sc.rollout.state.stepStartedAt ?? now);
}

export async function dbEvent(sc: StepContext, type: EventType, r: DbStepResult): Promise<void> {
  await sc.event(r.ok ? type : 'database.failed', r.ok ? r.detail : r.reason, r.data);
}

export function hookContext(
  phase: HookPhase,
  app: ManagedApp,
  rollout: RolloutRecord,
  target: Target,
): HookContext {
  return {
    phase,
    app: app.spec.name,
    rolloutId: rollout.id,
    revision: target.number,
    version: target.spec.version,
    previousRevision: rollout.fromRevision,
    cwd: target.spec.cwd,
    env: target.spec.env,
  };
}

/**
 * What a pre-promotion check runs against: the app's listener, forced to `revision`. The same for
 * the checks before a promotion and for their run again in a rollback's verification, so that a
 * check script sees the same environment in both.
 */
export function checkTarget(
  app: AppSpec,
  revision: number,
  spec: RevisionSpec,
): Parameters<typeof runCheck>[1] {
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

/** A handler's step name, for the map's checks. */
export type StepHandlers = Record<StepName, StepHandler>;
