// A kill switch is a partial rollback: the flag behind a bad feature is disabled and the release
// stays. Like every rollback it opens an incident, which says so, and is verified: the flag set in
// force must answer the flag as disabled.

import type { Store } from '../../store/types.ts';
import type { IncidentTrigger } from '../incidents/incident.ts';
import type { IncidentService } from '../incidents/incident-service.ts';
import type { FlagService } from './flag-service.ts';

export interface KillSwitchDeps {
  readonly flags: FlagService;
  readonly incidents: IncidentService;
  readonly store: Store;
}

export interface KillSwitchInput {
  readonly app: string;
  readonly flag: string;
  readonly reason: string;
  readonly by: 'user' | 'rewind';
  readonly author: string;
  readonly trigger?: IncidentTrigger;
  readonly rolloutId?: string | null;
  readonly severity?: 'P0' | 'P1' | 'P2' | 'P3';
}

/** Disables the flag (a new flag-set version), opens the incident and records the verification. */
export async function pullKillSwitch(deps: KillSwitchDeps, input: KillSwitchInput) {
  const { flags, incidents, store } = deps;
  const startedAt = Date.now();
  const before = (await flags.current(input.app)).version;
  const { record } = await flags.setState(input.app, input.flag, 'DISABLED', {
    author: input.author,
    reason: input.reason,
  });
  const disabledAt = Date.now();
  const appRecord = await store.apps.get(input.app);
  const stable =
    appRecord?.stableRevision != null
      ? await store.revisions.get(input.app, appRecord.stableRevision)
      : undefined;
  const ref = stable ? { number: stable.number, version: stable.version } : { number: 0, version: 'none' };
  let incident = await incidents.open({
    app: input.app,
    rolloutId: input.rolloutId ?? null,
    severity: input.severity ?? 'P2',
    revisions: { from: ref, to: ref },
    trigger: input.trigger ?? { kind: 'manual', message: input.reason },
    title: `${input.app}: flag ${input.flag} disabled: ${input.reason}`,
    at: startedAt,
    partialRollback: { flag: input.flag, flagSetVersionBefore: before, flagSetVersionAfter: record.version },
  });
  incident = await incidents.addAction(incident.id, {
    at: disabledAt,
    action: `disabled flag ${input.flag} (flag set version ${before} -> ${record.version})`,
    by: input.by,
    result: 'done',
  });
  await incidents.setRollback(incident.id, {
    startedAt,
    trafficRestoredAt: disabledAt,
    completedAt: disabledAt,
  });
  const now = await flags.current(input.app);
  const answer = now.evaluator.evaluate(input.flag, { targetingKey: 'rewind-verification' });
  const passed = now.version === record.version && answer.reason === 'DISABLED';
  return incidents.setVerification(incident.id, {
    passed,
    checks: [
      {
        name: 'flag disabled in force',
        passed,
        detail: passed
          ? `flag set version ${now.version} answers ${input.flag} as DISABLED; clients fall back to their code default`
          : `flag set version ${now.version} answers ${input.flag} with reason ${answer.reason}`,
      },
    ],
  });
}
