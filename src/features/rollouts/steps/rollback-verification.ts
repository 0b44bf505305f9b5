// The verification after a rollback: is the revision rolled back to serving well? Its instances
// pass their health check, the pre-promotion checks pass against it, its schema is what it needs,
// and its error rate over the seconds since the rollback ended is back to what it was before the
// rollout. Journalled as pending when the rollback ends (RolloutState.verification) and run by the
// loop once due, so that a controller killed in those seconds runs it after its restart.

import { formatDuration } from '../../../shared/duration.ts';
import { formatPercent } from '../../../shared/format-number.ts';
import { rolloutSettings } from '../../../spec/app-spec.ts';
import { checklistPassed } from '../../../spec/verification.ts';
import type { RolloutRecord } from '../../../store/types.ts';
import { errorRate } from '../../analysis/index.ts';
import { checkName, runCheck } from '../../health/probe.ts';
import type { VerificationCheck } from '../../incidents/incident.ts';
import { parseRevisionSpec, unitOf } from '../../revisions/revision-spec.ts';
import type { ManagedApp } from '../app-context.ts';
import { runUserChecks } from '../rollback-watch.ts';
import { checkTarget, type StepDeps } from './step-context.ts';

/** How long after a rollback the restored revision's error rate is watched before the verdict. */
export const VERIFY_WINDOW_MS = 3000;

export async function verifyRestored(
  deps: StepDeps,
  ctx: ManagedApp,
  rollout: RolloutRecord,
  restored: number,
): Promise<VerificationCheck[]> {
  const { store, metrics, clock } = deps;
  const { runtime, health } = ctx.providers;
  const app = ctx.spec;
  const rev = await store.revisions.get(rollout.app, restored);
  if (!rev) return [{ name: 'revision exists', passed: false, detail: `revision ${restored} is gone` }];
  const unit = unitOf(rev);
  const spec = parseRevisionSpec(rev.spec);
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
  const now = clock.now();
  const after = rate(Math.floor((now - VERIFY_WINDOW_MS) / 1000), Math.floor(now / 1000));
  const allowed = Math.max(before.rate * 2, before.rate + 0.01);
  const db = deps.database;
  if (db && app.database && spec.migrationLevel !== null)
    checks.push(...(await db.verify(ctx, spec.migrationLevel)));
  // No request in the window is nothing measured: not a pass. The watch after judges it once
  // traffic comes (rollback-watch.ts).
  checks.push(
    after.requests === 0
      ? {
          name: 'error rate back to its level before the rollout',
          passed: false,
          notChecked: true,
          detail: `no request reached revision ${restored} in the ${formatDuration(VERIFY_WINDOW_MS)} after the rollback`,
        }
      : {
          name: 'error rate back to its level before the rollout',
          passed: after.rate <= allowed,
          detail: `${formatPercent(after.rate)} of ${after.requests} requests after, ${formatPercent(before.rate)} of ${before.requests} before`,
        },
  );
  checks.push(...(await runUserChecks(app, restored, spec)));
  return checks;
}

/** The message of a verification's event: each check and how it went. */
export function describeVerification(restored: number, checks: readonly VerificationCheck[]): string {
  const passed = checklistPassed(checks);
  return `revision ${restored} ${passed ? 'verified' : 'failed its verification'}: ${checks.map((c) => `${c.name} ${c.notChecked ? 'not checked' : c.passed ? 'passed' : 'failed'}`).join(', ')}`;
}
