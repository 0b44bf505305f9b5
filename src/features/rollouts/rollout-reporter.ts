// What people hear about rollouts: notifications at each turn, and an incident for every
// rollback, automatic or manual, with its timeline, impact and verification.
import type { MetricsSource } from '../../providers/metrics-source.ts';
import type { Runtime } from '../../providers/runtime.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Severity } from '../../spec/severity.ts';
import type { EventRecord, IncidentRecord, RolloutRecord, Store } from '../../store/types.ts';
import { collectEvidence } from '../incidents/collect-evidence.ts';
import type { Incident, IncidentTrigger, TimelineEntry, VerificationCheck } from '../incidents/incident.ts';
import { computeImpact, type IncidentService, type WeightPoint } from '../incidents/incident-service.ts';
import type { NotificationInput } from '../notifications/notification-hub.ts';
import type { RevisionSpec } from '../revisions/revision-spec.ts';

export interface ReporterDeps {
  readonly store: Store;
  readonly incidents: IncidentService;
  readonly notify: (n: NotificationInput) => void;
  readonly metrics: MetricsSource;
  readonly log: Logger;
  /** The app's runtime, where the incident's evidence reads the bad revision's last log lines. */
  readonly runtimeOf?: (app: string) => Runtime | undefined;
  /** The values an instance of the revision must never show (its opened secrets, tokens); may throw. */
  readonly secretsOf?: (app: string, spec: RevisionSpec) => readonly string[];
}

/** Timeline entries worth a post-mortem, from a rollout's events. */
const TIMELINE_EVENTS: Record<string, string> = {
  'deploy.started': 'Deploy started',
  'rollback.started': 'Manual rollback started',
  'traffic.weight': 'Traffic shifted',
  'traffic.switched': 'Traffic switched',
  'analysis.breach': 'Breach first seen',
  'analysis.decision': 'Decision: roll back',
  'step.failed': 'Step failed',
  'rollout.aborted': 'Aborted by hand',
  'traffic.switched-back': 'Traffic restored to the stable revision',
  'revision.stopped': 'Bad revision stopped',
  'rollout.rolledback': 'Rollback done',
  'rollout.completed': 'Rollout completed',
  'maintenance.on': 'Maintenance mode on',
  'maintenance.off': 'Maintenance mode off',
};

/** Events that mark the moment a rollback began. */
const ROLLBACK_STARTS = new Set(['step.failed', 'analysis.decision', 'rollout.aborted', 'rollback.started']);

export class RolloutReporter {
  readonly #deps: ReporterDeps;

  constructor(deps: ReporterDeps) {
    this.#deps = deps;
  }

  notify(
    rollout: RolloutRecord,
    type: NotificationInput['type'],
    message: string,
    extra: Partial<NotificationInput> = {},
  ): void {
    const drill = drillOf(rollout);
    this.#deps.notify({
      type,
      app: rollout.app,
      message: drill ? `drill ${drill}: ${message}` : message,
      rolloutId: rollout.id,
      ...extra,
      ...(drill && { data: { ...(extra.data as object | undefined), drill } }),
    });
  }

  /**
   * Opens the rollback's incident (once per rollout); returns its id. A drill's rollback opens
   * none (it rehearses, nothing is wrong): people hear of it as a drill, and the drill report
   * holds what an incident would.
   */
  async openIncident(
    rollout: RolloutRecord,
    trigger: IncidentTrigger,
    severity: Severity,
  ): Promise<string | null> {
    const { store, incidents, log } = this.#deps;
    if (drillOf(rollout)) {
      this.notify(rollout, 'rollout.rolledback', `rolling back ${rollout.app}: ${trigger.message}`);
      return null;
    }
    try {
      const existing = (await store.incidents.list({ app: rollout.app, limit: 20 })).find(
        (i) => i.rolloutId === rollout.id,
      );
      if (existing) return existing.id;
      const ref = async (n: number | null) => {
        if (n === null) return null;
        const r = await store.revisions.get(rollout.app, n);
        return { number: n, version: r?.version ?? '?' };
      };
      // A rollback rollout moves from the bad revision (from) to a good copy (to); a deploy that is
      // rolled back moved from the good one (from) to the bad one (to).
      const [bad, good] =
        rollout.kind === 'rollback'
          ? [rollout.fromRevision, rollout.toRevision]
          : [rollout.toRevision, rollout.fromRevision];
      const incident = await incidents.open({
        app: rollout.app,
        rolloutId: rollout.id,
        severity,
        revisions: { from: await ref(good), to: (await ref(bad))! },
        trigger,
        title: `${rollout.app}: rolled back ${(await ref(bad))?.version ?? '?'}: ${shorten(trigger.message.split(': ')[0] ?? trigger.message, 80)}`,
        timeline: await this.#timeline(rollout),
      });
      this.notify(rollout, 'rollout.rolledback', `rolling back ${rollout.app}: ${trigger.message}`, {
        incidentId: incident.id,
        severity,
      });
      return incident.id;
    } catch (err) {
      log.error({ err, app: rollout.app }, 'could not open the incident');
      return null;
    }
  }

  /** After the rollback: timeline, timings, impact, then the verification verdict. */
  async closeIncident(
    rollout: RolloutRecord,
    verification: { passed: boolean; checks: VerificationCheck[] },
    /** The restored revision is watched until then: the incident is Verifying, not yet resolved. */
    watch?: { revision: number; until: number },
  ): Promise<void> {
    const { store, incidents, metrics, log } = this.#deps;
    try {
      const record = (await store.incidents.list({ app: rollout.app, limit: 20 })).find(
        (i) => i.rolloutId === rollout.id,
      );
      if (!record) return;
      const events = await store.events.list({ rolloutId: rollout.id, limit: 1000 });
      const known = new Set((await incidents.get(record.id))?.timeline.map((t) => `${t.at}:${t.event}`));
      for (const entry of toTimeline(events))
        if (!known.has(`${entry.at}:${entry.event}`)) await incidents.addTimeline(record.id, entry);
      for (const e of events.filter(
        (x) =>
          x.type === 'rollout.aborted' || x.type === 'traffic.switched-back' || x.type === 'revision.stopped',
      )) {
        await incidents.addAction(record.id, {
          at: e.at,
          action: e.message,
          by: e.type === 'rollout.aborted' ? 'user' : 'rewind',
          result: 'done',
        });
      }
      const switchedBack = events.find(
        (e) =>
          e.type === 'traffic.switched-back' ||
          (rollout.kind === 'rollback' && e.type === 'traffic.switched'),
      );
      // A rollback rollout starts when it is created (a warm one switches before its start event).
      const started =
        rollout.kind === 'rollback' ? rollout.createdAt : events.find((e) => ROLLBACK_STARTS.has(e.type))?.at;
      await incidents.setRollback(record.id, {
        ...(started === undefined ? {} : { startedAt: started }),
        ...(switchedBack === undefined ? {} : { trafficRestoredAt: switchedBack.at }),
        completedAt: rollout.finishedAt ?? Date.now(),
      });
      const [bad, good] =
        rollout.kind === 'rollback'
          ? [rollout.fromRevision, rollout.toRevision]
          : [rollout.toRevision, rollout.fromRevision];
      if (bad !== null) {
        // A failed read leaves the impact at zero, as before: the incident is still completed.
        const read = await metrics.read(rollout.app, Math.floor(rollout.createdAt / 1000) - 1);
        if (read.phase === 'Error')
          log.warn({ app: rollout.app, error: read.error }, 'no metrics for the impact');
        await incidents.setImpact(
          record.id,
          computeImpact(read.samples, bad, good, weightHistory(rollout, events, bad, good)),
        );
        await this.#keepEvidence(record, rollout, events);
      }
      if (watch && verification.passed)
        await incidents.startWatch(record.id, { ...watch, checks: verification.checks });
      else await incidents.setVerification(record.id, verification);
    } catch (err) {
      log.error({ err, app: rollout.app }, 'could not complete the incident');
    }
  }

  /** The seconds since `sinceSecond` of the incident's revisions, added to its evidence (the watch's). */
  async appendSeries(rollout: RolloutRecord, sinceSecond: number): Promise<void> {
    const { store, incidents, metrics, log } = this.#deps;
    try {
      const record = (await store.incidents.list({ app: rollout.app, limit: 20 })).find(
        (i) => i.rolloutId === rollout.id,
      );
      if (!record) return;
      const read = await metrics.read(rollout.app, sinceSecond);
      if (read.phase === 'Successful') await incidents.appendSeries(record.id, read.samples);
    } catch (err) {
      log.warn({ err, app: rollout.app }, "could not add the watch's seconds to the incident's evidence");
    }
  }

  /** The end of the watch after a rollback: the incident resolved, or escalated to P0. */
  async endVerification(
    rollout: RolloutRecord,
    end: {
      passed: boolean;
      checks: VerificationCheck[];
      result: 'Passed' | 'Failed' | 'Superseded';
      reason: string;
    },
  ): Promise<void> {
    const { store, incidents, log } = this.#deps;
    try {
      const record = (await store.incidents.list({ app: rollout.app, limit: 20 })).find(
        (i) => i.rolloutId === rollout.id,
      );
      if (!record) return;
      await incidents.setVerification(record.id, {
        passed: end.passed,
        checks: end.checks,
        watch: { result: end.result, reason: end.reason },
      });
    } catch (err) {
      log.error({ err, app: rollout.app }, 'could not record the end of the watch in the incident');
    }
  }

  /**
   * The evidence of the rollback, before the data plane's seconds roll over and the bad revision's
   * lines go. A failure to keep it is logged: the incident is completed without it.
   */
  async #keepEvidence(
    record: IncidentRecord,
    rollout: RolloutRecord,
    events: readonly EventRecord[],
  ): Promise<void> {
    const { store, incidents, metrics, log, runtimeOf, secretsOf } = this.#deps;
    try {
      const sources = {
        store,
        metrics,
        runtime: runtimeOf?.(rollout.app),
        secretsOf: (spec: RevisionSpec) => secretsOf?.(rollout.app, spec) ?? [],
      };
      const incident = record.data as Incident;
      await incidents.setEvidence(record.id, await collectEvidence(sources, { incident, rollout, events }));
    } catch (err) {
      log.warn({ err, app: rollout.app }, "could not keep the incident's evidence");
    }
  }

  async #timeline(rollout: RolloutRecord): Promise<TimelineEntry[]> {
    return toTimeline(await this.#deps.store.events.list({ rolloutId: rollout.id, limit: 1000 }));
  }
}

/** The drill a rollout belongs to, if any. */
export function drillOf(rollout: RolloutRecord): string | undefined {
  return rollout.state.drill;
}

function toTimeline(events: readonly EventRecord[]): TimelineEntry[] {
  return events
    .filter((e) => TIMELINE_EVENTS[e.type])
    .map((e) => ({ at: e.at, event: TIMELINE_EVENTS[e.type]!, detail: e.message }));
}

/** The share of traffic each revision had over the rollout, from its journalled weight changes. */
function weightHistory(
  rollout: RolloutRecord,
  events: readonly EventRecord[],
  bad: number,
  good: number | null,
): WeightPoint[] {
  const points: WeightPoint[] = [];
  const at = (badWeight: number, t: number) =>
    points.push({
      at: t,
      weights: [
        { revision: bad, weight: badWeight },
        ...(good === null ? [] : [{ revision: good, weight: 100 - badWeight }]),
      ],
    });
  at(rollout.kind === 'rollback' ? 100 : 0, rollout.createdAt);
  for (const e of events) {
    if (e.type === 'traffic.weight') at((e.data as { weight?: number } | null)?.weight ?? 0, e.at);
    else if (e.type === 'traffic.switched') at(rollout.kind === 'rollback' ? 0 : 100, e.at);
    else if (e.type === 'traffic.switched-back') at(0, e.at);
  }
  return points;
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
