// The watches after a rollout as the controller reads them: which completed deploy is being
// watched, ending that watch when something supersedes it, and what both watches (post-deploy,
// steady-state) have found, for `rewind status`.
import { type RolloutRecord, StaleWriteError } from '../../store/types.ts';
import { steadyStateRules } from '../analysis/index.ts';
import type { ControllerCore } from './controller-core.ts';

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

/** The analysis of the rollout in progress as `rewind status` and `deploy --wait` show it. */
export interface AnalysisView {
  readonly rolloutId: string;
  /** The canary (or before/after) judgment so far; null when none applies yet. */
  readonly judgment: { readonly verdict: string; readonly message: string } | null;
  readonly rules: readonly { readonly name: string; readonly phase: string; readonly message: string }[];
  readonly evaluatedAt: number | null;
}

/** What the analysis of the active rollout found at its last evaluation; null with no rollout. */
export function analysisStatus(core: ControllerCore, active: RolloutRecord | null): AnalysisView | null {
  if (!active) return null;
  const latest = core.watch.latest(active.id);
  return {
    rolloutId: active.id,
    judgment: latest?.judgment
      ? { verdict: latest.judgment.verdict, message: latest.judgment.message }
      : null,
    rules: latest?.rules ?? [],
    evaluatedAt: latest?.at ?? null,
  };
}

/** The completed deploy whose post-deploy watch is going on, if any. */
export async function watching(
  core: ControllerCore,
  app: string,
  recent?: readonly RolloutRecord[],
): Promise<RolloutRecord | undefined> {
  const last = (recent ?? (await core.deps.store.rollouts.list(app, 5))).find((r) => r.phase === 'Completed');
  const watch = last?.state?.watch;
  return last?.kind === 'deploy' && watch?.status === 'Watching' ? last : undefined;
}

/** Ends the app's post-deploy watch (a new deploy or a rollback by hand supersedes it). */
export async function endWatch(core: ControllerCore, app: string, reason: string): Promise<void> {
  // A tick may be writing the same rollout (its watch memory): read again and retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    const rollout = await watching(core, app);
    if (!rollout) return;
    try {
      await core.driver.endWatch(rollout, reason);
      return;
    } catch (err) {
      if (!(err instanceof StaleWriteError)) throw err;
    }
  }
}

/** What the post-deploy watch of the app has found so far, for `rewind status`. */
export async function watchStatus(core: ControllerCore, app: string): Promise<WatchView | null> {
  core.context(app);
  const rollout = await watching(core, app);
  if (!rollout) return null;
  const watch = rollout.state.watch!;
  const latest = core.watch.latest(rollout.id);
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
export async function steadyWatchStatus(core: ControllerCore, app: string): Promise<SteadyWatchView | null> {
  const ctx = core.context(app);
  if (steadyStateRules(ctx.spec.analysis).length === 0) return null;
  const { store } = core.deps;
  const stable = (await store.apps.get(app))?.stableRevision;
  if (stable == null || (await store.rollouts.active(app)) || (await watching(core, app))) return null;
  const key = core.driver.steadyKey(app);
  const latest = key === undefined ? null : core.watch.latest(key);
  return { revision: stable, rules: latest?.rules ?? [], evaluatedAt: latest?.at ?? null };
}
