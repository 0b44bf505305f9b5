// What the API shows of an app: its status (GET /api/v1/apps) and its detail (GET
// /api/v1/apps/{app}, and the dashboard's live stream), built in one place so both agree.
import type { AppDetail, AppStatus, Maintenance } from '../api/responses.ts';
import { resolveRules } from '../spec/analysis-spec.ts';
import type { MaintenanceState } from '../spec/maintenance.ts';
import type { AppServices } from './app-services.ts';
import { lastProven } from './routes/drill-routes.ts';

export interface AppViews {
  status(name: string): Promise<AppStatus>;
  detail(name: string): Promise<AppDetail>;
}

/** Maintenance mode as the API shows it: the page is named, not sent. */
export function maintenanceView(state: MaintenanceState | null): Maintenance | null {
  if (state === null) return null;
  const { since, retryAfterSeconds, reason, by, source, rolloutId } = state;
  return {
    since,
    retryAfterSeconds,
    page: state.page === null ? 'default' : 'custom',
    reason,
    by,
    source,
    rolloutId,
  };
}

export function appViews(deps: Pick<AppServices, 'controller' | 'store' | 'routes'>): AppViews {
  const { controller, store } = deps;
  const status = async (name: string): Promise<AppStatus> => {
    const ctx = controller.context(name);
    const record = await store.apps.get(name);
    const active = (await store.rollouts.active(name)) ?? null;
    const stable =
      record?.stableRevision != null ? await store.revisions.get(name, record.stableRevision) : undefined;
    return {
      name,
      listen: `${ctx.spec.listen.host}:${ctx.spec.listen.port}`,
      stableRevision: record?.stableRevision ?? null,
      stableVersion: stable?.version ?? null,
      activeRollout: active,
      analysis: controller.analysisStatus(active),
      watch: await controller.watchStatus(name),
      steadyWatch: await controller.steadyWatchStatus(name),
      lastProvenDrill: await lastProven(store, name),
      maintenance: maintenanceView(record?.maintenance ?? null),
    };
  };
  return {
    status,
    async detail(name) {
      const head = await status(name);
      const table = await deps.routes(name).catch(() => undefined);
      const traffic = (table?.backends ?? []).map((b) => ({
        revision: b.revision,
        weight: b.weight,
        upstreams: b.upstreams.length,
      }));
      const rules = resolveRules(controller.context(name).spec.analysis).map(({ for: forMs, ...rule }) => ({
        ...rule,
        forMs,
      }));
      return { ...head, traffic, instances: await controller.instances(name), rules };
    },
  };
}
