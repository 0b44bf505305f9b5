// A rollout's first journal entry and its announcement: the start event and a notification, or
// for a rollback its incident. One active rollout per app: the store refuses a second.
import { randomUUID } from 'node:crypto';
import { RewindError } from '../../shared/errors.ts';
import { type AppSpec, rolloutSettings } from '../../spec/app-spec.ts';
import {
  type NewRevision,
  type RevisionRecord,
  RolloutConflictError,
  type RolloutRecord,
} from '../../store/types.ts';
import type { Severity } from '../analysis/index.ts';
import type { IncidentTrigger } from '../incidents/incident.ts';
import type { ControllerCore } from './controller-core.ts';
import { initialState, type RolloutState } from './rollout-state.ts';

/** The database part of a rollout's plan, for apps that declare one. */
export const dbPlan = (spec: AppSpec) => (spec.database ? { contract: spec.database.contract } : undefined);

/** The error for a command that needs the app without an active rollout. */
export function conflict(app: string, id: string): RewindError {
  return new RewindError(
    'ROLLOUT_IN_PROGRESS',
    `app ${app} already has a rollout in progress (${id}); wait for it (rewind status ${app} --watch) or roll it back (rewind rollback ${app})`,
    { app, rolloutId: id },
  );
}

/** Journals a rollout to the existing revision `to` and announces it. */
export async function createRollout(
  core: ControllerCore,
  app: string,
  kind: 'deploy' | 'rollback',
  from: number | null,
  to: RevisionRecord,
  steps: RolloutState['steps'],
  reason: string | undefined,
  actor?: string,
  drill?: string,
): Promise<RolloutRecord> {
  const { rollout } = await insertRollout(core, app, kind, from, to, steps, reason, false, drill);
  await announceRollout(core, rollout, to, steps, reason, undefined, actor);
  return rollout;
}

/**
 * The rollout's first journal entry, to `to`: an existing revision, or a new one (a rollback's
 * copy of its target) written in the same transaction. `switched`: its first step
 * (switchTraffic) is in force already.
 */
export async function insertRollout(
  core: ControllerCore,
  app: string,
  kind: 'deploy' | 'rollback',
  from: number | null,
  to: RevisionRecord | Omit<NewRevision, 'app' | 'reason'>,
  steps: RolloutState['steps'],
  reason: string | undefined,
  switched: boolean,
  drill?: string,
): Promise<{ revision: RevisionRecord; rollout: RolloutRecord }> {
  const initial = { ...initialState(steps), ...(drill && { drill }) };
  const { store } = core.deps;
  const rollout = {
    id: randomUUID(),
    kind,
    strategy: rolloutSettings(core.context(app).spec).strategy,
    fromRevision: from,
    phase: switched ? ('Promoting' as const) : ('Pending' as const),
    state: switched
      ? { ...initial, weight: 100, stepStartedAt: Date.now(), switchedAt: Date.now() }
      : initial,
    reason: reason ?? null,
  };
  try {
    if ('number' in to) {
      return {
        revision: to,
        rollout: await store.rollouts.create({ ...rollout, app, toRevision: to.number }),
      };
    }
    // A rollback's journal need not wait for the disk before the switch: it is safe from a
    // controller crash at once, and the switch event written after the switch (before anyone
    // is answered) makes both durable (docs/adr/0003-rollback-journal-flush.md).
    return await store.rollouts.createWithRevision({ ...to, app, reason: reason ?? null }, rollout, {
      flush: 'next',
    });
  } catch (err) {
    if (err instanceof RolloutConflictError) throw conflict(app, err.activeRolloutId);
    throw err;
  }
}

/** The rollout's start event and its notification, or for a rollback its incident. */
export async function announceRollout(
  core: ControllerCore,
  rollout: RolloutRecord,
  to: RevisionRecord,
  steps: RolloutState['steps'],
  reason: string | undefined,
  automatic?: { trigger: IncidentTrigger; severity: Severity },
  actor?: string,
): Promise<void> {
  const { store } = core.deps;
  const { app, kind, fromRevision: from } = rollout;
  const drill = rollout.state.drill;
  await store.events.append({
    app,
    rolloutId: rollout.id,
    type: `${kind}.started`,
    message:
      (drill ? `drill ${drill}: ` : '') +
      (kind === 'deploy'
        ? `deploy of ${to.version} as revision ${to.number}${from === null ? '' : ` (from revision ${from})`}`
        : `${automatic ? 'automatic ' : ''}rollback to revision ${to.copiedFrom} as revision ${to.number} (from revision ${from}): ${reason}`),
    data: { from, to: to.number, version: to.version, steps, ...(drill && { drill }) },
  });
  if (kind === 'deploy') {
    core.reporter.notify(
      rollout,
      'rollout.started',
      `${app}: deploying ${to.version} as revision ${to.number}`,
    );
  } else {
    await core.reporter.openIncident(
      rollout,
      automatic?.trigger ?? { kind: 'manual', message: `rolled back by ${actor ?? 'hand'}: ${reason}` },
      automatic?.severity ?? 'P2',
    );
  }
}
