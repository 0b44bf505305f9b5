// The reconcile loop. On every tick, per app: observe instances, probe health, drive the active
// rollout one idempotent step at a time (journalling each transition before acting on it), put
// the derived routing table in force, and retire processes nothing needs any more.

import { randomUUID } from 'node:crypto';
import type { MetricsSource } from '../../providers/metrics-source.ts';
import type { AppProviders } from '../../providers/registry.ts';
import type { Instance } from '../../providers/runtime.ts';
import { formatDuration } from '../../shared/duration.ts';
import { RewindError } from '../../shared/errors.ts';
import { FailureBackoff } from '../../shared/failure-backoff.ts';
import type { Logger } from '../../shared/logger.ts';
import { type AppSpec, rolloutSettings } from '../../spec/app-spec.ts';
import type { EventType } from '../../spec/events.ts';
import {
  type NewRevision,
  type RevisionRecord,
  RolloutConflictError,
  type RolloutRecord,
  StaleWriteError,
  type Store,
} from '../../store/types.ts';
import { type Severity, steadyStateRules } from '../analysis/index.ts';
import type { RolloutDatabase } from '../database/rollout-database.ts';
import type { FlagService } from '../flags/flag-service.ts';
import { pullKillSwitch, switchFlag } from '../flags/kill-switch.ts';
import type { IncidentTrigger } from '../incidents/incident.ts';
import type { IncidentService } from '../incidents/incident-service.ts';
import type { NotificationInput } from '../notifications/notification-hub.ts';
import {
  buildRevisionSpec,
  copyRevisionSpec,
  parseRevisionSpec,
  type RevisionSpec,
  revisionEnv,
  unitOf,
} from '../revisions/revision-spec.ts';
import { createSecretBox, type SecretBox } from '../revisions/secret-box.ts';
import type { AppContext, ManagedApp } from './app-context.ts';
import { RolloutDriver } from './rollout-driver.ts';
import { RolloutReporter } from './rollout-reporter.ts';
import { failAt, initialState, planSteps, promote, type RolloutState } from './rollout-state.ts';
import { RolloutWatch } from './rollout-watch.ts';
import { planTraffic, type RevisionRef, type TrafficIntent } from './traffic-plan.ts';

/** The event each command writes. */
const COMMAND_EVENTS = {
  promote: 'rollout.promoted',
  pause: 'rollout.paused',
  resume: 'rollout.resumed',
  abort: 'rollout.aborted',
} as const satisfies Record<string, EventType>;

export interface ControllerDeps {
  readonly store: Store;
  readonly log: Logger;
  /** Per-second traffic counters of each revision (the built-in proxy's by default). */
  readonly metrics: MetricsSource;
  readonly incidents: IncidentService;
  readonly notify: (n: NotificationInput) => void;
  /** Migrations of apps that declare a database. */
  readonly database?: RolloutDatabase & {
    /** Checks the migrations `version` brings (folder, files, lint) and returns its migration level; throws a RewindError. */
    prepare(ctx: AppContext, version: string): Promise<number>;
  };
  /** Flag sets: a revision records the version in force, a rollback restores it. */
  readonly flags?: FlagService;
  /** Opens sealed secrets when instances start; without a key, revisions with secrets cannot start. */
  readonly secrets?: SecretBox;
  /** Where the app's instances reach Rewind's OFREP endpoints (REWIND_OFREP_URL), if served. */
  readonly ofrepUrl?: (app: string) => string;
  /** The app's read-only flag token for OFREP (REWIND_OFREP_TOKEN), if served. */
  readonly ofrepToken?: (app: string) => string;
  /**
   * The flagd sync listener, if served: instances get the flagd providers' own FLAGD_* settings
   * (in-process, this host and port, the app as selector), so `new FlagdProvider()` needs no options.
   */
  readonly flagdSync?: { readonly host: string; readonly port: number; readonly tls: boolean };
  readonly tickMs?: number;
}

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const dbPlan = (spec: AppSpec) => (spec.database ? { contract: spec.database.contract } : undefined);

const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The post-deploy watch as `rewind status` shows it. */
export interface WatchView {
  readonly rolloutId: string;
  readonly revision: number;
  readonly previousRevision: number | null;
  readonly until: number;
  readonly leftMs: number;
  /** The judgment so far (before/after, or none when it cannot judge). */
  readonly judgment: { readonly verdict: string; readonly message: string } | null;
  readonly rules: readonly { readonly name: string; readonly phase: string; readonly message: string }[];
  readonly evaluatedAt: number | null;
}

/** The steady-state watch (rules marked `watch: always`) as `rewind status` shows it. */
export interface SteadyWatchView {
  readonly revision: number;
  /** Each rule's phase at the last evaluation; empty before the first. */
  readonly rules: readonly { readonly name: string; readonly phase: string; readonly message: string }[];
  readonly evaluatedAt: number | null;
}

/**
 * Throws unless `version` is a version label: it is substituted into the run command and into
 * migration paths, so nothing that could escape them (no /, no .. at the start).
 */
export function checkVersion(version: string): void {
  if (!VERSION_RE.test(version)) {
    throw new RewindError(
      'VALIDATION_FAILED',
      `version "${version}" is not valid; use letters, digits, and . _ + - (it is substituted into the run command)`,
      { field: 'version' },
    );
  }
}

export class Controller {
  readonly #deps: ControllerDeps;
  readonly #apps = new Map<string, ManagedApp>();
  readonly #driver: RolloutDriver;
  readonly #reporter: RolloutReporter;
  readonly #busy = new Map<string, Promise<void>>();
  readonly #queued = new Map<string, Promise<void>>();
  /** Per app: a reconcile that keeps failing is retried with a growing delay, and said once. */
  readonly #backoff = new Map<string, FailureBackoff>();
  readonly #watch: RolloutWatch;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(deps: ControllerDeps) {
    this.#deps = deps;
    this.#watch = new RolloutWatch(deps.metrics, { series: deps.store.analysis, log: deps.log });
    this.#reporter = new RolloutReporter({
      store: deps.store,
      incidents: deps.incidents,
      notify: deps.notify,
      metrics: deps.metrics,
      log: deps.log,
    });
    this.#driver = new RolloutDriver({
      store: deps.store,
      log: deps.log,
      applyRoutes: async (ctx, rollout) => {
        await this.#applyRoutes(ctx, rollout, await ctx.providers.runtime.list(ctx.spec.name));
      },
      reporter: this.#reporter,
      metrics: deps.metrics,
      watch: this.#watch,
      envOf: (ctx, spec) => this.#envOf(ctx.spec.name, spec),
      database: deps.database,
      killSwitch: deps.flags
        ? async ({ drill, ...input }) => {
            // A drill's rollout rehearses: the flag goes off like in earnest, with no incident.
            if (drill) {
              await switchFlag(deps.flags!, { ...input, state: 'DISABLED', author: 'rewind' });
              return null;
            }
            return (
              await pullKillSwitch(
                { flags: deps.flags!, incidents: deps.incidents, store: deps.store },
                { ...input, by: 'rewind', author: 'rewind' },
              )
            ).id;
          }
        : undefined,
    });
  }

  async #flagSetVersion(app: string): Promise<number | null> {
    if (!this.#deps.flags) return null;
    const v = (await this.#deps.flags.current(app)).version;
    return v === 0 ? null : v;
  }

  #envOf(app: string, spec: RevisionSpec): Record<string, string> {
    const box = this.#deps.secrets ?? createSecretBox(undefined);
    const env = revisionEnv(spec, (sealed) => box.decrypt(sealed));
    if (this.#deps.ofrepUrl) env.REWIND_OFREP_URL ??= this.#deps.ofrepUrl(app);
    // Rewind's, not the revision's: a deploy --env cannot hand an app another app's flag token.
    if (this.#deps.ofrepToken) env.REWIND_OFREP_TOKEN = this.#deps.ofrepToken(app);
    const sync = this.#deps.flagdSync;
    if (sync) {
      env.FLAGD_RESOLVER ??= 'in-process';
      env.FLAGD_HOST ??= sync.host;
      env.FLAGD_PORT ??= String(sync.port);
      env.FLAGD_SOURCE_SELECTOR ??= app;
      if (sync.tls) env.FLAGD_TLS ??= 'true';
    }
    return env;
  }

  /**
   * Register an app of rewind.yaml with the providers built for it (src/providers/registry.ts);
   * the first tick deploys its initial version if it has none.
   */
  async register(spec: AppSpec, baseDir: string, providers: AppProviders): Promise<void> {
    await this.#deps.store.apps.upsert(spec.name, spec);
    this.#apps.set(spec.name, { spec, baseDir, providers, lastTableKey: null, retiring: new Map() });
  }

  appNames(): string[] {
    return [...this.#apps.keys()];
  }

  context(app: string): ManagedApp {
    const ctx = this.#apps.get(app);
    if (!ctx) {
      throw new RewindError(
        'APP_NOT_FOUND',
        `no app named "${app}"; known apps: ${this.appNames().join(', ') || 'none'}`,
        {
          app,
        },
      );
    }
    return ctx;
  }

  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      const now = Date.now();
      for (const app of this.#apps.keys()) if (this.#backoffOf(app).due(now)) this.kick(app);
      this.#timer = setTimeout(loop, this.#deps.tickMs ?? 100);
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.allSettled([...this.#busy.values()]);
  }

  /** Reconcile an app now. Ticks and commands of one app run one at a time; a queued tick is shared. */
  kick(app: string): Promise<void> {
    const queued = this.#queued.get(app);
    if (queued) return queued;
    const run = this.#exclusive(app, async () => {
      this.#queued.delete(app);
      if (this.#stopped) return;
      const backoff = this.#backoffOf(app);
      try {
        await this.#reconcile(this.context(app));
        const run = backoff.succeeded(Date.now());
        if (run)
          this.#deps.log.info({ app, failures: run.failures, forMs: run.forMs }, 'reconcile recovered');
      } catch (err) {
        const note = backoff.failed(Date.now());
        if (note.report === 'first')
          this.#deps.log.error({ err, app }, 'reconcile failed; retrying with a growing delay (up to 2 s)');
        else if (note.report === 'still')
          this.#deps.log.warn(
            { err, app, failures: note.failures, forMs: note.forMs },
            'reconcile still failing',
          );
      }
    });
    this.#queued.set(app, run);
    return run;
  }

  /**
   * The data plane came back after a loss (a new agent): re-apply every app's table on the next
   * tick, even if unchanged (the new agent restored its own last table, which may lag ours),
   * start again what the agent took down with it and is still needed, and reconcile now rather
   * than when the backoff says.
   */
  async dataPlaneRestarted(): Promise<void> {
    for (const [app, ctx] of this.#apps) {
      ctx.lastTableKey = null;
      ctx.providers.traffic.resync(app);
      // Taken when the loss was seen (a tick against the new agent may have observed it empty since).
      ctx.lostWithAgent ??= upInstances(ctx.observed?.instances);
      this.#backoffOf(app).reset();
    }
    await Promise.all([...this.#apps.keys()].map((app) => this.kick(app)));
  }

  /**
   * The data plane died: what the last tick before the loss saw up died with it. Ticks fail until
   * a new agent answers, so this is the last observation of the old one.
   */
  dataPlaneLost(): void {
    for (const ctx of this.#apps.values()) ctx.lostWithAgent ??= upInstances(ctx.observed?.instances);
  }

  /** Apps whose route table this controller has not put in force yet (since it started, or since the data plane restarted). */
  appsWithoutRoutes(): string[] {
    return [...this.#apps].filter(([, ctx]) => ctx.lastTableKey === null).map(([app]) => app);
  }

  #backoffOf(app: string): FailureBackoff {
    const known = this.#backoff.get(app);
    if (known) return known;
    const backoff = new FailureBackoff();
    this.#backoff.set(app, backoff);
    return backoff;
  }

  /**
   * Runs `fn` (a manual database operation) while no rollout of the app is in progress, serialised
   * with the reconcile loop so that a deploy cannot start under it.
   */
  whileIdle<T>(
    app: string,
    fn: (ctx: AppContext, stable: RevisionRecord | undefined) => Promise<T>,
  ): Promise<T> {
    const ctx = this.context(app);
    return this.#exclusive(app, async () => {
      const { store } = this.#deps;
      const active = await store.rollouts.active(app);
      if (active) throw conflict(app, active.id);
      const stable = (await store.apps.get(app))?.stableRevision;
      return fn(ctx, stable == null ? undefined : await store.revisions.get(app, stable));
    });
  }

  #exclusive<T>(app: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#busy.get(app) ?? Promise.resolve();
    const run = previous.then(fn);
    const settled = run.then(
      () => {},
      () => {},
    );
    this.#busy.set(app, settled);
    void settled.then(() => {
      if (this.#busy.get(app) === settled) this.#busy.delete(app);
    });
    return run;
  }

  /** Applies a pure change to the app's active rollout (promote, pause, resume, abort) and reconciles. */
  async #command(
    app: string,
    verb: keyof typeof COMMAND_EVENTS,
    change: (
      rollout: RolloutRecord,
      now: number,
    ) => { state: RolloutState; phase?: RolloutRecord['phase']; error?: string; message: string } | string,
  ): Promise<RolloutRecord> {
    this.context(app);
    const result = await this.#exclusive(app, async () => {
      const active = await this.#deps.store.rollouts.active(app);
      if (!active)
        throw new RewindError('NO_ACTIVE_ROLLOUT', `app ${app} has nothing rolling out to ${verb}`, { app });
      const outcome = change(active, Date.now());
      if (typeof outcome === 'string')
        throw new RewindError('INVALID_STATE', `cannot ${verb} app ${app}: ${outcome}`, {
          app,
          rolloutId: active.id,
        });
      const updated = await this.#deps.store.rollouts.update(
        active.id,
        {
          state: outcome.state,
          ...(outcome.phase ? { phase: outcome.phase } : {}),
          ...(outcome.error ? { error: outcome.error } : {}),
        },
        active.generation,
      );
      await this.#deps.store.events.append({
        app,
        rolloutId: active.id,
        type: COMMAND_EVENTS[verb],
        message: outcome.message,
      });
      return updated;
    });
    await this.kick(app);
    return (await this.#deps.store.rollouts.get(result.id)) ?? result;
  }

  promote(app: string, full: boolean): Promise<RolloutRecord> {
    return this.#command(app, 'promote', (r, now) => {
      const p = promote(r.state, full, now);
      return p.ok
        ? { state: p.state, message: full ? 'promoted to 100% by hand' : 'promoted by hand: next step' }
        : p.reason;
    });
  }

  pause(app: string, reason = 'paused by hand'): Promise<RolloutRecord> {
    return this.#command(app, 'pause', (r, now) => {
      const state = r.state;
      if (state.compensation) return 'the rollout is rolling back';
      if (state.paused) return 'the rollout is paused already';
      return { state: { ...state, paused: { at: now, reason } }, phase: 'Paused', message: reason };
    });
  }

  resume(app: string): Promise<RolloutRecord> {
    return this.#command(app, 'resume', (r) => {
      const state = r.state;
      if (!state.paused) return 'the rollout is not paused';
      return { state: { ...state, paused: null }, message: 'resumed by hand' };
    });
  }

  async abort(app: string, reason = 'aborted by hand', actor?: string): Promise<RolloutRecord> {
    const rollout = await this.#command(app, 'abort', (r, now) => {
      const state = r.state;
      if (state.compensation) return 'the rollout is rolling back already';
      const step = state.steps[Math.min(state.index, state.steps.length - 1)]!.name;
      const failed = failAt(state, { step, reason: `aborted: ${reason}` }, now);
      return {
        state: { ...failed, compensation: { ...failed.compensation!, outcome: 'RolledBack' } },
        phase: 'RollingBack',
        error: `aborted: ${reason}`,
        message: `aborted at ${step}: ${reason}`,
      };
    });
    this.#reporter.notify(
      rollout,
      'rollout.aborted',
      `${app}: rollout to revision ${rollout.toRevision} aborted: ${reason}`,
    );
    await this.#reporter.openIncident(
      rollout,
      { kind: 'manual', message: `aborted by ${actor ?? 'hand'}: ${reason}` },
      'P2',
    );
    return (await this.#deps.store.rollouts.get(rollout.id)) ?? rollout;
  }

  async deploy(
    app: string,
    input: {
      version: string;
      env?: Record<string, string>;
      reason?: string;
      actor?: string;
      /** The drill this deploy rehearses (features/drills): no incident if it is rolled back. */
      drill?: string;
    },
  ): Promise<RolloutRecord> {
    const ctx = this.context(app);
    checkVersion(input.version);
    for (const key of Object.keys(input.env ?? {})) {
      if (!ENV_RE.test(key)) {
        throw new RewindError(
          'VALIDATION_FAILED',
          `env key "${key}" is not a valid variable name; use letters, digits and _`,
          {
            field: 'env',
          },
        );
      }
    }
    const { store } = this.#deps;
    const active = await store.rollouts.active(app);
    if (active) throw conflict(app, active.id);
    const appRecord = await store.apps.get(app);
    const stableRev =
      appRecord?.stableRevision != null
        ? await store.revisions.get(app, appRecord.stableRevision)
        : undefined;
    const carried = stableRev ? parseRevisionSpec(stableRev.spec) : undefined;
    const migrationLevel =
      ctx.spec.database && this.#deps.database ? await this.#deps.database.prepare(ctx, input.version) : null;
    const spec = buildRevisionSpec(ctx.spec, ctx.baseDir, {
      version: input.version,
      env: input.env,
      carry: {
        config: carried?.config ?? {},
        secrets: carried?.secrets ?? {},
        flagSetVersion: (await this.#flagSetVersion(app)) ?? carried?.flagSetVersion ?? null,
      },
      migrationLevel,
      author: input.actor ?? null,
    });
    const revision = await store.revisions.create({
      app,
      version: input.version,
      spec,
      reason: input.reason ?? null,
    });
    const from = appRecord?.stableRevision ?? null;
    const rollout = await this.#createRollout(
      app,
      'deploy',
      from,
      revision,
      planSteps('deploy', {
        targetWarm: false,
        fromNothing: from === null,
        canary: rolloutSettings(ctx.spec).steps,
        database: dbPlan(ctx.spec),
      }),
      input.reason,
      input.actor,
      input.drill,
    );
    void this.kick(app);
    return rollout;
  }

  /**
   * `rewind config set` and `rewind secrets set`: a new revision like the stable one but for the
   * changed config or secrets (null unsets a key), rolled out with the app's strategy like any
   * other, so that a rollback restores them with the rest.
   */
  async changeConfig(
    app: string,
    input: {
      config?: Record<string, string | null>;
      secrets?: Record<string, string | null>;
      reason?: string;
      actor?: string;
    },
  ): Promise<RolloutRecord> {
    const ctx = this.context(app);
    const { store } = this.#deps;
    const changes = [
      ...Object.entries(input.config ?? {}).map(([k, v]) => ['config', k, v] as const),
      ...Object.entries(input.secrets ?? {}).map(([k, v]) => ['secrets', k, v] as const),
    ];
    if (changes.length === 0)
      throw new RewindError('VALIDATION_FAILED', 'nothing to change; pass KEY=VALUE pairs or --unset KEY', {
        field: 'config',
      });
    for (const [field, key] of changes) {
      if (!ENV_RE.test(key))
        throw new RewindError(
          'VALIDATION_FAILED',
          `${field} key "${key}" is not a valid environment variable name; use letters, digits and _, not starting with a digit`,
          { field, key },
        );
    }
    const box = this.#deps.secrets ?? createSecretBox(undefined);
    if (input.secrets && Object.values(input.secrets).some((v) => v !== null)) box.requireKey();
    const active = await store.rollouts.active(app);
    if (active) throw conflict(app, active.id);
    const stable = (await store.apps.get(app))?.stableRevision ?? null;
    const stableRev = stable !== null ? await store.revisions.get(app, stable) : undefined;
    if (!stableRev)
      throw new RewindError('NO_EARLIER_REVISION', `app ${app} has no revision yet; deploy one first`, {
        app,
      });
    const base = parseRevisionSpec(stableRev.spec);
    const config = { ...base.config };
    const secrets = { ...base.secrets };
    for (const [field, key, value] of changes) {
      const target = field === 'config' ? config : secrets;
      if (value === null) {
        if (!(key in target))
          throw new RewindError(
            'VALIDATION_FAILED',
            `${field} key "${key}" is not set on app ${app}; nothing to unset`,
            {
              field,
              key,
            },
          );
        delete target[key];
      } else target[key] = field === 'secrets' ? box.encrypt(value) : value;
    }
    const what = changes.map(
      ([field, key, value]) =>
        `${value === null ? 'unset' : 'set'} ${field === 'secrets' ? 'secret' : 'config'} ${key}`,
    );
    const revision = await store.revisions.create({
      app,
      version: stableRev.version,
      spec: {
        ...base,
        unit: null,
        config,
        secrets,
        flagSetVersion: (await this.#flagSetVersion(app)) ?? base.flagSetVersion,
        author: input.actor ?? null,
      } satisfies RevisionSpec,
      reason: input.reason ?? what.join(', '),
    });
    const rollout = await this.#createRollout(
      app,
      'deploy',
      stable,
      revision,
      planSteps('deploy', {
        targetWarm: false,
        fromNothing: false,
        canary: rolloutSettings(ctx.spec).steps,
        database: dbPlan(ctx.spec),
      }),
      input.reason ?? what.join(', '),
    );
    void this.kick(app);
    return rollout;
  }

  /**
   * Put an earlier revision back. While a deploy is still in progress, this aborts it (its
   * compensations restore the stable revision); otherwise it creates a copy of the target and
   * rolls it out, by a plain traffic switch when the target's processes are still warm.
   */
  async rollback(
    app: string,
    input: { toRevision?: number; reason?: string; actor?: string; drill?: string },
  ): Promise<RolloutRecord> {
    const ctx = this.context(app);
    const { store } = this.#deps;
    const reason = input.reason ?? 'manual rollback';
    const active = await store.rollouts.active(app);
    if (active) {
      if (input.toRevision !== undefined && input.toRevision !== active.fromRevision)
        throw conflict(app, active.id);
      if (active.kind === 'deploy' && active.fromRevision !== null)
        return this.abort(app, reason, input.actor);
      throw conflict(app, active.id);
    }
    // Serialised with the reconcile loop: no tick computes its table from the state before this.
    const queuedAt = performance.now();
    const rollout = await this.#exclusive(app, () =>
      this.#startRollback(ctx, { ...input, reason, queuedAt }),
    );
    await this.#endWatch(app, `rolled back by ${input.actor ?? 'hand'}: ${reason}`);
    // The loop takes the steps after the switch (verification, database, retirement); the caller
    // follows the rollout.
    void this.kick(app);
    return (await store.rollouts.get(rollout.id)) ?? rollout;
  }

  /**
   * Creates the rollback rollout to `toRevision` (default: the revision before the stable one) and
   * restores its flag set; the reconcile loop drives it. `automatic` carries what the analysis
   * found, for the incident.
   */
  async #startRollback(
    ctx: ManagedApp,
    input: {
      toRevision?: number;
      reason: string;
      automatic?: { trigger: IncidentTrigger; severity: Severity };
      /** When the request began waiting for the app's reconcile tick to end. */
      queuedAt?: number;
      /** Who asked (the token's name); the revision's author. */
      actor?: string;
      /** The drill this rollback rehearses: no incident. */
      drill?: string;
    },
  ): Promise<RolloutRecord> {
    const { store } = this.#deps;
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
    const targetNumber = input.toRevision ?? (await this.#previousRevision(app, stableRev));
    if (targetNumber === null) {
      throw new RewindError(
        'NO_EARLIER_REVISION',
        `app ${app} has no revision before ${stable} to roll back to`,
        { app },
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
    let warm = this.#unitReady(ctx, instances, unit, spec.instances);
    if (!warm && recent) {
      instances = await ctx.providers.runtime.list(app);
      warm = this.#unitReady(ctx, instances, unit, spec.instances);
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
    const { revision: copy, rollout } = await this.#insertRollout(
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
      const { inForceAt } = await this.#applyRoutes(ctx, rollout, instances);
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
    await this.#announceRollout(rollout, copy, steps, reason, incident, input.actor);
    if (spec.flagSetVersion !== null && this.#deps.flags) {
      // The revision's flag set comes back with it, as a new version that copies it.
      await this.#deps.flags
        .restore(app, spec.flagSetVersion, {
          author: 'rewind',
          reason: `rollback to revision ${target.number}`,
        })
        .catch((err: Error) => this.#deps.log.warn({ err, app }, 'flag set not restored'));
    }
    return rollout;
  }

  /** The completed deploy whose post-deploy watch is going on, if any. */
  async #watching(app: string, recent?: readonly RolloutRecord[]): Promise<RolloutRecord | undefined> {
    const last = (recent ?? (await this.#deps.store.rollouts.list(app, 5))).find(
      (r) => r.phase === 'Completed',
    );
    const watch = last?.state?.watch;
    return last?.kind === 'deploy' && watch?.status === 'Watching' ? last : undefined;
  }

  /** Ends the app's post-deploy watch (a new deploy or a rollback by hand supersedes it). */
  async #endWatch(app: string, reason: string): Promise<void> {
    // A tick may be writing the same rollout (its watch memory): read again and retry.
    for (let attempt = 0; attempt < 3; attempt++) {
      const rollout = await this.#watching(app);
      if (!rollout) return;
      try {
        await this.#driver.endWatch(rollout, reason);
        return;
      } catch (err) {
        if (!(err instanceof StaleWriteError)) throw err;
      }
    }
  }

  /** What the post-deploy watch of the app has found so far, for `rewind status`. */
  async watchStatus(app: string): Promise<WatchView | null> {
    this.context(app);
    const rollout = await this.#watching(app);
    if (!rollout) return null;
    const watch = rollout.state.watch!;
    const latest = this.#watch.latest(rollout.id);
    return {
      rolloutId: rollout.id,
      revision: rollout.toRevision,
      previousRevision: rollout.fromRevision,
      until: watch.until,
      leftMs: Math.max(0, watch.until - Date.now()),
      judgment: latest?.judgment
        ? { verdict: latest.judgment.verdict, message: latest.judgment.message }
        : null,
      rules: latest?.rules ?? [],
      evaluatedAt: latest?.at ?? null,
    };
  }

  /**
   * The steady-state watch of the app's stable revision: null while a rollout or the post-deploy
   * watch runs, or when no rule is marked `watch: always`.
   */
  async steadyWatchStatus(app: string): Promise<SteadyWatchView | null> {
    const ctx = this.context(app);
    if (steadyStateRules(ctx.spec.analysis).length === 0) return null;
    const { store } = this.#deps;
    const stable = (await store.apps.get(app))?.stableRevision;
    if (stable == null || (await store.rollouts.active(app)) || (await this.#watching(app))) return null;
    const key = this.#driver.steadyKey(app);
    const latest = key === undefined ? null : this.#watch.latest(key);
    return { revision: stable, rules: latest?.rules ?? [], evaluatedAt: latest?.at ?? null };
  }

  async instances(app: string): Promise<(Instance & { health: string })[]> {
    const { runtime, health } = this.context(app).providers;
    const list = await runtime.list(app);
    return list.map((i) => ({ ...i, health: health.verdict(i.id) }));
  }

  async #previousRevision(app: string, stable: RevisionRecord): Promise<number | null> {
    // The revision that served before the stable one: the source of the last completed rollout.
    const rollouts = await this.#deps.store.rollouts.list(app, 50);
    const last = rollouts.find((r) => r.phase === 'Completed' && r.toRevision === stable.number);
    if (last?.fromRevision != null) return last.fromRevision;
    const older = (await this.#deps.store.revisions.list(app, 50)).find(
      (r) => r.number < stable.number && unitOf(r) !== unitOf(stable),
    );
    return older?.number ?? null;
  }

  async #createRollout(
    app: string,
    kind: 'deploy' | 'rollback',
    from: number | null,
    to: RevisionRecord,
    steps: RolloutState['steps'],
    reason: string | undefined,
    actor?: string,
    drill?: string,
  ): Promise<RolloutRecord> {
    const { rollout } = await this.#insertRollout(app, kind, from, to, steps, reason, false, drill);
    await this.#announceRollout(rollout, to, steps, reason, undefined, actor);
    return rollout;
  }

  /**
   * The rollout's first journal entry, to `to`: an existing revision, or a new one (a rollback's
   * copy of its target) written in the same transaction. `switched`: its first step
   * (switchTraffic) is in force already.
   */
  async #insertRollout(
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
    const { store } = this.#deps;
    const rollout = {
      id: randomUUID(),
      kind,
      strategy: rolloutSettings(this.context(app).spec).strategy,
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
  async #announceRollout(
    rollout: RolloutRecord,
    to: RevisionRecord,
    steps: RolloutState['steps'],
    reason: string | undefined,
    automatic?: { trigger: IncidentTrigger; severity: Severity },
    actor?: string,
  ): Promise<void> {
    const { store } = this.#deps;
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
      this.#reporter.notify(
        rollout,
        'rollout.started',
        `${app}: deploying ${to.version} as revision ${to.number}`,
      );
    } else {
      await this.#reporter.openIncident(
        rollout,
        automatic?.trigger ?? { kind: 'manual', message: `rolled back by ${actor ?? 'hand'}: ${reason}` },
        automatic?.severity ?? 'P2',
      );
    }
  }

  #unitReady(ctx: ManagedApp, instances: readonly Instance[], unit: number, count: number): boolean {
    const { health } = ctx.providers;
    const up = instances.filter(
      (i) => i.revision === unit && i.phase === 'Running' && health.verdict(i.id) !== 'Unhealthy',
    );
    return up.length >= count;
  }

  async #reconcile(ctx: ManagedApp): Promise<void> {
    const { store } = this.#deps;
    const { runtime, health } = ctx.providers;
    const app = ctx.spec.name;
    let active = await store.rollouts.active(app);
    const record = await store.apps.get(app);
    if (!active && record?.stableRevision == null && (await store.rollouts.list(app, 1)).length === 0) {
      // First sight of this app: deploy its initial version. Once: if that fails, the app waits for
      // a `rewind deploy` instead of trying again every tick.
      await this.deploy(app, { version: ctx.spec.initialVersion, reason: 'initial deploy' }).catch((err) => {
        if (!(err instanceof RewindError && err.code === 'ROLLOUT_IN_PROGRESS')) throw err;
      });
      active = await store.rollouts.active(app);
    }
    const observe = async () => {
      const instances = await runtime.list(app);
      health.observe(instances);
      ctx.observed = { at: Date.now(), instances };
      return instances;
    };
    let instances = await observe();
    let after: RolloutRecord | null = null;
    if (active) {
      await this.#driver.drive(ctx, active, observe);
      // The driver changed the world: look again. (With no rollout nothing else ran in between:
      // commands and ticks of one app run one at a time.)
      instances = await runtime.list(app);
      after = (await store.rollouts.active(app)) ?? null;
    }
    // One read of the recent rollouts serves the watch and the table (an idle tick's cost).
    let recent: readonly RolloutRecord[] | undefined;
    if (!active || !after) {
      recent = await store.rollouts.list(app, 5);
      const watching = await this.#watching(app, recent);
      let rolledBack = false;
      const rollBack =
        (toRevision: number | undefined, drill?: RolloutState['drill']) =>
        async (input: { reason: string; trigger: IncidentTrigger; severity: Severity }) => {
          await this.#startRollback(ctx, {
            toRevision,
            reason: input.reason,
            automatic: { trigger: input.trigger, severity: input.severity },
            drill,
          });
          rolledBack = true;
        };
      if (watching) {
        await this.#driver.watchStable(
          ctx,
          watching,
          instances,
          rollBack(watching.fromRevision ?? undefined, watching.state.drill),
        );
      } else if (!after && recent[0]?.finishedAt != null) {
        // No rollout, no post-deploy watch: the rules marked `watch: always` watch the stable revision.
        await this.#driver.watchSteady(ctx, recent[0], instances, rollBack(undefined));
      }
      // Only a rollback changes what the table is derived from (the watch's own writes do not):
      // the other ticks of the watch, most of them, read nothing more.
      if (rolledBack) {
        after = (await store.rollouts.active(app)) ?? null;
        recent = undefined;
        if (after) {
          // The switch back is the point: drive it now rather than on the next tick.
          await this.#driver.drive(ctx, after, observe);
          instances = await runtime.list(app);
          after = (await store.rollouts.active(app)) ?? null;
        }
      }
    } else {
      this.#driver.endSteady(app);
    }
    // One look at the store and the agent serves the routes, the stable check and the retirement.
    const observed = await this.#applyRoutes(ctx, after, instances, recent);
    await this.#ensureStableRunning(ctx, instances);
    await this.#restoreLost(ctx, observed.keep);
    await this.#retire(ctx, observed);
    // Last: a rollback's verification, once due, starts apart from the loop (it waits for nothing here).
    await this.#driver.verifyDue(ctx);
  }

  /** The stable revision's processes, if they are gone (the agent restarted), are started again. */
  async #ensureStableRunning(ctx: ManagedApp, instances: readonly Instance[]): Promise<void> {
    const { store } = this.#deps;
    const stable = (await store.apps.get(ctx.spec.name))?.stableRevision;
    if (stable == null) return;
    const rev = await store.revisions.get(ctx.spec.name, stable);
    if (rev) await this.#ensureRunning(ctx, rev, instances, 'starting a stable instance that is gone');
  }

  /**
   * After an agent restart: the other revisions still needed (a canary and the one it replaces,
   * a warm previous revision) that were up when the agent died are started again, once.
   */
  async #restoreLost(ctx: ManagedApp, keep: Set<number>): Promise<void> {
    const lost = ctx.lostWithAgent;
    if (!lost) return;
    const units = new Set(lost.map((i) => i.revision).filter((unit) => keep.has(unit)));
    if (units.size > 0) {
      // Fresh: the stable revision's may have just been started.
      const instances = await ctx.providers.runtime.list(ctx.spec.name);
      const revisions = await this.#deps.store.revisions.list(ctx.spec.name, 200);
      for (const unit of units) {
        // The newest revision of a unit carries the spec its processes run.
        const rev = revisions.find((r) => unitOf(r) === unit);
        if (rev) await this.#ensureRunning(ctx, rev, instances, 'starting an instance lost with the agent');
      }
    }
    ctx.lostWithAgent = undefined;
  }

  /** Starts each instance of `rev` that `instances` does not show up (or starting). */
  async #ensureRunning(
    ctx: ManagedApp,
    rev: RevisionRecord,
    instances: readonly Instance[],
    why: string,
  ): Promise<void> {
    const { runtime } = ctx.providers;
    const app = ctx.spec.name;
    const spec = parseRevisionSpec(rev.spec);
    const unit = unitOf(rev);
    for (let index = 0; index < spec.instances; index++) {
      if (
        instances.some(
          (i) => i.revision === unit && i.index === index && i.phase !== 'Stopped' && i.phase !== 'Stopping',
        )
      )
        continue;
      this.#deps.log.info({ app, revision: rev.number, index }, why);
      await runtime.start({
        app,
        revision: unit,
        index,
        command: spec.command,
        cwd: spec.cwd,
        env: this.#envOf(app, spec),
        stopTimeoutMs: spec.stopTimeoutMs,
      });
    }
  }

  async #intent(
    ctx: AppContext,
    active: RolloutRecord | null,
    recent?: readonly RolloutRecord[],
  ): Promise<{ intent: TrafficIntent; keep: Set<number> }> {
    const { store } = this.#deps;
    const app = ctx.spec.name;
    const ref = async (n: number | null): Promise<RevisionRef | null> => {
      if (n === null) return null;
      const rev = await store.revisions.get(app, n);
      return rev ? { revision: n, unit: unitOf(rev) } : null;
    };
    const stable = await ref((await store.apps.get(app))?.stableRevision ?? null);
    const standby: RevisionRef[] = [];
    const keep = new Set<number>();
    let intent: TrafficIntent;
    if (active) {
      const state = active.state;
      const from = await ref(active.fromRevision);
      const to = await ref(active.toRevision);
      intent = { current: from, next: to ? { ref: to, weight: state.weight } : null, standby };
      if (to) keep.add(to.unit);
      if (from) keep.add(from.unit);
    } else {
      intent = { current: stable, next: null, standby };
    }
    if (stable) keep.add(stable.unit);
    // The revision replaced by the last completed deploy stays warm for keepPreviousWarm.
    const last = (recent ?? (await store.rollouts.list(app, 5))).find((r) => r.phase === 'Completed');
    if (
      last?.kind === 'deploy' &&
      last.fromRevision !== null &&
      (last.finishedAt ?? 0) + rolloutSettings(ctx.spec).keepPreviousWarm > Date.now()
    ) {
      const prev = await ref(last.fromRevision);
      if (prev && !keep.has(prev.unit)) {
        standby.push(prev);
        keep.add(prev.unit);
      }
    }
    return { intent, keep };
  }

  /**
   * Hands the derived plan to the app's traffic router, which puts it in force if it (or the
   * instances serving it) changed; returns what it observed, for #retire.
   */
  async #applyRoutes(
    ctx: ManagedApp,
    active: RolloutRecord | null,
    instances: Instance[],
    recent?: readonly RolloutRecord[],
  ): Promise<{ keep: Set<number>; instances: Instance[]; inForceAt?: number | null }> {
    const { intent, keep } = await this.#intent(ctx, active, recent);
    const plan = planTraffic(ctx.spec, intent);
    const { changed, inForceAt } = await ctx.providers.traffic.apply(plan, instances);
    if (changed || ctx.lastTableKey === null) ctx.lastTableKey = JSON.stringify(plan.revisions);
    return changed ? { keep, instances, inForceAt } : { keep, instances };
  }

  /** Drain and stop the processes of units that nothing needs: not stable, not rolling, not warm. */
  async #retire(ctx: ManagedApp, observed: { keep: Set<number>; instances: Instance[] }): Promise<void> {
    const { store } = this.#deps;
    const { runtime, traffic } = ctx.providers;
    const app = ctx.spec.name;
    const { keep, instances } = observed;
    const units = new Set(instances.filter((i) => i.phase !== 'Stopped').map((i) => i.revision));
    for (const unit of units) {
      if (keep.has(unit)) {
        ctx.retiring.delete(unit);
        continue;
      }
      const since = ctx.retiring.get(unit) ?? Date.now();
      if (!ctx.retiring.has(unit)) {
        ctx.retiring.set(unit, since);
        await store.events.append({
          app,
          type: 'revision.retiring',
          message: `draining processes of revision ${unit}`,
          data: { unit },
        });
      }
      const labels = (await store.revisions.list(app, 200))
        .filter((r) => unitOf(r) === unit)
        .map((r) => r.number);
      let inflight = 0;
      for (const label of labels) inflight += await traffic.inflight(app, label).catch(() => 0);
      if (inflight > 0 && Date.now() - since < rolloutSettings(ctx.spec).drainTimeout) continue;
      ctx.retiring.delete(unit);
      await runtime.stopRevision(app, unit);
      await store.events.append({
        app,
        type: 'revision.stopped',
        message: `stopped the processes of revision ${unit}`,
        data: { unit },
      });
    }
  }
}

function conflict(app: string, id: string): RewindError {
  return new RewindError(
    'ROLLOUT_IN_PROGRESS',
    `app ${app} already has a rollout in progress (${id}); wait for it (rewind status ${app} --watch) or roll it back (rewind rollback ${app})`,
    { app, rolloutId: id },
  );
}

/** The instances that were up or on their way up. */
function upInstances(instances: readonly Instance[] | undefined): Instance[] {
  return (instances ?? []).filter(
    (i) => i.phase !== 'Stopped' && i.phase !== 'Stopping' && i.phase !== 'Failed',
  );
}
