// Retiring what nothing needs any more: the processes of a unit that is not stable, not rolling
// and not kept warm are drained (the router says what is still in flight to it) and stopped once
// idle or after the app's drainTimeout, whichever comes first.
import { rolloutSettings } from '../../spec/app-spec.ts';
import type { Store } from '../../store/types.ts';
import { unitOf } from '../revisions/revision-spec.ts';
import type { ManagedApp } from './app-context.ts';
import type { RoutesObserved } from './traffic-plan.ts';

/** Drain and stop the processes of units that nothing needs: not stable, not rolling, not warm. */
export async function retire(
  store: Store,
  ctx: ManagedApp,
  observed: Pick<RoutesObserved, 'keep' | 'instances'>,
): Promise<void> {
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
