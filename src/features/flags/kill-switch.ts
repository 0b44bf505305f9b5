// A kill switch is a partial rollback: the flag behind a bad feature is disabled and the release
// stays. Like every rollback it opens an incident, which says so, and is verified: the flag set in
// force must answer the flag as disabled.

import type { MetricsSource } from '../../providers/metrics-source.ts';
import type { Severity } from '../../spec/severity.ts';
import type { Store } from '../../store/types.ts';
import type { IncidentImpact, IncidentTrigger, VerificationCheck } from '../incidents/incident.ts';
import { computeImpact, type IncidentService } from '../incidents/incident-service.ts';
import type { FlagService } from './flag-service.ts';

export interface KillSwitchDeps {
  readonly flags: FlagService;
  readonly incidents: IncidentService;
  readonly store: Store;
  /** Counts the impact of a rule's kill switch; without it the impact is not measured. */
  readonly metrics?: MetricsSource;
}

export interface KillSwitchInput {
  readonly app: string;
  readonly flag: string;
  readonly reason: string;
  readonly by: 'user' | 'rewind';
  readonly author: string;
  readonly trigger?: IncidentTrigger;
  readonly rolloutId?: string | null;
  readonly severity?: Severity;
  /** The revision that served with the flag on (the one a rule judged); default the stable one. */
  readonly revision?: number;
}

/** A flag switched to `state` and what the flag set in force answers for it afterwards. */
export interface FlagSwitch {
  readonly flag: string;
  readonly state: 'ENABLED' | 'DISABLED';
  readonly startedAt: number;
  /** When the new flag-set version was stored (in force for OFREP clients from then on). */
  readonly switchedAt: number;
  readonly versionBefore: number;
  readonly versionAfter: number;
  readonly check: VerificationCheck;
}

/**
 * Switches one flag off or on (a new flag-set version) and checks that the set in force answers it
 * so: DISABLED when off, anything else when on. The partial rollback itself, without the incident.
 */
export async function switchFlag(
  flags: FlagService,
  input: { app: string; flag: string; state: 'ENABLED' | 'DISABLED'; author: string; reason: string },
): Promise<FlagSwitch> {
  const startedAt = Date.now();
  const before = (await flags.current(input.app)).version;
  const { record } = await flags.setState(input.app, input.flag, input.state, {
    author: input.author,
    reason: input.reason,
  });
  const switchedAt = Date.now();
  const now = await flags.current(input.app);
  const answer = now.evaluator.evaluate(input.flag, { targetingKey: 'rewind-verification' });
  const off = input.state === 'DISABLED';
  const passed = now.version === record.version && (answer.reason === 'DISABLED') === off;
  const name = off ? 'flag disabled in force' : 'flag enabled in force';
  return {
    flag: input.flag,
    state: input.state,
    startedAt,
    switchedAt,
    versionBefore: before,
    versionAfter: record.version,
    check: {
      name,
      passed,
      detail: passed
        ? off
          ? `flag set version ${now.version} answers ${input.flag} as DISABLED; clients fall back to their code default`
          : `flag set version ${now.version} answers ${input.flag} with reason ${answer.reason}`
        : `flag set version ${now.version} answers ${input.flag} with reason ${answer.reason}`,
    },
  };
}

/**
 * The revision's requests from the breach of the rule to the flag being off: what the feature did
 * while it was on. Null when there is no breach to start from (by hand) or no metrics to read.
 */
async function impactSinceBreach(
  deps: KillSwitchDeps,
  input: KillSwitchInput,
  revision: number,
  offAt: number,
): Promise<{ impact: IncidentImpact; from: number } | null> {
  const from = input.trigger?.breachingSince ?? input.trigger?.window?.from;
  if (from === undefined || !deps.metrics) return null;
  const read = await deps.metrics.read(input.app, Math.floor(from / 1000));
  if (read.phase !== 'Successful') return null;
  const samples = read.samples.filter((s) => s.second * 1000 < offAt);
  return { impact: computeImpact(samples, revision, null, []), from };
}

/** Disables the flag (a new flag-set version), opens the incident and records the verification. */
export async function pullKillSwitch(deps: KillSwitchDeps, input: KillSwitchInput) {
  const { flags, incidents, store } = deps;
  const off = await switchFlag(flags, { ...input, state: 'DISABLED' });
  const serving = input.revision ?? (await store.apps.get(input.app))?.stableRevision;
  const record = serving != null ? await store.revisions.get(input.app, serving) : undefined;
  const ref = record ? { number: record.number, version: record.version } : { number: 0, version: 'none' };
  const measured = record ? await impactSinceBreach(deps, input, record.number, off.switchedAt) : null;
  let incident = await incidents.open({
    app: input.app,
    rolloutId: input.rolloutId ?? null,
    severity: input.severity ?? 'P2',
    revisions: { from: ref, to: ref },
    trigger: input.trigger ?? { kind: 'manual', message: input.reason },
    title: `${input.app}: flag ${input.flag} disabled: ${input.reason}`,
    at: off.startedAt,
    ...(measured && { impact: measured.impact }),
    partialRollback: {
      flag: input.flag,
      flagSetVersionBefore: off.versionBefore,
      flagSetVersionAfter: off.versionAfter,
      ...(measured && { measuredFrom: measured.from }),
    },
  });
  incident = await incidents.addAction(incident.id, {
    at: off.switchedAt,
    action: `disabled flag ${input.flag} (flag set version ${off.versionBefore} -> ${off.versionAfter})`,
    by: input.by,
    result: 'done',
  });
  await incidents.setRollback(incident.id, {
    startedAt: off.startedAt,
    trafficRestoredAt: off.switchedAt,
    completedAt: off.switchedAt,
  });
  return incidents.setVerification(incident.id, { passed: off.check.passed, checks: [off.check] });
}
