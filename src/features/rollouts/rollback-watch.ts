// The watch after a rollback: the runbook's "monitor metrics for 15 minutes - error rate should
// be < 1%, response time < 2s" and "continue monitoring". Once the restored revision passed its
// first verification, it is judged for `verify.watch` by the checklist (error rate, p95 latency,
// health) and by the app's own rules that can judge a revision alone, and the user's checks
// (`verify.checks`) run every `verify.checkEvery`. The incident is Verifying meanwhile; any breach
// escalates it to P0 at once, naming the check; the end of the window resolves it. The state is
// journalled with the rollback (RolloutState.verification), so a restarted controller goes on.

import { formatDuration } from '../../shared/duration.ts';
import { formatPercent } from '../../shared/format-number.ts';
import type { AppSpec } from '../../spec/app-spec.ts';
import { checklistPassed } from '../../spec/verification.ts';
import type { VerifySpec } from '../../spec/verify-spec.ts';
import type { RolloutRecord } from '../../store/types.ts';
import { type Rule, resolveRules } from '../analysis/index.ts';
import { checkName, runCheck } from '../health/probe.ts';
import type { VerificationCheck } from '../incidents/incident.ts';
import { parseRevisionSpec, unitOf } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import type { DriverCore } from './driver-core.ts';
import type { RollbackVerification } from './rollout-state.ts';
import { checkTarget } from './steps/step-context.ts';

/** How often a watch adds the seconds it saw to the incident's evidence (the data plane keeps two minutes). */
const EVIDENCE_EVERY_MS = 60_000;

/** Requests in a window before the checklist's error rate and latency may judge. */
export const CHECKLIST_MIN_SAMPLE = 20;

/** The runbook's performance checklist as rules on the restored revision; every breach is P0. */
export function checklistRules(verify: VerifySpec): Rule[] {
  const rule = (name: string, metric: Rule['metric'], value: number, minSample: number): Rule => ({
    name,
    metric,
    direction: 'above',
    threshold: { kind: 'absolute', value },
    for: verify.for,
    minSample,
    severity: 'P0',
  });
  return [
    rule('verify-error-rate', 'errorRate', verify.errorRate, CHECKLIST_MIN_SAMPLE),
    rule('verify-latency-p95', 'latencyP95', verify.latencyP95, CHECKLIST_MIN_SAMPLE),
    rule('verify-health', 'healthFailing', 0, 0),
    rule('verify-cpu', 'cpu', verify.cpu, 0),
    rule('verify-memory', 'memory', verify.memory, 0),
  ];
}

/**
 * What judges a restored revision: the checklist, and the app's rules that need no baseline (an
 * absolute threshold) and act on the revision (not a kill switch's flag).
 */
export function restoredRevisionRules(app: Pick<AppSpec, 'analysis' | 'verify'>): Rule[] {
  const own = resolveRules(app.analysis).filter((r) => r.threshold.kind === 'absolute' && !r.flag);
  return [...checklistRules(app.verify), ...own];
}

/** A check's name as the checklist says it ("error rate below 1%"). */
export function checklistName(rule: Rule): string {
  const v = rule.threshold.kind === 'absolute' ? rule.threshold.value : 0;
  if (rule.name === 'verify-error-rate') return `error rate below ${formatPercent(v)}`;
  if (rule.name === 'verify-latency-p95') return `p95 latency below ${formatDuration(v)}`;
  if (rule.name === 'verify-health') return 'health checks passing';
  if (rule.name === 'verify-cpu') return `CPU below ${formatPercent(v)}`;
  if (rule.name === 'verify-memory') return `memory below ${formatPercent(v)}`;
  return `rule ${rule.name}`;
}

/** The user's checks against the restored revision, as verification checks. */
export async function runUserChecks(
  app: AppSpec,
  revision: number,
  spec: ReturnType<typeof parseRevisionSpec>,
): Promise<VerificationCheck[]> {
  return Promise.all(
    app.verify.checks.map(async (check) => {
      const r = await runCheck(check, checkTarget(app, revision, spec));
      return { name: checkName(check), passed: r.ok, detail: r.ok ? 'passed' : r.detail };
    }),
  );
}

/** The checklist at the end of a watch: what was judged and held, what never had the traffic to be. */
export function watchSummary(
  rules: readonly Rule[],
  judged: ReadonlySet<string>,
  watchedMs: number,
): VerificationCheck[] {
  return rules.map((rule) =>
    judged.has(rule.name)
      ? {
          name: checklistName(rule),
          passed: true,
          detail: `judged whenever there was the traffic to, never breached in the ${formatDuration(watchedMs)} watch`,
        }
      : {
          name: checklistName(rule),
          passed: false,
          notChecked: true,
          detail:
            rule.minSample > 0
              ? `never ${rule.minSample} requests in a window to judge it on during the watch`
              : 'never judged during the watch',
        },
  );
}

type Watching = RollbackVerification & { readonly status: 'Watching'; readonly until: number };

export class RollbackWatch {
  readonly #core: DriverCore;
  /** Watches by rollout id, with their app. */
  readonly #watching = new Map<string, string>();
  /** Evaluations running, by rollout id: one at a time each, apart from the loop. */
  readonly #running = new Map<string, Promise<void>>();
  /** When each watch last added its seconds to the incident's evidence. */
  readonly #appended = new Map<string, number>();

  constructor(core: DriverCore) {
    this.#core = core;
  }

  /**
   * After the first verification of a rollback passed: returns the verification to journal, a
   * Watching one when the app watches (verify.watch > 0) and the rollback has an incident to
   * keep open (a drill has none), else null (the caller resolves at once).
   */
  watchFor(ctx: ManagedApp, rollout: RolloutRecord, pending: RollbackVerification): Watching | null {
    const ms = ctx.spec.verify.watch;
    if (ms <= 0 || rollout.state.drill) return null;
    const now = this.#core.clock.now();
    return { ...pending, status: 'Watching', startedAt: now, until: now + ms, judged: [] };
  }

  /** Follow the watch just journalled for `rollout`. */
  follow(rollout: RolloutRecord): void {
    this.#watching.set(rollout.id, rollout.app);
  }

  /**
   * The loop's call for the app: starts each of its watches' evaluation when due, apart from the
   * loop. No I/O here; the watches a restarted controller takes over come through `follow`.
   */
  due(ctx: ManagedApp): void {
    const app = ctx.spec.name;
    const { watch } = this.#core.deps;
    const now = this.#core.clock.now();
    for (const [id, owner] of this.#watching) {
      if (owner !== app || this.#running.has(id) || !watch.due(id, now, ctx.spec.analysis.interval)) continue;
      const run = this.#evaluate(ctx, id)
        .catch((err) => this.#core.deps.log.error({ err, app }, 'post-rollback watch failed to run'))
        .finally(() => this.#running.delete(id));
      this.#running.set(id, run);
    }
  }

  /** Resolves once the evaluations running now have ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#running.values()]);
  }

  async #evaluate(ctx: ManagedApp, id: string): Promise<void> {
    const { store, watch } = this.#core.deps;
    const rollout = await store.rollouts.get(id);
    const v = rollout?.state.verification;
    if (!rollout || v?.status !== 'Watching' || v.until === undefined) {
      this.#forget(id);
      return;
    }
    const state: Watching = { ...v, status: 'Watching', until: v.until };
    const now = this.#core.clock.now();
    const rules = restoredRevisionRules(ctx.spec);
    // Rules that have had the traffic to judge at least once: journalled, read back each time.
    const judged = new Set(v.judged ?? []);
    const watchedMs = now - (v.startedAt ?? now);

    const app = await store.apps.get(rollout.app);
    const active = await store.rollouts.active(rollout.app);
    if (app?.stableRevision !== v.revision || active) {
      const by = active
        ? `rollout ${active.id} (revision ${active.toRevision})`
        : `revision ${app?.stableRevision}`;
      return this.#end(rollout, state, judged, {
        result: 'Superseded',
        passed: true,
        checks: watchSummary(rules, judged, watchedMs),
        reason: `the watch ended after ${formatDuration(watchedMs)} with no breach: ${by} replaced revision ${v.revision}`,
      });
    }
    if (now >= state.until) {
      return this.#end(rollout, state, judged, {
        result: 'Passed',
        passed: true,
        checks: [
          ...watchSummary(rules, judged, watchedMs),
          ...(await this.#userChecks(ctx, rollout, v.revision)),
        ],
        reason: `revision ${v.revision} held for ${formatDuration(watchedMs)}`,
      });
    }

    const rev = await store.revisions.get(rollout.app, v.revision);
    if (!rev) return;
    const result = await watch.evaluate({
      ctx,
      rolloutId: id,
      weight: 100,
      candidate: { revision: rev.number, unit: unitOf(rev) },
      baseline: null,
      instances: await ctx.providers.runtime.list(rollout.app),
      health: (instance) => ctx.providers.health.verdict(instance),
      now,
      rules,
      runtime: ctx.providers.runtime,
    });
    if (result) {
      const before = judged.size;
      for (const r of result.rules) if (r.phase === 'Pass' || r.phase === 'Breach') judged.add(r.name);
      const { decision } = result;
      if (decision.action === 'rollback') {
        const rule = decision.verdict && 'rule' in decision.verdict ? decision.verdict.rule : null;
        return this.#end(rollout, state, judged, {
          result: 'Failed',
          passed: false,
          checks: [
            {
              name: rule ? checklistName(rule) : 'analysis',
              passed: false,
              detail: `${decision.reason}, ${formatDuration(watchedMs)} into the watch`,
            },
          ],
          reason: decision.reason,
        });
      }
      if (decision.action !== 'none' && decision.notify && decision.key) {
        watch.notified(id, decision.key);
        const message = `${decision.severity ?? 'P3'} during the watch of restored revision ${v.revision}: ${decision.reason}`;
        await this.#core.event(rollout, 'analysis.breach', message, { severity: decision.severity });
        this.#core.deps.reporter.notify(rollout, 'analysis.breach', `${rollout.app}: ${message}`, {
          ...(decision.severity && { severity: decision.severity }),
        });
      }
      if (judged.size !== before) await this.#journal(rollout, { ...state, judged: [...judged] });
    }

    if (now - (this.#appended.get(id) ?? v.startedAt ?? now) >= EVIDENCE_EVERY_MS) {
      this.#appended.set(id, now);
      await this.#core.deps.reporter.appendSeries(rollout, Math.floor((now - EVIDENCE_EVERY_MS) / 1000) - 1);
    }

    const every = ctx.spec.verify.checkEvery;
    if (ctx.spec.verify.checks.length > 0 && now - (v.checkedAt ?? v.startedAt ?? now) >= every) {
      const checks = await this.#userChecks(ctx, rollout, v.revision);
      const fresh = (await store.rollouts.get(id)) ?? rollout;
      if (!checklistPassed(checks))
        return this.#end(fresh, state, judged, {
          result: 'Failed',
          passed: false,
          checks,
          reason: `${checks
            .filter((c) => !c.passed)
            .map((c) => c.name)
            .join(', ')} failed during the watch`,
        });
      await this.#journal(fresh, { ...state, judged: [...judged], checkedAt: now });
    }
  }

  async #userChecks(ctx: ManagedApp, rollout: RolloutRecord, revision: number): Promise<VerificationCheck[]> {
    if (ctx.spec.verify.checks.length === 0) return [];
    const rev = await this.#core.deps.store.revisions.get(rollout.app, revision);
    if (!rev) return [];
    const checks = await runUserChecks(ctx.spec, revision, parseRevisionSpec(rev.spec));
    await this.#core.event(
      rollout,
      checklistPassed(checks) ? 'check.passed' : 'check.failed',
      `checks of restored revision ${revision}: ${checks.map((c) => `${c.name} ${c.passed ? 'passed' : `failed (${c.detail})`}`).join(', ')}`,
      { checks },
    );
    return checks;
  }

  async #journal(rollout: RolloutRecord, verification: RollbackVerification): Promise<void> {
    const fresh = (await this.#core.deps.store.rollouts.get(rollout.id)) ?? rollout;
    await this.#core.save(fresh, { state: { ...fresh.state, verification } });
  }

  /** The watch's verdict: the incident resolved or escalated, then the journal (a restart redoes it otherwise). */
  async #end(
    rollout: RolloutRecord,
    state: Watching,
    judged: ReadonlySet<string>,
    end: {
      result: 'Passed' | 'Failed' | 'Superseded';
      passed: boolean;
      checks: VerificationCheck[];
      reason: string;
    },
  ): Promise<void> {
    const { reporter } = this.#core.deps;
    await this.#core.event(
      rollout,
      end.passed ? 'watch.passed' : 'rollout.verify-failed',
      `post-rollback watch of revision ${state.revision} ${end.result === 'Failed' ? 'failed' : 'ended'}: ${end.reason}`,
      { passed: end.passed, checks: end.checks },
    );
    await reporter.appendSeries(
      rollout,
      Math.floor((this.#appended.get(rollout.id) ?? state.startedAt ?? 0) / 1000) - 1,
    );
    await reporter.endVerification(rollout, end);
    const now = this.#core.clock.now();
    await this.#journal(rollout, {
      ...state,
      status: end.passed ? 'Passed' : 'Failed',
      endedAt: now,
      judged: [...judged],
    });
    this.#forget(rollout.id);
  }

  #forget(id: string): void {
    this.#watching.delete(id);
    this.#appended.delete(id);
    this.#core.deps.watch.forget(id);
  }
}
