// Starting a rollback, by hand or on the analysis' word: the copy of the target revision and the
// rollout to it are journalled in one write, then, when the target is warm and nothing has to be
// undone first, the traffic switches at once; the incident and the flag set follow. This is the
// path bench/switch.ts measures: every await before the switch counts.
import type { Instance } from '../../providers/runtime.ts';
import { formatDuration } from '../../shared/duration.ts';
import { RewindError } from '../../shared/errors.ts';
import { rolloutSettings } from '../../spec/app-spec.ts';
import type { RevisionRecord, RolloutRecord } from '../../store/types.ts';
import type { Severity } from '../analysis/index.ts';
import type { IncidentTrigger } from '../incidents/incident.ts';
import { copyRevisionSpec, parseRevisionSpec, unitOf } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import type { ControllerCore } from './controller-core.ts';
import { maintenanceBeforeRollback } from './maintenance.ts';
import { planSteps } from './rollout-state.ts';
import { announceRollout, dbPlan, insertRollout } from './start-rollout.ts';
import { applyRoutes } from './traffic-plan.ts';

export interface RollbackInput {
  readonly toRevision?: number | undefined;
  readonly reason: string;
  readonly automatic?: { trigger: IncidentTrigger; severity: Severity } | undefined;
  /** When the request began waiting for the app's reconcile tick to end. */
  readonly queuedAt?: number | undefined;
  /** Who asked (the token's name); the revision's author. */
  readonly actor?: string | undefined;
  /** The drill this rollback rehearses: no incident. */
  readonly drill?: string | undefined;
}

/**
 * Creates the rollback rollout to `toRevision` (default: the revision before the stable one) and
 * restores its flag set; the reconcile loop drives it. `automatic` carries what the analysis
 * found, for the incident.
 */
export async function startRollback(
  core: ControllerCore,
  ctx: ManagedApp,
  input: RollbackInput,
): Promise<RolloutRecord> {
  const { store } = core.deps;
  const app = ctx.spec.name;
  const reason = input.reason;
  // Where a rollback's time goes before its switch, recorded with the switch (bench/switch.ts).
  const marks: [string, number][] = [['start', input.queuedAt ?? performance.now()]];
  const mark = (stage: string) => marks.push([stage, performance.now()]);
  if (input.queuedAt !== undefined) mark('queue');
  const appRecord = await store.apps.get(app);
  const stable = appRecord?.stableRevision ?? null;
  if (stable === null)
    throw new RewindError('NO_EARLIER_REVISION', `app ${app} has no revision yet; deploy one first`, {
      app,
    });
  const stableRev = (await store.revisions.get(app, stable))!;
  const targetNumber = input.toRevision ?? (await previousRevision(core, app, stableRev));
  if (targetNumber === null) {
    throw new RewindError(
      'NO_EARLIER_REVISION',
      `app ${app} has no revision before ${stable} to roll back to`,
      {
        app,
      },
    );
  }
  const target = await store.revisions.get(app, targetNumber);
  if (!target) {
    const known = (await store.revisions.list(app, 20)).map((r) => r.number).join(', ');
    throw new RewindError(
      'REVISION_NOT_FOUND',
      `app ${app} has no revision ${targetNumber}; it has: ${known}`,
      {
        app,
        revision: targetNumber,
      },
    );
  }
  if (unitOf(target) === unitOf(stableRev)) {
    throw new RewindError(
      'ALREADY_SERVING',
      `revision ${targetNumber} is what app ${app} serves already (revision ${stable})`,
      {
        app,
      },
    );
  }
  mark('read');
  const spec = {
    ...copyRevisionSpec(parseRevisionSpec(target.spec), target.number),
    author: input.actor ?? null,
  };
  // The copy serves the target's unit (spec.unit): what the last tick saw (at most a tick old)
  // decides "warm"; a unit not seen ready there is looked for again, since it may have become
  // ready since.
  const unit = spec.unit ?? target.number;
  const recent = ctx.observed && Date.now() - ctx.observed.at < 1000 ? ctx.observed.instances : null;
  let instances = recent ?? (await ctx.providers.runtime.list(app));
  let warm = unitReady(ctx, instances, unit, spec.instances);
  if (!warm && recent) {
    instances = await ctx.providers.runtime.list(app);
    warm = unitReady(ctx, instances, unit, spec.instances);
  }
  mark('instances');
  let incident = input.automatic;
  if (incident && !warm) {
    const keep = formatDuration(rolloutSettings(ctx.spec).keepPreviousWarm);
    incident = {
      ...incident,
      trigger: {
        ...incident.trigger,
        message: `${incident.trigger.message}; revision ${target.number} was no longer warm (keepPreviousWarm ${keep}): rolled back by a cold start`,
      },
    };
  }
  const level = (r: RevisionRecord) => parseRevisionSpec(r.spec).migrationLevel;
  const db = dbPlan(ctx.spec);
  const steps = planSteps('rollback', {
    targetWarm: warm,
    fromNothing: false,
    database: db && {
      ...db,
      undo: spec.migrationLevel === null || spec.migrationLevel !== level(stableRev),
    },
  });
  // A warm target with nothing to undo first: the rollout is journalled already switched and the
  // table put in force at once; the journal, incident and flags follow. The copy of the target
  // and the rollout to it are one durable write.
  const switchNow = steps[0]?.name === 'switchTraffic';
  const { revision: copy, rollout } = await insertRollout(
    core,
    app,
    'rollback',
    stable,
    { version: target.version, spec, copiedFrom: target.number },
    steps,
    reason,
    switchNow,
    input.drill,
  );
  mark('journal');
  if (switchNow) {
    const { inForceAt } = await applyRoutes(store, ctx, rollout, instances);
    mark('routes');
    const stagesMs = Object.fromEntries(
      marks.slice(1).map(([stage, at], i) => [stage, Math.round((at - marks[i]![1]) * 100) / 100]),
    );
    await store.events.append({
      app,
      rolloutId: rollout.id,
      type: 'traffic.switched',
      message: `100% of traffic on revision ${copy.number}`,
      data: { switchedAt: rollout.state.switchedAt, inForceAt, stagesMs },
    });
  }
  // Before a cold start takes the app down: maintenance mode, under `maintenance: auto`.
  await maintenanceBeforeRollback(core, ctx, rollout, { number: target.number, warm });
  await announceRollout(core, rollout, copy, steps, reason, incident, input.actor);
  const { flags, log } = core.deps;
  if (spec.flagSetVersion !== null && flags) {
    // The revision's flag set comes back with it, as a new version that copies it.
    await flags
      .restore(app, spec.flagSetVersion, {
        author: 'rewind',
        reason: `rollback to revision ${target.number}`,
      })
      .catch((err: Error) => log.warn({ err, app }, 'flag set not restored'));
  }
  return rollout;
}

/** Whether `count` instances of the unit run and none of them is called unhealthy. */
function unitReady(ctx: ManagedApp, instances: readonly Instance[], unit: number, count: number): boolean {
  const { health } = ctx.providers;
  const up = instances.filter(
    (i) => i.revision === unit && i.phase === 'Running' && health.verdict(i.id) !== 'Unhealthy',
  );
  return up.length >= count;
}

async function previousRevision(
  core: ControllerCore,
  app: string,
  stable: RevisionRecord,
): Promise<number | null> {
  // The revision that served before the stable one: the source of the last completed rollout.
  const rollouts = await core.deps.store.rollouts.list(app, 50);
  const last = rollouts.find((r) => r.phase === 'Completed' && r.toRevision === stable.number);
  if (last?.fromRevision != null) return last.fromRevision;
  const older = (await core.deps.store.revisions.list(app, 50)).find(
    (r) => r.number < stable.number && unitOf(r) !== unitOf(stable),
  );
  return older?.number ?? null;
}
