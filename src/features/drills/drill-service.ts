// A rollback drill: the way back rehearsed on a running app before it is needed. It deploys a
// version with the app's strategy through the controller, rolls it back on purpose once the deploy
// has done everything it does (expand migrations, traffic, bake, contract migrations), lets the
// rollback verify the restored revision as after a real one, then switches each kill-switch flag
// off and on. Nothing here rolls anything back itself: the controller's rollback path does, marked
// as a drill so that it opens no incident. The report is written as the drill goes.

import { randomBytes } from 'node:crypto';
import { RewindError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { type AppSpec, rolloutSettings } from '../../spec/app-spec.ts';
import { drillDue } from '../../spec/drill-spec.ts';
import { checklistPassed, failedChecks } from '../../spec/verification.ts';
import type { DrillRecord, EventRecord, NewAuditEntry, RolloutRecord, Store } from '../../store/types.ts';
import type { FlagService } from '../flags/flag-service.ts';
import { switchFlag } from '../flags/kill-switch.ts';
import type { VerificationCheck } from '../incidents/incident.ts';
import type { NotificationInput } from '../notifications/notification-hub.ts';
import {
  type DrillReport,
  databaseProblems,
  drillChecklist,
  drillPassed,
  type PartialRollback,
  type PreviousDrill,
} from './drill-report.ts';

/** What a drill needs of the controller: the same commands a person gives. */
export interface DrillController {
  context(app: string): { readonly spec: AppSpec };
  deploy(
    app: string,
    input: { version: string; reason: string; actor?: string; drill: string },
  ): Promise<RolloutRecord>;
  rollback(
    app: string,
    input: { toRevision: number; reason: string; actor?: string; drill: string },
  ): Promise<RolloutRecord>;
  promote(app: string, full: boolean): Promise<RolloutRecord>;
}

export interface DrillDeps {
  readonly store: Store;
  readonly controller: DrillController;
  readonly flags?: FlagService;
  readonly log: Logger;
  readonly notify: (n: NotificationInput) => void;
  /** The audit trail, for the drills the schedule starts (an API request is audited by the API). */
  readonly audit?: (entry: NewAuditEntry) => void;
  /** How often the drill looks at the rollouts it follows. Default 100 ms. */
  readonly pollMs?: number;
  /** The longest a deploy, a rollback or a verification may take before the drill fails. Default 15 min. */
  readonly stepTimeoutMs?: number;
}

const FINISHED = new Set(['Completed', 'RolledBack', 'Failed']);
const VERIFIED = new Set(['rollout.verified', 'rollout.verify-failed']);

/** `stable`: the version the app serves now, deployed again onto itself (drills.version's default). */
export const STABLE_VERSION = 'stable';

export function newDrillId(at: number): string {
  const stamp = new Date(at).toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `drill-${stamp}-${randomBytes(2).toString('hex')}`;
}

export class DrillService {
  readonly #deps: DrillDeps;
  readonly #running = new Map<string, Promise<void>>();
  readonly #starting = new Set<string>();

  constructor(deps: DrillDeps) {
    this.#deps = deps;
  }

  /**
   * Starts a drill of `app` with `version` (`stable`, or absent: the stable version again) and
   * returns its record at once; the drill goes on in the server. Refused while the app has a
   * rollout or another drill in progress.
   */
  async start(
    app: string,
    input: { version?: string; by?: string | null; trigger?: 'api' | 'schedule' },
  ): Promise<DrillRecord> {
    const { store, controller } = this.#deps;
    const spec = controller.context(app).spec;
    const running = (await store.drills.list({ app, status: 'Running', limit: 1 }))[0];
    if (running)
      throw new RewindError(
        'DRILL_IN_PROGRESS',
        `app ${app} has a drill in progress (${running.id}); follow it with rewind drills show ${running.id}`,
        { app, drillId: running.id },
      );
    const active = await store.rollouts.active(app);
    if (active)
      throw new RewindError(
        'ROLLOUT_IN_PROGRESS',
        `app ${app} has a rollout in progress (${active.id}); a drill starts from a stable app: wait for it (rewind status ${app} --watch)`,
        { app, rolloutId: active.id },
      );
    const stableNumber = (await store.apps.get(app))?.stableRevision ?? null;
    const stable = stableNumber === null ? undefined : await store.revisions.get(app, stableNumber);
    if (!stable)
      throw new RewindError(
        'NO_EARLIER_REVISION',
        `app ${app} has no stable revision to come back to; deploy one first`,
        { app },
      );
    const asked = input.version ?? spec.drills?.version ?? STABLE_VERSION;
    const version = asked === STABLE_VERSION ? stable.version : asked;
    const startedAt = Date.now();
    const id = newDrillId(startedAt);
    const settings = rolloutSettings(spec);
    const contract = spec.database?.contract === 'auto';
    const report: DrillReport = {
      id,
      app,
      version,
      status: 'Running',
      trigger: input.trigger ?? 'api',
      by: input.by ?? null,
      startedAt,
      finishedAt: null,
      strategy: settings.strategy,
      stable: { revision: stable.number, version: stable.version },
      flagSetVersionBefore: this.#deps.flags ? (await this.#deps.flags.current(app)).version || null : null,
      rollbackPoint: `after the ${settings.strategy} deploy completed (${[
        spec.database ? 'expand migrations applied' : null,
        'all traffic on the new revision',
        'bake passed',
        spec.database
          ? contract
            ? 'contract migrations applied'
            : 'contract migrations left to rewind db contract'
          : null,
      ]
        .filter(Boolean)
        .join(', ')}): everything the deploy did is undone`,
      progress: [],
      deploy: null,
      fullRollback: null,
      partialRollbacks: [],
      database: spec.database ? { applies: true, applied: [], undone: [], failures: [], checks: [] } : null,
      verification: null,
      previous: await this.#previous(app),
      phases: [],
      failures: [],
    };
    // One start at a time per app here: the checks above and the deploy below are not atomic.
    if (this.#starting.has(app))
      throw new RewindError('DRILL_IN_PROGRESS', `app ${app} has a drill starting; try again in a moment`, {
        app,
      });
    this.#starting.add(app);
    let record: DrillRecord | undefined;
    const run = new DrillRun(this.#deps, report, input.by ?? undefined);
    try {
      record = await store.drills.create({ id, app, version, report });
      // Started here, not in the background: a refused deploy (an unknown version, a rollout that
      // began meanwhile) is the caller's error, and the drill is recorded as failed for it.
      await run.deploy();
    } catch (err) {
      if (record) await run.abandon(`the deploy of ${version} was refused: ${(err as Error).message}`);
      throw err;
    } finally {
      this.#starting.delete(app);
    }
    this.#announce(
      app,
      id,
      `drill ${id}: rehearsing the way back of ${app}: ${version} deployed, then rolled back to revision ${stable.number}`,
    );
    const following = run
      .run()
      .catch((err) => this.#deps.log.error({ err, app, drill: id }, 'drill failed to run'))
      .finally(() => this.#running.delete(id));
    this.#running.set(id, following);
    return record;
  }

  /** Resolves when the drill has ended (for tests and the scheduler); at once if it is not running here. */
  async settled(id: string): Promise<DrillRecord | undefined> {
    await this.#running.get(id);
    return this.#deps.store.drills.get(id);
  }

  /** After a server restart: drills it was running cannot go on; they fail, saying why. */
  async recover(): Promise<void> {
    for (const d of await this.#deps.store.drills.list({ status: 'Running' })) {
      if (this.#running.has(d.id)) continue;
      const report = d.report as DrillReport;
      const failures = [...report.failures, 'the server stopped during the drill; run it again'];
      await this.#deps.store.drills.update(d.id, {
        status: 'Failed',
        report: { ...report, status: 'Failed', finishedAt: Date.now(), failures },
      });
    }
  }

  /**
   * One look at the schedule (`drills.every` in rewind.yaml): starts the drills that are due. An
   * app busy with a rollout or a drill is looked at again on the next tick. Returns the drills started.
   */
  async scheduleTick(apps: readonly string[], now = Date.now()): Promise<DrillRecord[]> {
    const started: DrillRecord[] = [];
    for (const app of apps) {
      const spec = this.#deps.controller.context(app).spec.drills;
      if (!spec) continue;
      const last = (await this.#deps.store.drills.list({ app, limit: 1 }))[0];
      // The first drill is due a period after the app came under Rewind, not at the first start.
      const since = last?.createdAt ?? (await this.#deps.store.apps.get(app))?.createdAt ?? now;
      if (!drillDue(spec, since, now)) continue;
      try {
        const drill = await this.start(app, { trigger: 'schedule', by: 'schedule' });
        started.push(drill);
        this.#deps.audit?.({
          at: drill.createdAt,
          actor: 'schedule',
          role: null,
          remote: 'rewind',
          method: 'SCHEDULE',
          route: 'drills.every',
          app,
          revision: null,
          outcome: 'allowed',
          status: 202,
          reason: `rollback drill ${drill.id} of ${drill.version}`,
        });
      } catch (err) {
        if (!(err instanceof RewindError)) throw err;
        this.#deps.log.info({ app, reason: err.message }, 'scheduled drill postponed');
      }
    }
    return started;
  }

  async #previous(app: string): Promise<PreviousDrill[]> {
    const passed = await this.#deps.store.drills.list({ app, status: 'Passed', limit: 5 });
    return passed.flatMap((d) => {
      const ms = (d.report as DrillReport).fullRollback?.msToTrafficRestored;
      return ms == null ? [] : [{ id: d.id, at: d.createdAt, msToTrafficRestored: ms }];
    });
  }

  #announce(app: string, drill: string, message: string): void {
    this.#deps.notify({ type: 'drill.started', app, message, data: { drill } });
  }
}

/** One drill from deploy to report. */
class DrillRun {
  readonly #deps: DrillDeps;
  #report: DrillReport;
  readonly #by: string | undefined;
  #deployT0 = 0;
  #deployRollout: RolloutRecord | undefined;

  constructor(deps: DrillDeps, report: DrillReport, by: string | undefined) {
    this.#deps = deps;
    this.#report = report;
    this.#by = by;
  }

  get #app(): string {
    return this.#report.app;
  }

  /** The drill's deploy, started (throws what the controller refuses). */
  async deploy(): Promise<void> {
    const r = this.#report;
    this.#deployT0 = performance.now();
    this.#deployRollout = await this.#deps.controller.deploy(this.#app, {
      version: r.version,
      reason: `rollback drill ${r.id}`,
      actor: this.#by,
      drill: r.id,
    });
  }

  /** The drill could not start: recorded as failed with the reason. */
  async abandon(reason: string): Promise<void> {
    await this.#fail(reason);
    await this.#finish();
  }

  /** Follows the deploy started by deploy() to the end of the drill. */
  async run(): Promise<void> {
    try {
      if (await this.#followDeploy()) {
        await this.#rollback();
        await this.#partialRollbacks();
      }
      await this.#restoreFlags();
    } catch (err) {
      await this.#fail(`the drill stopped: ${(err as Error).message}`);
    }
    await this.#finish();
  }

  async #followDeploy(): Promise<boolean> {
    const r = this.#report;
    const t0 = this.#deployT0;
    const rollout = this.#deployRollout!;
    await this.#progress(`deploying ${r.version} as revision ${rollout.toRevision} (${r.strategy})`);
    const done = await this.#follow(rollout, true);
    const ms = performance.now() - t0;
    const events = await this.#events(rollout.id);
    const applied = migrationKeys(events, ['database.expanded', 'database.contracted']);
    this.#set({
      deploy: { rolloutId: rollout.id, revision: rollout.toRevision, phase: done.phase, ms },
      phases: [...r.phases, { name: 'deploy', ms }],
      ...(r.database && { database: { ...r.database, applied } }),
    });
    if (done.phase !== 'Completed') {
      await this.#fail(
        `the deploy of ${r.version} ended ${done.phase}${done.error ? `: ${done.error}` : ''}; revision ${r.stable.revision} still serves`,
      );
      return false;
    }
    await this.#progress(
      `revision ${rollout.toRevision} is stable after ${formatMs(ms)}${applied.length ? `; migrations applied: ${applied.join(', ')}` : ''}`,
    );
    return true;
  }

  async #rollback(): Promise<void> {
    const { controller, store } = this.#deps;
    const r = this.#report;
    await this.#progress(`rolling back on purpose to revision ${r.stable.revision}`);
    const commandAt = Date.now();
    const t0 = performance.now();
    const rollout = await controller.rollback(this.#app, {
      toRevision: r.stable.revision,
      reason: `rollback drill ${r.id}: rolling back on purpose`,
      actor: this.#by,
      drill: r.id,
    });
    const done = await this.#follow(rollout, false);
    let events = await this.#events(rollout.id);
    const switched = events.find((e) => e.type === 'traffic.switched');
    // When the proxy had the table (a warm switch says so), else when the switch was journalled;
    // both on the clock the command's start was read from.
    const inForceAt = (switched?.data as { inForceAt?: number | null } | null)?.inForceAt ?? switched?.at;
    const msToTraffic = inForceAt === undefined ? null : Math.max(0, inForceAt - commandAt);
    await this.#progress(
      msToTraffic === null
        ? `the rollback ended ${done.phase} without switching traffic`
        : `traffic restored to revision ${rollout.toRevision} ${formatMs(msToTraffic)} after the command; verifying`,
    );
    if (done.phase === 'Failed') {
      // Nothing was restored, so nothing is verified: the stable revision before the drill serves.
      await this.#fail(`the rollback ended Failed: ${done.error ?? 'no reason given'}`);
      return;
    }
    const verified = await this.#waitFor('the verification of the restored revision', async () => {
      events = await this.#events(rollout.id);
      return events.find((e) => VERIFIED.has(e.type));
    });
    const msToVerified = performance.now() - t0;
    const data = verified.data as { passed: boolean; checks: VerificationCheck[] };
    const restored = await store.revisions.get(this.#app, rollout.toRevision);
    const stableNow = (await store.apps.get(this.#app))?.stableRevision ?? null;
    const backOnStable =
      stableNow === rollout.toRevision &&
      restored?.copiedFrom === r.stable.revision &&
      restored.version === r.stable.version;
    const back: VerificationCheck = {
      name: 'back on the stable revision',
      passed: backOnStable,
      detail: backOnStable
        ? `revision ${stableNow} (a copy of revision ${r.stable.revision}, ${r.stable.version}) is stable`
        : `the stable revision is ${stableNow ?? 'none'}, not a copy of revision ${r.stable.revision}`,
    };
    const checks = [...data.checks, back];
    const database = r.database && {
      ...r.database,
      undone: migrationKeys(events, ['database.undone']),
      failures: events.filter((e) => e.type === 'database.failed').map((e) => `undo failed: ${e.message}`),
      checks: data.checks.filter((c) => c.name.startsWith('database ')),
    };
    this.#set({
      fullRollback: {
        rolloutId: rollout.id,
        revision: rollout.toRevision,
        phase: done.phase,
        msToTrafficRestored: msToTraffic,
        msToVerified,
        backOnStable,
        detail: `${rollout.kind} ${done.phase}${done.error ? ` (${done.error})` : ''} to revision ${rollout.toRevision}, a copy of revision ${r.stable.revision}`,
      },
      verification: { passed: checklistPassed(checks), checks },
      phases: [
        ...r.phases,
        { name: 'rollback', ms: msToTraffic ?? msToVerified },
        { name: 'verify', ms: Math.max(0, msToVerified - (msToTraffic ?? msToVerified)) },
      ],
      ...(database && { database }),
    });
    await this.#progress(
      `verification ${checklistPassed(checks) ? 'passed' : 'FAILED'} ${formatMs(msToVerified)} after the command: ${checks.map((c) => `${c.name} ${c.notChecked ? 'not checked' : c.passed ? 'ok' : 'FAILED'}`).join(', ')}`,
    );
    if (done.phase !== 'Completed') await this.#fail(`the rollback ended ${done.phase}: ${done.error ?? ''}`);
    if (!backOnStable) await this.#fail(back.detail);
    for (const c of failedChecks(data.checks).filter((c) => !c.name.startsWith('database ')))
      await this.#fail(`verification: ${c.name}: ${c.detail}`);
    if (database) for (const p of databaseProblems(database)) await this.#fail(`database rollback: ${p}`);
  }

  /**
   * The flags as they were before the drill: the rollback brought back the stable revision's flag
   * set, which may predate changes people made since; a drill leaves the app as it found it.
   */
  async #restoreFlags(): Promise<void> {
    const { flags } = this.#deps;
    const before = this.#report.flagSetVersionBefore;
    if (!flags || before == null) return;
    const restored = await flags.restore(this.#app, before, {
      author: `drill ${this.#report.id}`,
      reason: `rollback drill ${this.#report.id}: the flag set in force before the drill`,
    });
    if (restored)
      await this.#progress(
        `flag set version ${before} (in force before the drill) put back as version ${restored.record.version}`,
      );
  }

  /** Each kill-switch flag off, checked, then on again, checked: the partial rollbacks. */
  async #partialRollbacks(): Promise<void> {
    const { controller, flags } = this.#deps;
    const rules = controller.context(this.#app).spec.analysis.rules.filter((rule) => rule.flag);
    if (rules.length === 0) return;
    const t0 = performance.now();
    const seen = new Set<string>();
    for (const rule of rules) {
      const flag = rule.flag!;
      if (seen.has(flag)) continue;
      seen.add(flag);
      const entry = await this.#rehearseFlag(flags, flag, rule.name);
      this.#set({ partialRollbacks: [...this.#report.partialRollbacks, entry] });
      await this.#progress(
        entry.skipped
          ? `flag ${flag}: not rehearsed (${entry.skipped})`
          : `flag ${flag}: off in ${formatMs(entry.offMs ?? 0)}, on again in ${formatMs(entry.onMs ?? 0)}: ${entry.passed ? 'passed' : 'FAILED'}`,
      );
      if (!entry.passed && !entry.skipped)
        await this.#fail(
          `partial rollback of flag ${flag}: ${entry.checks.find((c) => !c.passed)?.detail ?? 'failed'}`,
        );
    }
    this.#set({ phases: [...this.#report.phases, { name: 'partial', ms: performance.now() - t0 }] });
  }

  async #rehearseFlag(flags: FlagService | undefined, flag: string, rule: string): Promise<PartialRollback> {
    const base = { flag, rule, offMs: null, onMs: null };
    if (!flags) return { ...base, passed: false, checks: [missing('this server serves no flags')] };
    const inForce = await flags.current(this.#app);
    const def = inForce.set.flags[flag];
    if (!def)
      return {
        ...base,
        passed: false,
        checks: [
          missing(
            `flag set version ${inForce.version} has no flag ${flag}: the kill switch of rule ${rule} would fail in earnest`,
          ),
        ],
      };
    if (def.state === 'DISABLED')
      return { ...base, passed: true, skipped: 'it is disabled already', checks: [] };
    const meta = { app: this.#app, flag, author: `drill ${this.#report.id}` };
    // Each time runs from the switch to the set in force answering it so (the check included).
    const t0 = performance.now();
    const off = await switchFlag(flags, {
      ...meta,
      state: 'DISABLED',
      reason: `rollback drill ${this.#report.id}: kill switch rehearsed`,
    });
    const t1 = performance.now();
    const on = await switchFlag(flags, {
      ...meta,
      state: 'ENABLED',
      reason: `rollback drill ${this.#report.id}: flag back on`,
    });
    return {
      ...base,
      passed: off.check.passed && on.check.passed,
      offMs: t1 - t0,
      onMs: performance.now() - t1,
      checks: [off.check, on.check],
    };
  }

  /**
   * Follows a rollout to its end. A canary pause that waits for `rewind promote` is promoted: the
   * rehearsal goes all the way, as the person on call would.
   */
  async #follow(rollout: RolloutRecord, promotePauses: boolean): Promise<RolloutRecord> {
    const { store, controller } = this.#deps;
    let promoted = -1;
    return this.#waitFor(`${rollout.kind} ${rollout.id}`, async () => {
      const now = await store.rollouts.get(rollout.id);
      if (!now) throw new Error(`rollout ${rollout.id} is gone`);
      if (FINISHED.has(now.phase)) return now;
      const state = now.state;
      const step = state.steps[state.index];
      if (promotePauses && step?.name === 'pause' && step.durationMs == null && promoted !== state.index) {
        promoted = state.index;
        await controller.promote(this.#app, false);
        await this.#progress(
          `promoted the canary's pause at ${state.weight}% of traffic (a pause waits for a person)`,
        );
      }
      return undefined;
    });
  }

  async #waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + (this.#deps.stepTimeoutMs ?? 15 * 60_000);
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
      await new Promise((r) => setTimeout(r, this.#deps.pollMs ?? 100));
    }
  }

  #events(rolloutId: string): Promise<EventRecord[]> {
    return this.#deps.store.events.list({ rolloutId, limit: 1000 });
  }

  #set(patch: Partial<DrillReport>): void {
    this.#report = { ...this.#report, ...patch };
  }

  async #progress(message: string): Promise<void> {
    this.#set({ progress: [...this.#report.progress, { at: Date.now(), message }] });
    await this.#deps.store.drills.update(this.#report.id, { report: this.#report });
  }

  async #fail(reason: string): Promise<void> {
    this.#set({ failures: [...this.#report.failures, reason] });
  }

  async #finish(): Promise<void> {
    const r = this.#report;
    const passed = drillPassed(r);
    const status = passed ? 'Passed' : 'Failed';
    this.#set({ status, finishedAt: Date.now() });
    await this.#progress(
      passed
        ? `drill passed: the way back of ${r.app} is proven (${formatMs(r.fullRollback?.msToTrafficRestored ?? 0)} to traffic restored)`
        : `drill FAILED: ${this.#report.failures.join('; ') || drillChecklist(this.#report).find((l) => l.result === 'fail' || l.result === 'not reached')?.detail}`,
    );
    await this.#deps.store.drills.update(r.id, { status, report: this.#report });
    this.#deps.notify({
      type: passed ? 'drill.passed' : 'drill.failed',
      app: r.app,
      message: `drill ${r.id}: ${r.app} ${passed ? 'passed' : `FAILED: ${this.#report.failures[0] ?? ''}`}`,
      data: { drill: r.id },
    });
  }
}

function missing(detail: string): VerificationCheck {
  return { name: 'flag in the flag set in force', passed: false, detail };
}

/** The keys of the migrations the events' results say ran successfully. */
function migrationKeys(events: readonly EventRecord[], types: readonly string[]): string[] {
  const keys: string[] = [];
  for (const e of events) {
    if (!types.includes(e.type)) continue;
    const results = (e.data as { results?: { key: string; status: string }[] } | null)?.results ?? [];
    for (const x of results) if (x.status === 'Success' && !keys.includes(x.key)) keys.push(x.key);
  }
  return keys;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
