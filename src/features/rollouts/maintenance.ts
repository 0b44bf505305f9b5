// Maintenance mode: turned on and off by hand (`rewind maintenance`), or by Rewind around what
// takes the app down under `maintenance: auto` (a rollback that needs a cold start, a database
// restore that overwrites). The state lives with the app in the store and reaches the proxy in
// the app's traffic plan (traffic-plan.ts), so a restarted controller puts the same page in force.
// Auto maintenance lasts while what turned it on runs: the rollback's verification ends it, and a
// tick that finds its owner gone (a controller that died in between) ends it too.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { RewindError } from '../../shared/errors.ts';
import type { EventType } from '../../spec/events.ts';
import { type MaintenanceState, pageProblem } from '../../spec/maintenance.ts';
import type { AppRecord, RolloutRecord } from '../../store/types.ts';
import type { AppContext, ManagedApp } from './app-context.ts';
import type { ControllerCore } from './controller-core.ts';
import { waitWords } from './maintenance-page.ts';
import { applyRoutes } from './traffic-plan.ts';

export interface MaintenanceInput {
  readonly on: boolean;
  /** The HTML page; default: rewind.yaml's maintenance.page, else the page naming the app. */
  readonly page?: string | undefined;
  readonly retryAfterSeconds?: number | undefined;
  readonly reason?: string | undefined;
  /** Who asked (the token's name). */
  readonly actor?: string | undefined;
}

export interface MaintenanceChange {
  /** The state in force now (null: off). */
  readonly maintenance: MaintenanceState | null;
  /** Whether anything changed (false: turned off while off). */
  readonly changed: boolean;
  /** When the proxy answered with it everywhere (epoch ms), or null when the router cannot tell. */
  readonly inForceAt: number | null;
}

/**
 * `rewind maintenance on|off`: checks the input, journals the state with the app, and answers once
 * the proxy serves it. Serialised with the reconcile loop. Turning it on while on replaces the
 * page, Retry-After and reason (and makes it a person's: Rewind no longer turns it off).
 */
export async function setMaintenance(
  core: ControllerCore,
  app: string,
  input: MaintenanceInput,
): Promise<MaintenanceChange> {
  const ctx = core.context(app);
  if (input.page !== undefined) {
    const problem = pageProblem(input.page);
    if (problem) throw new RewindError('VALIDATION_FAILED', `page: ${problem}`, { field: 'page' });
  }
  if (!input.on && (input.page !== undefined || input.retryAfterSeconds !== undefined))
    throw new RewindError(
      'VALIDATION_FAILED',
      `${input.page !== undefined ? 'page' : 'retryAfterSeconds'}: only for turning maintenance mode on; drop it, or send on: true`,
      { field: input.page !== undefined ? 'page' : 'retryAfterSeconds' },
    );
  const page = input.on && input.page === undefined ? await configuredPage(ctx) : (input.page ?? null);
  const { store } = core.deps;
  return core.scheduler.exclusive(app, async () => {
    const current = (await store.apps.get(app))?.maintenance ?? null;
    const active = (await store.rollouts.active(app)) ?? null;
    if (!input.on) {
      if (current === null) return { maintenance: null, changed: false, inForceAt: null };
      const by = `maintenance mode off (by ${input.actor ?? 'api'})${input.reason ? `: ${input.reason}` : ''}`;
      return { maintenance: null, changed: true, inForceAt: await turnOff(core, ctx, active, by) };
    }
    const state: MaintenanceState = {
      since: current?.since ?? Date.now(),
      retryAfterSeconds: input.retryAfterSeconds ?? Math.round(ctx.spec.maintenance.retryAfter / 1000),
      page,
      reason: input.reason ?? null,
      by: input.actor ?? 'api',
      source: 'manual',
      rolloutId: null,
    };
    const what = `maintenance mode ${current ? 'changed' : 'on'} (by ${state.by})`;
    return { maintenance: state, changed: true, inForceAt: await turnOn(core, ctx, state, active, what) };
  });
}

/**
 * Called by a rollback to `target` once journalled, before it acts: one that cannot switch to warm
 * processes (a cold start) turns maintenance on under `maintenance: auto`, for as long as it runs
 * and is verified. When maintenance is on already, its rollout says so (for the incident's timeline).
 */
export async function maintenanceBeforeRollback(
  core: ControllerCore,
  ctx: ManagedApp,
  rollout: RolloutRecord,
  target: { readonly number: number; readonly warm: boolean },
): Promise<void> {
  const { store } = core.deps;
  const current = (await store.apps.get(ctx.spec.name))?.maintenance ?? null;
  const auto = !target.warm && ctx.spec.maintenance.mode === 'auto';
  const why = `revision ${target.number} needs a cold start`;
  if (current === null) {
    if (auto)
      await turnOn(
        core,
        ctx,
        await autoState(core, ctx, rollout.id, why),
        rollout,
        `maintenance mode on (maintenance: auto): ${why}`,
      );
    return;
  }
  // Rewind's own, left by what turned it on before: this rollback ends it now.
  const takeOver = auto && current.source === 'auto';
  if (takeOver)
    await store.apps.setMaintenance(ctx.spec.name, { ...current, rolloutId: rollout.id, reason: why });
  const since = `since ${new Date(current.since).toISOString()}, by ${current.by}`;
  await event(
    core,
    ctx,
    rollout,
    'maintenance.on',
    `maintenance mode was on already (${since}): it stays on${takeOver ? ` until this rollback is verified (${why})` : ''}`,
    dataOf(current),
  );
}

/**
 * Called when a rollback's verification has run (before its incident closes, which records this
 * in the timeline), serialised with the reconcile loop: maintenance that Rewind turned on for this
 * rollback goes off.
 */
export async function maintenanceAfterRollback(
  core: ControllerCore,
  ctx: ManagedApp,
  rollout: RolloutRecord,
  verdict: string,
): Promise<void> {
  const current = (await core.deps.store.apps.get(ctx.spec.name))?.maintenance ?? null;
  if (current?.source !== 'auto' || current.rolloutId !== rollout.id) return;
  await turnOff(core, ctx, rollout, `maintenance mode off (maintenance: auto): the rollback ${verdict}`);
}

/**
 * Runs `fn` (a database restore that overwrites) in maintenance mode under `maintenance: auto`;
 * off again after it, whether it succeeded or not. Called where the reconcile loop is held off.
 */
export async function withMaintenance<T>(
  core: ControllerCore,
  ctx: AppContext,
  why: string,
  fn: () => Promise<T>,
): Promise<T> {
  const managed = core.context(ctx.spec.name);
  const { store } = core.deps;
  if (ctx.spec.maintenance.mode !== 'auto' || (await store.apps.get(ctx.spec.name))?.maintenance) return fn();
  await turnOn(
    core,
    managed,
    await autoState(core, managed, null, why),
    null,
    `maintenance mode on (maintenance: auto): ${why}`,
  );
  try {
    return await fn();
  } finally {
    const current = (await store.apps.get(ctx.spec.name))?.maintenance ?? null;
    if (current?.source === 'auto' && current.rolloutId === null)
      await turnOff(core, managed, null, `maintenance mode off (maintenance: auto): ${why} is over`);
  }
}

/**
 * On each tick: auto maintenance whose owner is over (its rollback finished and verified, or a
 * restore that a dead controller left behind) goes off. Reads nothing while maintenance is off.
 */
export async function endOrphanedMaintenance(
  core: ControllerCore,
  ctx: ManagedApp,
  record: AppRecord | undefined,
): Promise<void> {
  if (record?.maintenance?.source !== 'auto') return;
  // Read again: this tick's rollback may have taken it over.
  const current = (await core.deps.store.apps.get(ctx.spec.name))?.maintenance;
  if (current?.source !== 'auto') return;
  const owner =
    current.rolloutId === null ? undefined : await core.deps.store.rollouts.get(current.rolloutId);
  if (owner && (owner.finishedAt === null || owner.state.verification?.status === 'Pending')) return;
  await turnOff(
    core,
    ctx,
    owner ?? null,
    `maintenance mode off (maintenance: auto): ${owner ? `rollout ${owner.id} ended ${owner.phase}` : 'what turned it on is no longer running'}`,
  );
}

/** Journals the state, puts it in force, then says so; resolves with when it was in force. */
async function turnOn(
  core: ControllerCore,
  ctx: ManagedApp,
  state: MaintenanceState,
  rollout: RolloutRecord | null,
  what: string,
): Promise<number | null> {
  await core.deps.store.apps.setMaintenance(ctx.spec.name, state);
  const inForceAt = await applyNow(core, ctx);
  const page = state.page === null ? 'the default page' : `its page (${Buffer.byteLength(state.page)} bytes)`;
  const reason = state.reason && state.source === 'manual' ? `; reason: ${state.reason}` : '';
  await event(
    core,
    ctx,
    rollout,
    'maintenance.on',
    `${what}: every request is answered 503 with ${page}, Retry-After ${waitWords(state.retryAfterSeconds)}${reason}`,
    dataOf(state),
  );
  return inForceAt;
}

async function turnOff(
  core: ControllerCore,
  ctx: ManagedApp,
  rollout: RolloutRecord | null,
  what: string,
): Promise<number | null> {
  await core.deps.store.apps.setMaintenance(ctx.spec.name, null);
  const inForceAt = await applyNow(core, ctx);
  await event(core, ctx, rollout, 'maintenance.off', `${what}; the app serves again`);
  return inForceAt;
}

async function event(
  core: ControllerCore,
  ctx: ManagedApp,
  rollout: RolloutRecord | null,
  type: EventType,
  message: string,
  data?: unknown,
): Promise<void> {
  const app = ctx.spec.name;
  await core.deps.store.events.append({ app, rolloutId: rollout?.id ?? null, type, message, data });
  core.deps.log.info({ app, ...(rollout && { rollout: rollout.id }), type }, message);
}

const dataOf = (s: MaintenanceState) => ({
  since: s.since,
  retryAfterSeconds: s.retryAfterSeconds,
  page: s.page === null ? 'default' : 'custom',
  reason: s.reason,
  by: s.by,
  source: s.source,
});

/**
 * The app's plan put in force now, with the maintenance just journalled, on the instances the last
 * tick saw if that was under a second ago.
 */
async function applyNow(core: ControllerCore, ctx: ManagedApp): Promise<number | null> {
  const { store } = core.deps;
  const app = ctx.spec.name;
  const active = (await store.rollouts.active(app)) ?? null;
  const recent = ctx.observed && Date.now() - ctx.observed.at < 1000 ? ctx.observed.instances : null;
  const instances = recent ?? (await ctx.providers.runtime.list(app));
  return (await applyRoutes(store, ctx, active, instances)).inForceAt ?? null;
}

/** Maintenance that Rewind turns on: rewind.yaml's page (the default one if it cannot be read). */
async function autoState(
  core: ControllerCore,
  ctx: ManagedApp,
  rolloutId: string | null,
  why: string,
): Promise<MaintenanceState> {
  const page = await configuredPage(ctx).catch((err: Error) => {
    core.deps.log.warn({ app: ctx.spec.name }, `${err.message}; the default page serves instead`);
    return null;
  });
  return {
    since: Date.now(),
    retryAfterSeconds: Math.round(ctx.spec.maintenance.retryAfter / 1000),
    page,
    reason: why,
    by: 'rewind',
    source: 'auto',
    rolloutId,
  };
}

/** rewind.yaml's maintenance.page, read now; null when none is configured. */
async function configuredPage(ctx: AppContext): Promise<string | null> {
  const file = ctx.spec.maintenance.page;
  if (file === undefined) return null;
  const path = resolve(ctx.baseDir, file);
  let page: string;
  try {
    page = await readFile(path, 'utf8');
  } catch (err) {
    throw new RewindError(
      'VALIDATION_FAILED',
      `maintenance.page: cannot read ${path} (${(err as NodeJS.ErrnoException).code}); fix the path in rewind.yaml, or give a page with --page`,
      { field: 'maintenance.page' },
    );
  }
  const problem = pageProblem(page);
  if (problem)
    throw new RewindError('VALIDATION_FAILED', `maintenance.page: ${path}: ${problem}`, {
      field: 'maintenance.page',
    });
  return page;
}
