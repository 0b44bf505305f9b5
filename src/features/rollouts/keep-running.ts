// Starting again what should run and does not: the stable revision's instances when they are gone,
// and after an agent restart the other units still needed that died with it.
import type { Instance } from '../../providers/runtime.ts';
import type { RevisionRecord } from '../../store/types.ts';
import { parseRevisionSpec, unitOf } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import type { ControllerCore } from './controller-core.ts';

/** The stable revision's processes, if they are gone (the agent restarted), are started again. */
export async function ensureStableRunning(
  core: ControllerCore,
  ctx: ManagedApp,
  instances: readonly Instance[],
): Promise<void> {
  const { store } = core.deps;
  const stable = (await store.apps.get(ctx.spec.name))?.stableRevision;
  if (stable == null) return;
  const rev = await store.revisions.get(ctx.spec.name, stable);
  if (rev) await ensureRunning(core, ctx, rev, instances, 'starting a stable instance that is gone');
}

/**
 * After an agent restart: the other revisions still needed (a canary and the one it replaces,
 * a warm previous revision) that were up when the agent died are started again, once. After a
 * takeover from another leader (restoreKept): every revision still needed, once.
 */
export async function restoreLost(core: ControllerCore, ctx: ManagedApp, keep: Set<number>): Promise<void> {
  const lost = ctx.lostWithAgent;
  const all = ctx.restoreKept === true;
  if (!lost && !all) return;
  const units = all ? new Set(keep) : new Set(lost!.map((i) => i.revision).filter((unit) => keep.has(unit)));
  if (units.size > 0) {
    // Fresh: the stable revision's may have just been started.
    const instances = await ctx.providers.runtime.list(ctx.spec.name);
    const revisions = await core.deps.store.revisions.list(ctx.spec.name, 200);
    for (const unit of units) {
      // The newest revision of a unit carries the spec its processes run.
      const rev = revisions.find((r) => unitOf(r) === unit);
      if (rev)
        await ensureRunning(
          core,
          ctx,
          rev,
          instances,
          all ? 'starting an instance the previous leader ran' : 'starting an instance lost with the agent',
        );
    }
  }
  ctx.lostWithAgent = undefined;
  ctx.restoreKept = false;
}

/** Starts each instance of `rev` that `instances` does not show up (or starting). */
async function ensureRunning(
  core: ControllerCore,
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
    core.deps.log.info({ app, revision: rev.number, index }, why);
    await runtime.start({
      app,
      revision: unit,
      index,
      command: spec.command,
      cwd: spec.cwd,
      env: core.envOf(app, spec),
      stopTimeoutMs: spec.stopTimeoutMs,
      version: spec.version,
    });
  }
}

/** The instances that were up or on their way up. */
export function upInstances(instances: readonly Instance[] | undefined): Instance[] {
  return (instances ?? []).filter(
    (i) => i.phase !== 'Stopped' && i.phase !== 'Stopping' && i.phase !== 'Failed',
  );
}
