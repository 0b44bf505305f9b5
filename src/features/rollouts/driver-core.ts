// What the two halves of the rollout driver share: its dependencies, the clock, the incidents of
// rollbacks decided but not yet opened, and the journal writes. The step half (rollout-driver.ts)
// and the analysis half (rollout-analysis.ts) both turn a rollout around through turnAround().

import type { MetricsSource } from '../../providers/metrics-source.ts';
import type { Logger } from '../../shared/logger.ts';
import type { EventType } from '../../spec/events.ts';
import type { RolloutRecord, Store } from '../../store/types.ts';
import type { Severity } from '../analysis/index.ts';
import type { RolloutDatabase } from '../database/rollout-database.ts';
import type { IncidentTrigger } from '../incidents/incident.ts';
import type { RevisionSpec } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import type { RolloutReporter } from './rollout-reporter.ts';
import { compensationDone, decideNextStep, type Failure, failAt } from './rollout-state.ts';
import type { RolloutWatch } from './rollout-watch.ts';
import { type Clock, systemClock } from './steps/step-context.ts';

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
    /** The revision the rule judged: it served with the flag on, and keeps serving. */
    revision: number;
    /** A drill's rollout: the flag goes off, no incident opens. */
    drill?: string;
  }) => Promise<string | null>;
  /** The time; the system's unless a test holds it. */
  readonly clock?: Clock;
  /** After a rollback's verification: maintenance mode turned on for it goes off (maintenance.ts). */
  readonly endMaintenance?: (ctx: ManagedApp, rollout: RolloutRecord, verdict: string) => Promise<void>;
}

export class DriverCore {
  readonly deps: DriverDeps;
  readonly clock: Clock;
  /**
   * Incidents of rollbacks decided but not yet opened: traffic moves first, the report follows.
   * (The driver's finish opens one from the journal if a restart lost this.)
   */
  readonly pendingIncidents = new Map<string, { trigger: IncidentTrigger; severity: Severity }>();

  constructor(deps: DriverDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
  }

  /**
   * Turns the rollout around at `failure`. When its first compensation is the switch back, that
   * switch is journalled in the same write and put in force at once: one write and one table
   * between the decision and the traffic being back. The incident follows.
   */
  async turnAround(
    ctx: ManagedApp,
    rollout: RolloutRecord,
    failure: Failure,
    eventType: EventType,
    message: string,
    data: unknown,
  ): Promise<RolloutRecord> {
    const now = this.clock.now();
    const failed = failAt(rollout.state, failure, now);
    const next = decideNextStep(failed);
    const back = next.type === 'compensate' && next.action === 'switchBack';
    const updated = await this.save(
      rollout,
      { phase: 'RollingBack', state: back ? compensationDone(failed, now) : failed, error: failure.reason },
      eventType,
      message,
      data,
    );
    await this.deps.applyRoutes(ctx, updated);
    if (back) {
      await this.event(
        updated,
        'traffic.switched-back',
        `all traffic back on revision ${updated.fromRevision}`,
      );
      await this.openPendingIncident(updated);
    }
    return updated;
  }

  /** Opens the incident of a rollback decided earlier in this process, once traffic has moved. */
  async openPendingIncident(rollout: RolloutRecord): Promise<void> {
    const pending = this.pendingIncidents.get(rollout.id);
    if (!pending) return;
    this.pendingIncidents.delete(rollout.id);
    await this.deps.reporter.openIncident(rollout, pending.trigger, pending.severity);
  }

  /** Journals a transition: the write, then its event when it has one. */
  async save(
    rollout: RolloutRecord,
    patch: Parameters<Store['rollouts']['update']>[1],
    eventType?: EventType,
    message?: string,
    data?: unknown,
  ): Promise<RolloutRecord> {
    const updated = await this.deps.store.rollouts.update(rollout.id, patch, rollout.generation);
    if (eventType && message) await this.event(updated, eventType, message, data);
    return updated;
  }

  /** Appends an event to the rollout's journal (and the log). */
  async event(rollout: RolloutRecord, type: EventType, message: string, data?: unknown): Promise<void> {
    await this.deps.store.events.append({ app: rollout.app, rolloutId: rollout.id, type, message, data });
    this.deps.log.info({ app: rollout.app, rollout: rollout.id, type }, message);
  }
}
